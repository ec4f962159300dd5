// Models whose inputs have symbolic dims (dim_param), loaded without inputShapes: each run binds
// the dims from its feeds and a shape variant serves that binding (api/shape_variants.ts): one
// symbolic program for every binding its guards admit where the model's ops allow
// (api/symbolic_variant.ts), else a program per binding, inspect().symbolic saying which and why. Models
// written here as exporters write them, an MLP [batch, 64], an attention block [batch, seq, 16]
// whose reshapes go through Shape → Gather → Concat → Reshape, and a decoder's positions
// (CumSum of the mask) and causal mask (Range, Expand to the batch), are checked against plain
// float64 JavaScript at sizes 1, 7, 63 and 1000 (vector tails); PyTorch's own dynamic exports
// against its saved outputs; then the bounds
// (least recently used variants evicted, their programs disposed, a run in flight kept) and the
// failure paths (sizes one dim_param gets differently, ranks, pinned shapes, zero sizes, dispose).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { NDArray } from '../src/graph/ndarray.js';
import { mulberry32 } from '../src/graph/random.js';
import { loadOnnx } from '../src/api/load_onnx.js';
import { OnnxInputError, OnnxModelError, OnnxUnsupportedError } from '../src/onnx/errors.js';
import { counters } from '../src/observe/counters.js';
import { openCache } from '../src/cache/open_cache.js';
import { listEntryFiles } from '../src/cache/layout.js';
import { readNpy } from '../src/onnx/npy.js';
import { AT, F, I64, model, vi } from './onnx_writer.js';

const FIX = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/onnx');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-onnx-dynamic-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const cacheDir = path.join(tmp, 'cache');
const opts = { cacheDir, workers: 0 };

function randoms(n: number, seed: number, scale = 1): number[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

function input(shape: number[], seed: number): NDArray {
  return NDArray.from(Float32Array.from(randoms(shape.reduce((a, b) => a * b, 1), seed)), shape);
}

function assertNear(got: ArrayLike<number>, want: readonly number[], what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-5 + 1e-4 * Math.abs(want[i]!), `${what}: element ${i}: ${got[i]} vs ${want[i]}`);
}

/** y = x·W (x [rows, k], W [k, n] row-major), in float64. */
function matmul(x: ArrayLike<number>, w: readonly number[], rows: number, k: number, n: number): number[] {
  const y = new Array<number>(rows * n).fill(0);
  for (let r = 0; r < rows; r++) for (let j = 0; j < k; j++) for (let c = 0; c < n; c++) y[r * n + c]! += x[r * k + j]! * w[j * n + c]!;
  return y;
}

// --- the MLP: x [batch, 64] → MatMul 64×32, Add, Relu → MatMul 32×8, Add → y [batch, 8] ---

const W1 = randoms(64 * 32, 11, 0.2);
const B1 = randoms(32, 12);
const W2 = randoms(32 * 8, 13, 0.3);
const B2 = randoms(8, 14);

const mlpBytes = model({
  nodes: [
    { op: 'MatMul', inputs: ['x', 'w1'], outputs: ['h0'] },
    { op: 'Add', inputs: ['h0', 'b1'], outputs: ['h1'] },
    { op: 'Relu', inputs: ['h1'], outputs: ['h'] },
    { op: 'MatMul', inputs: ['h', 'w2'], outputs: ['y0'] },
    { op: 'Add', inputs: ['y0', 'b2'], outputs: ['y'] },
  ],
  inputs: [vi('x', F, ['batch', 64])],
  outputs: [vi('y', F, ['batch', 8])],
  initializers: [
    { name: 'w1', dims: [64, 32], dataType: F, floatData: W1 },
    { name: 'b1', dims: [32], dataType: F, floatData: B1 },
    { name: 'w2', dims: [32, 8], dataType: F, floatData: W2 },
    { name: 'b2', dims: [8], dataType: F, floatData: B2 },
  ],
});
const mlpFile = path.join(tmp, 'mlp_batch.onnx');
fs.writeFileSync(mlpFile, mlpBytes);

function mlpReference(x: NDArray): number[] {
  const rows = x.shape[0]!;
  const f = (v: number) => Math.fround(v);
  const h = matmul(Array.from(x.toTypedArraySync() as Float32Array), W1.map(f), rows, 64, 32).map((v, i) => Math.max(0, v + f(B1[i % 32]!)));
  return matmul(h, W2.map(f), rows, 32, 8).map((v, i) => v + f(B2[i % 8]!));
}

// --- attention: x [batch, seq, 16], 2 heads of 8, reshapes against Shape(x) as exporters write them ---

const D = 16;
const H = 2;
const DH = 8;
const WQ = randoms(D * D, 21, 0.3);
const WK = randoms(D * D, 22, 0.3);
const WV = randoms(D * D, 23, 0.3);

const attentionBytes = model({
  nodes: [
    { op: 'Shape', inputs: ['x'], outputs: ['sx'] },
    { op: 'Gather', inputs: ['sx', 'i0'], outputs: ['b'], attrs: [{ name: 'axis', i: 0, type: AT.INT }] },
    { op: 'Gather', inputs: ['sx', 'i1'], outputs: ['s'], attrs: [{ name: 'axis', i: 0, type: AT.INT }] },
    { op: 'Unsqueeze', inputs: ['b', 'ax0'], outputs: ['b1'] },
    { op: 'Unsqueeze', inputs: ['s', 'ax0'], outputs: ['s1'] },
    { op: 'Concat', inputs: ['b1', 's1', 'heads'], outputs: ['shape4'], attrs: [{ name: 'axis', i: 0, type: AT.INT }] },
    { op: 'Concat', inputs: ['b1', 's1', 'width'], outputs: ['shape3'], attrs: [{ name: 'axis', i: 0, type: AT.INT }] },
    { op: 'MatMul', inputs: ['x', 'wq'], outputs: ['q'] },
    { op: 'MatMul', inputs: ['x', 'wk'], outputs: ['k'] },
    { op: 'MatMul', inputs: ['x', 'wv'], outputs: ['v'] },
    { op: 'Reshape', inputs: ['q', 'shape4'], outputs: ['q4'] },
    { op: 'Reshape', inputs: ['k', 'shape4'], outputs: ['k4'] },
    { op: 'Reshape', inputs: ['v', 'shape4'], outputs: ['v4'] },
    { op: 'Transpose', inputs: ['q4'], outputs: ['qh'], attrs: [{ name: 'perm', ints: [0, 2, 1, 3], type: AT.INTS }] },
    { op: 'Transpose', inputs: ['k4'], outputs: ['kt'], attrs: [{ name: 'perm', ints: [0, 2, 3, 1], type: AT.INTS }] },
    { op: 'Transpose', inputs: ['v4'], outputs: ['vh'], attrs: [{ name: 'perm', ints: [0, 2, 1, 3], type: AT.INTS }] },
    { op: 'MatMul', inputs: ['qh', 'kt'], outputs: ['sc0'] },
    { op: 'Mul', inputs: ['sc0', 'scale'], outputs: ['sc'] },
    { op: 'Softmax', inputs: ['sc'], outputs: ['p'], attrs: [{ name: 'axis', i: -1, type: AT.INT }] },
    { op: 'MatMul', inputs: ['p', 'vh'], outputs: ['o4'] },
    { op: 'Transpose', inputs: ['o4'], outputs: ['o'], attrs: [{ name: 'perm', ints: [0, 2, 1, 3], type: AT.INTS }] },
    { op: 'Reshape', inputs: ['o', 'shape3'], outputs: ['y'] },
  ],
  inputs: [vi('x', F, ['batch', 'seq', D])],
  outputs: [vi('y', F, ['batch', 'seq', D])],
  initializers: [
    { name: 'i0', dims: [], dataType: I64, int64Data: [0] },
    { name: 'i1', dims: [], dataType: I64, int64Data: [1] },
    { name: 'ax0', dims: [1], dataType: I64, int64Data: [0] },
    { name: 'heads', dims: [2], dataType: I64, int64Data: [H, DH] },
    { name: 'width', dims: [1], dataType: I64, int64Data: [D] },
    { name: 'wq', dims: [D, D], dataType: F, floatData: WQ },
    { name: 'wk', dims: [D, D], dataType: F, floatData: WK },
    { name: 'wv', dims: [D, D], dataType: F, floatData: WV },
    { name: 'scale', dims: [], dataType: F, floatData: [1 / Math.sqrt(DH)] },
  ],
});
const attentionFile = path.join(tmp, 'attention_seq.onnx');
fs.writeFileSync(attentionFile, attentionBytes);

function attentionReference(x: NDArray): number[] {
  const [b, s] = [x.shape[0]!, x.shape[1]!];
  const f = (v: number) => Math.fround(v);
  const xs = Array.from(x.toTypedArraySync() as Float32Array);
  const [q, k, v] = [WQ, WK, WV].map((w) => matmul(xs, w.map(f), b * s, D, D));
  const scale = f(1 / Math.sqrt(DH));
  const y = new Array<number>(b * s * D).fill(0);
  for (let n = 0; n < b; n++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < s; i++) {
        const at = (t: number[], r: number, c: number) => t[(n * s + r) * D + h * DH + c]!;
        const scores = Array.from({ length: s }, (_, j) => {
          let dot = 0;
          for (let c = 0; c < DH; c++) dot += at(q!, i, c) * at(k!, j, c);
          return dot * scale;
        });
        const top = Math.max(...scores);
        const e = scores.map((z) => Math.exp(z - top));
        const sum = e.reduce((a, z) => a + z, 0);
        for (let c = 0; c < DH; c++) y[(n * s + i) * D + h * DH + c] = e.reduce((acc, w, j) => acc + (w / sum) * at(v!, j, c), 0);
      }
    }
  }
  return y;
}

// --- positions and a causal mask as decoders export them: ids and mask [batch, seq] (int64),
// position ids = CumSum(mask) − 1 gathered from a table, a causal mask from Range(0, seq) and
// LessOrEqual, Expand-ed to [batch, seq, seq] through a Shape → Gather → Concat target ---

const V = 11;
const P = 64;
const E = 8;
const EMB = randoms(V * E, 31);
const POS = randoms(P * E, 32, 0.5);

const decoderBytes = model({
  nodes: [
    { op: 'Gather', inputs: ['emb', 'ids'], outputs: ['tok'], attrs: [{ name: 'axis', i: 0, type: AT.INT }] },
    { op: 'CumSum', inputs: ['mask', 'one_axis'], outputs: ['cs'] },
    { op: 'Sub', inputs: ['cs', 'one'], outputs: ['pos_ids'] },
    { op: 'Gather', inputs: ['pos', 'pos_ids'], outputs: ['pe'], attrs: [{ name: 'axis', i: 0, type: AT.INT }] },
    { op: 'Add', inputs: ['tok', 'pe'], outputs: ['h'] },
    { op: 'Shape', inputs: ['ids'], outputs: ['sh'] },
    { op: 'Gather', inputs: ['sh', 'i0'], outputs: ['b'], attrs: [{ name: 'axis', i: 0, type: AT.INT }] },
    { op: 'Gather', inputs: ['sh', 'i1'], outputs: ['s'], attrs: [{ name: 'axis', i: 0, type: AT.INT }] },
    { op: 'Range', inputs: ['zero', 's', 'one'], outputs: ['r'] },
    { op: 'Unsqueeze', inputs: ['r', 'ax1'], outputs: ['rows'] },
    { op: 'Unsqueeze', inputs: ['r', 'ax0'], outputs: ['cols'] },
    { op: 'LessOrEqual', inputs: ['cols', 'rows'], outputs: ['causal'] },
    { op: 'Unsqueeze', inputs: ['b', 'ax0'], outputs: ['b1'] },
    { op: 'Unsqueeze', inputs: ['s', 'ax0'], outputs: ['s1'] },
    { op: 'Concat', inputs: ['b1', 's1', 's1'], outputs: ['mshape'], attrs: [{ name: 'axis', i: 0, type: AT.INT }] },
    { op: 'Expand', inputs: ['causal', 'mshape'], outputs: ['causal3'] },
    { op: 'Transpose', inputs: ['h'], outputs: ['ht'], attrs: [{ name: 'perm', ints: [0, 2, 1], type: AT.INTS }] },
    { op: 'MatMul', inputs: ['h', 'ht'], outputs: ['scores'] },
    { op: 'Where', inputs: ['causal3', 'scores', 'neg'], outputs: ['masked'] },
    { op: 'Softmax', inputs: ['masked'], outputs: ['p'], attrs: [{ name: 'axis', i: -1, type: AT.INT }] },
    { op: 'MatMul', inputs: ['p', 'h'], outputs: ['y'] },
  ],
  inputs: [vi('ids', I64, ['batch', 'seq']), vi('mask', I64, ['batch', 'seq'])],
  outputs: [vi('y', F, ['batch', 'seq', E])],
  initializers: [
    { name: 'emb', dims: [V, E], dataType: F, floatData: EMB },
    { name: 'pos', dims: [P, E], dataType: F, floatData: POS },
    { name: 'one_axis', dims: [], dataType: I64, int64Data: [1] },
    { name: 'one', dims: [], dataType: I64, int64Data: [1] },
    { name: 'zero', dims: [], dataType: I64, int64Data: [0] },
    { name: 'i0', dims: [], dataType: I64, int64Data: [0] },
    { name: 'i1', dims: [], dataType: I64, int64Data: [1] },
    { name: 'ax0', dims: [1], dataType: I64, int64Data: [0] },
    { name: 'ax1', dims: [1], dataType: I64, int64Data: [1] },
    { name: 'neg', dims: [], dataType: F, floatData: [-1e9] },
  ],
  opset: 17,
});
const decoderFile = path.join(tmp, 'decoder_positions.onnx');
fs.writeFileSync(decoderFile, decoderBytes);

/** ids in [0, V), a mask of ones then zeros (right padding: row n keeps seq − n tokens, at least 1). */
function decoderFeeds(b: number, s: number, seed: number): { ids: NDArray; mask: NDArray } {
  const r = mulberry32(seed);
  const ids = Array.from({ length: b * s }, () => Math.floor(r() * V));
  const mask = Array.from({ length: b * s }, (_, k) => (k % s < Math.max(1, s - Math.floor(k / s)) ? 1 : 0));
  const i64 = (v: number[]) => NDArray.from(BigInt64Array.from(v.map(BigInt)), [b, s], { dtype: 'int64' });
  return { ids: i64(ids), mask: i64(mask) };
}

function decoderReference(f: { ids: NDArray; mask: NDArray }): number[] {
  const [b, s] = [f.ids.shape[0]!, f.ids.shape[1]!];
  const ids = Array.from(f.ids.toTypedArraySync() as BigInt64Array, Number);
  const mask = Array.from(f.mask.toTypedArraySync() as BigInt64Array, Number);
  const fr = (v: number) => Math.fround(v);
  const h: number[] = [];
  for (let n = 0; n < b; n++) {
    let cs = 0;
    for (let i = 0; i < s; i++) {
      cs += mask[n * s + i]!;
      // CumSum − 1: a padded position repeats the last real one's (every row starts with a real token).
      const p = cs - 1;
      for (let c = 0; c < E; c++) h.push(fr(fr(EMB[ids[n * s + i]! * E + c]!) + fr(POS[p * E + c]!)));
    }
  }
  const y: number[] = [];
  for (let n = 0; n < b; n++) {
    for (let i = 0; i < s; i++) {
      const row = (k: number) => h.slice((n * s + k) * E, (n * s + k + 1) * E);
      const sc = Array.from({ length: s }, (_, j) => (j <= i ? row(i).reduce((a, v, c) => a + v * row(j)[c]!, 0) : -1e9));
      const top = Math.max(...sc);
      const e = sc.map((z) => Math.exp(z - top));
      const sum = e.reduce((a, z) => a + z, 0);
      for (let c = 0; c < E; c++) y.push(e.reduce((a, w, j) => a + (w / sum) * row(j)[c]!, 0));
    }
  }
  return y;
}

test('positions from CumSum(mask), a causal mask from Range and Expand to the batch: two inputs sharing batch and seq, every size right', async () => {
  const m = loadOnnx(decoderFile, opts);
  assert.deepEqual(m.inspect().symbolicDims, ['batch', 'seq']);
  for (const [k, [b, s]] of [[1, 1], [2, 7], [3, 5], [1, 63]].entries()) {
    const f = decoderFeeds(b!, s!, 800 + k);
    const { y } = await m.run(f);
    assert.deepEqual(y!.shape, [b, s, E]);
    assertNear((await y!.toTypedArray()) as Float32Array, decoderReference(f), `batch ${b}, seq ${s}`);
  }
  // The mask must share the ids' sizes.
  const f = decoderFeeds(2, 7, 1);
  await assert.rejects(m.run({ ids: f.ids, mask: decoderFeeds(2, 6, 1).mask }), /input 'mask' dim 1 is 'seq' = 6, but input 'ids' dim 1 gave 'seq' = 7/);
  // The embedding's Gather, CumSum and the Range-sized causal mask are symbolic: (1, 1) makes the
  // program (built at hints 7 and 11: a size 1 is a symbol too), which serves every later size.
  assert.deepEqual(m.inspect().symbolic, { path: 'symbolic', guardFailures: 0 });
  assert.equal(m.inspect().shapeVariants, 1);
  m.dispose();
});

test('an MLP [batch, 64] loads without inputShapes (nothing built) and runs batches 7, 63, 1000 on ONE symbolic program (one compile), then batch 1 on it too, and an empty batch, which its guard s0 >= 1 refuses, on a per-shape variant: each right', async () => {
  const c0 = counters();
  const m = loadOnnx(mlpFile, { ...opts, cacheDir: path.join(tmp, 'mlp_symbolic') });
  assert.equal(counters().onnx_graph_builds, c0.onnx_graph_builds, 'no sizes at load: nothing to build yet');
  assert.deepEqual(m.inputs.map((i) => [i.name, i.dims, i.shape]), [['x', ['batch', 64], [-1, 64]]]);
  assert.deepEqual(m.inspect().symbolicDims, ['batch']);
  assert.deepEqual(m.inspect().symbolic, { path: 'untried', guardFailures: 0 });
  assert.match(m.describeInputs(), /x: float32\[batch,64\]/);
  const compiles = () => counters().graph_cache_misses + counters().graph_cache_hits;
  const before = compiles();
  for (const [k, batch] of [7, 63, 1000].entries()) {
    const x = input([batch, 64], 100 + k);
    const { y } = await m.run({ x });
    assert.deepEqual(y!.shape, [batch, 8]);
    assertNear((await y!.toTypedArray()) as Float32Array, mlpReference(x), `batch ${batch}`);
  }
  const c1 = counters();
  assert.equal(compiles() - before, 1, 'one compile serves 7, 63 and 1000');
  assert.equal(c1.symbolic_programs - c0.symbolic_programs, 1);
  // Built at 7 (the hints) and once more at other sizes, the check that the program does not depend on them.
  assert.equal(c1.onnx_graph_builds - c0.onnx_graph_builds, 2);
  assert.equal(c1.shape_variant_builds - c0.shape_variant_builds, 1);
  assert.equal(c1.shape_variant_hits - c0.shape_variant_hits, 2);
  assert.deepEqual(m.inspect().symbolic, { path: 'symbolic', guardFailures: 0 });
  assert.equal(m.inspect().shapeVariants, 1);
  // Batch 1: the symbolic program serves it (a dim_param is never broadcast by its 1: graph/sym.ts), nothing built or compiled.
  const x1 = input([1, 64], 150);
  const { y: y1 } = await m.run({ x: x1 });
  assertNear((await y1!.toTypedArray()) as Float32Array, mlpReference(x1), 'batch 1');
  const c15 = counters();
  assert.deepEqual([c15.guard_failures - c1.guard_failures, c15.shape_variant_builds - c1.shape_variant_builds, c15.onnx_graph_builds - c1.onnx_graph_builds, compiles() - before], [0, 0, 0, 1]);
  // An empty batch: the guard s0 >= 1 refuses it; a per-shape variant serves it.
  const { y: y0 } = await m.run({ x: input([0, 64], 151) });
  assert.deepEqual(y0!.shape, [0, 8]);
  const c2 = counters();
  assert.equal(c2.guard_failures - c1.guard_failures, 1);
  assert.equal(c2.shape_variant_builds - c1.shape_variant_builds, 1);
  const status = m.inspect().symbolic!;
  assert.equal(status.path, 'symbolic');
  assert.equal(status.guardFailures, 1);
  assert.match(status.lastGuardFailure!, /^batch=0: sizes s0=0 break the program's guard s0 >= 1/);
  // Batch 7 again, on new data, and a new batch 2: the symbolic program serves both, nothing built or compiled.
  for (const [k, batch] of [7, 2].entries()) {
    const x = input([batch, 64], 200 + k);
    const { y } = await m.run({ x });
    assertNear((await y!.toTypedArray()) as Float32Array, mlpReference(x), `batch ${batch} again`);
  }
  const c3 = counters();
  assert.equal(c3.shape_variant_hits - c2.shape_variant_hits, 2);
  assert.equal(c3.onnx_graph_builds, c2.onnx_graph_builds);
  assert.equal(c3.graph_cache_misses + c3.graph_cache_hits, c2.graph_cache_misses + c2.graph_cache_hits, 'no compile');
  assert.equal(m.inspect().shapeVariants, 2);
  m.dispose();
});

test('loadOnnx({ dynamic: false }): one variant per batch (1, 7, 63, 1000), each right, a repeat a hit; a bad dynamic is a TypeError', async () => {
  const c0 = counters();
  const m = loadOnnx(mlpFile, { ...opts, dynamic: false });
  for (const [k, batch] of [1, 7, 63, 1000].entries()) {
    const x = input([batch, 64], 100 + k);
    const { y } = await m.run({ x });
    assertNear((await y!.toTypedArray()) as Float32Array, mlpReference(x), `batch ${batch}`);
  }
  const c1 = counters();
  assert.equal(c1.onnx_graph_builds - c0.onnx_graph_builds, 4);
  assert.equal(c1.shape_variant_builds - c0.shape_variant_builds, 4);
  assert.equal(c1.symbolic_programs, c0.symbolic_programs);
  assert.deepEqual(m.inspect().symbolic, { path: 'per-shape', reason: 'loadOnnx option dynamic: false', guardFailures: 0 });
  const x = input([7, 64], 200);
  const { y } = await m.run({ x });
  assertNear((await y!.toTypedArray()) as Float32Array, mlpReference(x), 'batch 7 again');
  const c2 = counters();
  assert.equal(c2.shape_variant_hits - c1.shape_variant_hits, 1);
  assert.equal(c2.graph_cache_misses + c2.graph_cache_hits, c1.graph_cache_misses + c1.graph_cache_hits, 'no compile');
  m.dispose();
  assert.throws(() => loadOnnx(mlpFile, { ...opts, dynamic: 'yes' as unknown as boolean }), (e: Error) => e instanceof TypeError && /dynamic must be true or false, got yes/.test(e.message));
});

// y = x · sqrt(seq), the size read through Shape → Gather → Cast → Sqrt: float arithmetic on a
// size is folded at load (onnx/sym_fold.ts follows sizes, not float math), the graph holds the
// hint's value as a number, so the build at other sizes differs and the model runs per shape.
// (x · seq alone, the size itself as data, is computed per call: symbolic, tested below.)
const seqScale = (sqrt: boolean) =>
  model({
    nodes: [
      { op: 'Shape', inputs: ['x'], outputs: ['sx'] },
      { op: 'Gather', inputs: ['sx', 'i1'], outputs: ['s'], attrs: [{ name: 'axis', i: 0, type: AT.INT }] },
      { op: 'Cast', inputs: ['s'], outputs: sqrt ? ['sf0'] : ['sf'], attrs: [{ name: 'to', i: F, type: AT.INT }] },
      ...(sqrt ? [{ op: 'Sqrt', inputs: ['sf0'], outputs: ['sf'] }] : []),
      { op: 'Mul', inputs: ['x', 'sf'], outputs: ['y'] },
    ],
    inputs: [vi('x', F, ['batch', 'seq'])],
    outputs: [vi('y', F, ['batch', 'seq'])],
    initializers: [{ name: 'i1', dims: [], dataType: I64, int64Data: [1] }],
  });
const seqScaleFile = path.join(tmp, 'seq_scale.onnx');
fs.writeFileSync(seqScaleFile, seqScale(true));
const seqTimesFile = path.join(tmp, 'seq_times.onnx');
fs.writeFileSync(seqTimesFile, seqScale(false));

test('a size as data (x · seq through Shape → Gather → Cast) is computed per call: one symbolic program, right at every size', async () => {
  const m = loadOnnx(seqTimesFile, { ...opts, cacheDir: path.join(tmp, 'seq_times') });
  const c0 = counters();
  for (const [b, sq] of [[2, 3], [4, 9], [3, 300]]) {
    const x = input([b!, sq!], b! * 10 + sq!);
    const { y } = await m.run({ x });
    assertNear((await y!.toTypedArray()) as Float32Array, Array.from(x.toTypedArraySync() as Float32Array, (v) => v * sq!), `batch ${b}, seq ${sq}`);
  }
  assert.deepEqual(m.inspect().symbolic, { path: 'symbolic', guardFailures: 0 });
  assert.equal(counters().symbolic_programs - c0.symbolic_programs, 1);
  assert.equal(counters().shape_variant_builds - c0.shape_variant_builds, 1);
  m.dispose();
});

test('a graph that uses a size as a number (x · sqrt(seq) through Shape → Gather → Cast → Sqrt) is refused as symbolic, the reason reported, and runs per shape, right at every size', async () => {
  const m = loadOnnx(seqScaleFile, opts);
  const c0 = counters();
  for (const [b, sq] of [[2, 3], [4, 9], [3, 3]]) {
    const x = input([b!, sq!], b! * 10 + sq!);
    const { y } = await m.run({ x });
    assertNear((await y!.toTypedArray()) as Float32Array, Array.from(x.toTypedArraySync() as Float32Array, (v) => v * Math.fround(Math.sqrt(sq!))), `batch ${b}, seq ${sq}`);
  }
  const c1 = counters();
  const status = m.inspect().symbolic!;
  assert.equal(status.path, 'per-shape');
  assert.match(status.reason!, /the program built at other sizes differs .*something read a size's value/);
  assert.equal(c1.onnx_symbolic_refusals - c0.onnx_symbolic_refusals, 1, 'tried once, not again');
  assert.equal(c1.shape_variant_builds - c0.shape_variant_builds, 3);
  assert.equal(c1.symbolic_programs, c0.symbolic_programs);
  m.dispose();
});

test('an attention block [batch, seq, 16] with Shape → Gather → Concat → Reshape: every (batch, seq) right, the shape chain folded per binding', async () => {
  const m = loadOnnx(attentionFile, opts);
  assert.deepEqual(m.inspect().symbolicDims, ['batch', 'seq']);
  for (const [k, [b, s]] of [[1, 1], [2, 7], [3, 5], [1, 63]].entries()) {
    const x = input([b!, s!, D], 300 + k);
    const { y } = await m.run({ x });
    assert.deepEqual(y!.shape, [b, s, D]);
    assertNear((await y!.toTypedArray()) as Float32Array, attentionReference(x), `batch ${b}, seq ${s}`);
    // Only the data path remains: the shape arithmetic folded at these sizes.
    const ints = m.graphFor({ x })!.traced.graph.nodes.filter((n) => n.dtype === 'int64' || n.dtype === 'int32');
    assert.deepEqual(ints.map((n) => n.op), []);
  }
  // (1, 1) makes the symbolic program (built at hints 7 and 11, one per symbol: symbolic_compile.ts), which serves the rest.
  const status = m.inspect().symbolic!;
  assert.equal(status.path, 'symbolic');
  assert.equal(status.guardFailures, 0);
  assert.equal(m.inspect().shapeVariants, 1);
  m.dispose();
});

test('a first run of batch 1 makes the symbolic program (built at a hint of 7), which serves every later size; an empty batch runs per shape and does not start it: one compile, each run right', async () => {
  const m = loadOnnx(attentionFile, { ...opts, cacheDir: path.join(tmp, 'attention_batch1') });
  const compiles = () => counters().graph_cache_misses + counters().graph_cache_hits;
  const { y: empty } = await m.run({ x: input([0, 5, D], 899) });
  assert.deepEqual(empty!.shape, [0, 5, D]);
  assert.deepEqual(m.inspect().symbolic, { path: 'untried', guardFailures: 0 });
  const c0 = counters();
  const before = compiles();
  for (const [k, [b, sq]] of [[1, 7], [1, 12], [2, 5], [3, 9], [1, 7], [4, 2], [1, 1]].entries()) {
    const x = input([b!, sq!, D], 900 + k);
    const { y } = await m.run({ x });
    assert.deepEqual(y!.shape, [b, sq, D]);
    assertNear((await y!.toTypedArray()) as Float32Array, attentionReference(x), `batch ${b}, seq ${sq}`);
  }
  const c1 = counters();
  assert.equal(c1.symbolic_programs - c0.symbolic_programs, 1);
  assert.equal(compiles() - before, 1);
  assert.equal(c1.shape_variant_builds - c0.shape_variant_builds, 1);
  assert.deepEqual(m.inspect().symbolic, { path: 'symbolic', guardFailures: 0 });
  m.dispose();
});

test('a warm start of a dynamic model run per shape: a second load runs a size seen before from the stored conversion, building nothing', async () => {
  const warmDir = path.join(tmp, 'warm');
  const x = input([5, 64], 400);
  const first = loadOnnx(mlpFile, { cacheDir: warmDir, workers: 0, dynamic: false });
  await first.run({ x });
  first.dispose();
  const c0 = counters();
  const again = loadOnnx(mlpFile, { cacheDir: warmDir, workers: 0, dynamic: false });
  const { y } = await again.run({ x });
  assertNear((await y!.toTypedArray()) as Float32Array, mlpReference(x), 'warm batch 5');
  const c1 = counters();
  assert.equal(c1.onnx_graph_builds - c0.onnx_graph_builds, 0);
  assert.equal(c1.onnx_conversion_hits - c0.onnx_conversion_hits, 1);
  // Another size is another conversion: built.
  await again.run({ x: input([6, 64], 401) });
  assert.equal(counters().onnx_graph_builds - c1.onnx_graph_builds, 1);
  again.dispose();
});

test('a warm start of a dynamic model on its symbolic program: a second load builds no graph, takes the program from its stored conversion and the graph cache, compiling nothing', async () => {
  const warmDir = path.join(tmp, 'warm_symbolic');
  const first = loadOnnx(mlpFile, { cacheDir: warmDir, workers: 0 });
  await first.run({ x: input([5, 64], 410) });
  first.dispose();
  const c0 = counters();
  const again = loadOnnx(mlpFile, { cacheDir: warmDir, workers: 0 });
  for (const batch of [9, 5]) {
    const x = input([batch, 64], 420 + batch);
    const { y } = await again.run({ x });
    assertNear((await y!.toTypedArray()) as Float32Array, mlpReference(x), `warm batch ${batch}`);
  }
  const c1 = counters();
  assert.deepEqual([c1.graph_cache_hits - c0.graph_cache_hits, c1.graph_cache_misses - c0.graph_cache_misses, c1.compile_submitted - c0.compile_submitted], [1, 0, 0]);
  assert.equal(c1.onnx_graph_builds - c0.onnx_graph_builds, 0);
  assert.equal(c1.onnx_conversion_hits - c0.onnx_conversion_hits, 1);
  assert.equal(c1.symbolic_programs - c0.symbolic_programs, 1);
  assert.equal(again.inspect().symbolic!.path, 'symbolic');
  again.dispose();
});

/** The stored conversion of the model's symbolic program in a cache directory (one, by its specs). */
function symbolicRecord(dir: string): { key: string; bundle: NonNullable<ReturnType<ReturnType<typeof openCache>['graphs']['getBundle']>> } {
  const { graphs } = openCache({ cacheDir: dir });
  const found = listEntryFiles(dir).flatMap(({ kind, key }) => {
    const bundle = kind === 'graph' ? graphs.getBundle(key) : undefined;
    const plan = bundle?.plan as { kind?: string; specs?: unknown } | undefined;
    return bundle && plan?.kind === 'onnx-conversion' && plan.specs !== undefined ? [{ key, bundle }] : [];
  });
  assert.equal(found.length, 1, 'one stored symbolic conversion');
  return found[0]!;
}

test("a symbolic program's stored conversion without its graph-cache entry: the graph is built at the stored specs (once, no check at other sizes), kernels from the kernel cache, right at two sizes", async () => {
  const dir = path.join(tmp, 'warm_symbolic_rebuild');
  const first = loadOnnx(mlpFile, { cacheDir: dir, workers: 0 });
  await first.run({ x: input([5, 64], 430) });
  first.dispose();
  // The program's graph-cache entry goes (evicted, say); the conversion stays.
  const { graphs } = openCache({ cacheDir: dir });
  const programs = listEntryFiles(dir).filter((e) => e.kind === 'graph' && (graphs.getBundle(e.key)?.kernels.length ?? 0) > 0);
  assert.equal(programs.length, 1);
  fs.rmSync(programs[0]!.path);
  const c0 = counters();
  const again = loadOnnx(mlpFile, { cacheDir: dir, workers: 0 });
  for (const batch of [3, 12]) {
    const x = input([batch, 64], 440 + batch);
    const { y } = await again.run({ x });
    assertNear((await y!.toTypedArray()) as Float32Array, mlpReference(x), `rebuilt, batch ${batch}`);
  }
  const c1 = counters();
  assert.equal(c1.onnx_graph_builds - c0.onnx_graph_builds, 1);
  assert.equal(c1.graph_cache_misses - c0.graph_cache_misses, 1);
  assert.equal(c1.compile_submitted - c0.compile_submitted, 0);
  assert.equal(again.inspect().symbolic!.path, 'symbolic');
  again.dispose();
});

test("a symbolic program's stored conversion, tampered: specs that are not the program's, or a record naming no specs under its key, are corrupt (dropped, counted), the program built again and right", async () => {
  const tamper = async (name: string, edit: (plan: Record<string, unknown>) => void) => {
    const dir = path.join(tmp, `warm_symbolic_${name}`);
    const first = loadOnnx(mlpFile, { cacheDir: dir, workers: 0 });
    await first.run({ x: input([5, 64], 450) });
    first.dispose();
    const { key, bundle } = symbolicRecord(dir);
    edit(bundle.plan as Record<string, unknown>);
    openCache({ cacheDir: dir }).graphs.putBundle(key, bundle);
    const c0 = counters();
    const again = loadOnnx(mlpFile, { cacheDir: dir, workers: 0 });
    const x = input([6, 64], 460);
    const { y } = await again.run({ x });
    assertNear((await y!.toTypedArray()) as Float32Array, mlpReference(x), name);
    const c1 = counters();
    assert.equal(c1.cache_corrupt - c0.cache_corrupt, 1, `${name}: counted corrupt`);
    assert.equal(c1.onnx_graph_builds - c0.onnx_graph_builds, 2, `${name}: built at the hints and at other sizes`);
    assert.equal(again.inspect().symbolic!.path, 'symbolic');
    again.dispose();
  };
  // A symbol name that is no identifier, a spec whose static dim disagrees with its size, no specs at all.
  await tamper('bad_symbol', (p) => ((p.specs as { sym: unknown[] }[])[0]!.sym[0] = 's0; system()'));
  await tamper('bad_static', (p) => ((p.specs as { sym: unknown[] }[])[0]!.sym[1] = 63));
  await tamper('no_specs', (p) => delete p.specs);
});

const pairFile = path.join(tmp, 'pair.onnx');
fs.writeFileSync(
  pairFile,
  model({
    nodes: [{ op: 'Add', inputs: ['a', 'b'], outputs: ['y'] }],
    inputs: [vi('a', F, ['batch', 'seq']), vi('b', F, ['batch', 'seq'])],
    outputs: [vi('y', F, ['batch', 'seq'])],
  }),
);

test('two dim_params are two symbols even when a run gives them equal sizes: [batch, seq] at (3, 3) then (2, 5) and (6, 4) on one program, right', async () => {
  const m = loadOnnx(pairFile, { ...opts, cacheDir: path.join(tmp, 'pair_symbolic') });
  const c0 = counters();
  for (const [k, [b, sq]] of [[3, 3], [2, 5], [6, 4]].entries()) {
    const a = input([b!, sq!], 700 + k);
    const bb = input([b!, sq!], 710 + k);
    const { y } = await m.run({ a, b: bb });
    const av = a.toTypedArraySync() as Float32Array;
    const bv = bb.toTypedArraySync() as Float32Array;
    assertNear((await y!.toTypedArray()) as Float32Array, Array.from(av, (v, i) => v + bv[i]!), `(${b}, ${sq})`);
  }
  const c1 = counters();
  assert.equal(c1.symbolic_programs - c0.symbolic_programs, 1);
  assert.equal(c1.shape_variant_builds - c0.shape_variant_builds, 1);
  assert.equal(c1.guard_failures, c0.guard_failures);
  assert.deepEqual(m.inspect().symbolic, { path: 'symbolic', guardFailures: 0 });
  m.dispose();
});

test('one dim_param sized differently by two inputs, a wrong rank or fixed dim, a wrong dtype: OnnxInputError naming the input, dim, name and sizes', async () => {
  const m = loadOnnx(pairFile, opts);
  await assert.rejects(
    m.run({ a: input([2, 3], 1), b: input([2, 4], 2) }),
    (e: Error) => e instanceof OnnxInputError && /input 'b' dim 1 is 'seq' = 4, but input 'a' dim 1 gave 'seq' = 3/.test(e.message) && e.message.startsWith(pairFile),
  );
  await assert.rejects(m.run({ a: input([5, 3], 1), b: input([2, 3], 2) }), /input 'b' dim 0 is 'batch' = 2, but input 'a' dim 0 gave 'batch' = 5/);
  await assert.rejects(m.run({ a: input([2, 3, 1], 1), b: input([2, 3], 2) }), (e: Error) => e instanceof OnnxInputError && /input 'a' expects float32\[batch,seq\], got float32\[2,3,1\] \(rank 2, got rank 3\)/.test(e.message));
  await assert.rejects(m.run({ a: input([2, 3], 1), b: NDArray.from(new Int32Array(6), [2, 3], { dtype: 'int32' }) }), /input 'b' expects float32\[batch,seq\], got int32\[2,3\]/);
  const mlp = loadOnnx(mlpFile, opts);
  await assert.rejects(mlp.run({ x: input([3, 63], 1) }), (e: Error) => e instanceof OnnxInputError && /input 'x' expects float32\[batch,64\], got float32\[3,63\]$/.test(e.message));
  // Nothing was built for the refused feeds; consistent ones run.
  assert.equal(m.inspect().shapeVariants, 0);
  const a = input([2, 3], 1);
  const b = input([2, 3], 2);
  const { y } = await m.run({ a, b });
  const [av, bv] = [a, b].map((t) => Array.from(t.toTypedArraySync() as Float32Array));
  assertNear((await y!.toTypedArray()) as Float32Array, av!.map((v, i) => Math.fround(v + bv![i]!)), 'a + b');
  m.dispose();
  mlp.dispose();
});

test('inputShapes pins: the graph is built at load, other sizes are refused saying the model was pinned and how to unpin; a pin reaches every input naming the dim', async () => {
  const c0 = counters();
  const pinned = loadOnnx(mlpFile, { ...opts, inputShapes: { x: [3, 64] } });
  assert.equal(counters().onnx_graph_builds - c0.onnx_graph_builds, 1, 'pinned: built at load');
  assert.deepEqual(pinned.inputs[0]!.dims, [3, 64]);
  const x = input([3, 64], 7);
  assertNear((await (await pinned.run({ x })).y!.toTypedArray()) as Float32Array, mlpReference(x), 'pinned batch 3');
  await assert.rejects(
    pinned.run({ x: input([5, 64], 8) }),
    (e: Error) => e instanceof OnnxInputError && /input 'x' expects float32\[3,64\], got float32\[5,64\]; options\.inputShapes pinned the shape of 'x' at load: load the model without inputShapes/.test(e.message),
  );
  pinned.dispose();
  // Pinning a sizes its dims in b too: b of another size is refused at run, as pinned.
  const pair = loadOnnx(pairFile, { ...opts, inputShapes: { a: [2, 3] } });
  assert.deepEqual(pair.inputs.map((i) => i.dims), [[2, 3], [2, 3]]);
  await assert.rejects(pair.run({ a: input([2, 3], 1), b: input([2, 4], 2) }), /input 'b' expects float32\[2,3\], got float32\[2,4\]; options\.inputShapes pinned the shape of 'a', 'b'/);
  pair.dispose();
  // Pins that contradict each other, the declared dims, or are no sizes at all: refused at load.
  assert.throws(() => loadOnnx(pairFile, { ...opts, inputShapes: { a: [2, 3], b: [2, 4] } }), (e: Error) => e instanceof OnnxUnsupportedError && /inputShapes sizes dim 'seq' 3 in input 'a' but 4 in input 'b'/.test(e.message));
  assert.throws(() => loadOnnx(mlpFile, { ...opts, inputShapes: { x: [-1, 64] } }), (e: Error) => e instanceof OnnxUnsupportedError && /inputShapes gives \[-1,64\], which is not a list of sizes/.test(e.message));
  assert.throws(() => loadOnnx(mlpFile, { ...opts, inputShapes: { x: [2, 64, 1] } }), /inputShapes gives \[2,64,1\] but the model declares \[batch,64\]/);
});

test('size 0: taken where the model can (an MLP of no rows), a clear error naming the sizes where it cannot (softmax over no keys)', async () => {
  const mlp = loadOnnx(mlpFile, opts);
  const { y } = await mlp.run({ x: NDArray.from(new Float32Array(0), [0, 64]) });
  assert.deepEqual(y!.shape, [0, 8]);
  mlp.dispose();
  const att = loadOnnx(attentionFile, opts);
  await assert.rejects(
    att.run({ x: NDArray.from(new Float32Array(0), [2, 0, D]) }),
    (e: Error) => e instanceof OnnxModelError && e.message.startsWith(`${attentionFile}: the graph cannot be built for batch=2, seq=0`) && /Softmax/.test(e.message),
  );
  // The failure left nothing behind: other sizes run.
  const x = input([2, 3, D], 9);
  assertNear((await (await att.run({ x })).y!.toTypedArray()) as Float32Array, attentionReference(x), 'after the refused size');
  att.dispose();
});

test('bounded: past maxShapeVariants the least recently used variant is evicted and its program disposed; its size comes back rebuilt and right', async () => {
  const m = loadOnnx(mlpFile, { ...opts, maxShapeVariants: 2, dynamic: false });
  const xs = [1, 2, 3].map((b) => input([b, 64], 500 + b));
  const [p1, p2] = [await m.compile({ x: xs[0]! }), await m.compile({ x: xs[1]! })];
  await m.run({ x: xs[0]! }); // batch 1 is now the most recently used: batch 2 goes first.
  const c0 = counters();
  await m.run({ x: xs[2]! });
  const c1 = counters();
  assert.equal(c1.shape_variant_evictions - c0.shape_variant_evictions, 1);
  assert.equal(m.inspect().shapeVariants, 2);
  await assert.rejects(p2.run([xs[1]!]), /was disposed/);
  assertNear((await (await p1.run([xs[0]!]))[0]!.toTypedArray()) as Float32Array, mlpReference(xs[0]!), 'batch 1 kept');
  // Batch 2 again: built again (the graph and kernel caches make its compile cheap), right.
  const { y } = await m.run({ x: xs[1]! });
  assertNear((await y!.toTypedArray()) as Float32Array, mlpReference(xs[1]!), 'batch 2 rebuilt');
  const c2 = counters();
  assert.equal(c2.shape_variant_builds - c1.shape_variant_builds, 1);
  assert.equal(c2.shape_variant_evictions - c1.shape_variant_evictions, 1, 'batch 1 went this time');
  assert.equal(c2.graph_cache_misses - c1.graph_cache_misses, 0, 'its program came from the graph cache');
  m.dispose();
});

test('KILN_MAX_SHAPE_VARIANTS bounds a model loaded without the option; a bad maxShapeVariants is a TypeError', async () => {
  const saved = process.env.KILN_MAX_SHAPE_VARIANTS;
  process.env.KILN_MAX_SHAPE_VARIANTS = '1';
  try {
    const m = loadOnnx(mlpFile, opts);
    const c0 = counters();
    for (const b of [1, 2, 1]) await m.run({ x: input([b, 64], b) });
    assert.equal(counters().shape_variant_evictions - c0.shape_variant_evictions, 2);
    assert.equal(m.inspect().shapeVariants, 1);
    m.dispose();
  } finally {
    if (saved === undefined) delete process.env.KILN_MAX_SHAPE_VARIANTS;
    else process.env.KILN_MAX_SHAPE_VARIANTS = saved;
  }
  for (const bad of [0, 1.5, -2]) assert.throws(() => loadOnnx(mlpFile, { ...opts, maxShapeVariants: bad }), (e: Error) => e instanceof TypeError && /maxShapeVariants must be an integer ≥ 1/.test(e.message));
});

/** The first `n` entries along dim 0 of an array (the rows of a batch). */
function leading(a: NDArray, n: number): NDArray {
  const per = a.size / a.shape[0]!;
  return NDArray.from((a.toTypedArraySync() as Float32Array).slice(0, n * per), [n, ...a.shape.slice(1)]);
}

test("PyTorch's exports with symbolic batch (and time): each batch of their saved inputs matches PyTorch's rows; a time past the export's mask buffer is refused naming the sizes", async () => {
  // Both are row-wise in the batch: PyTorch's output for the first n rows is the first n rows of its output.
  for (const name of ['mlp_dynamic', 'attention_dynamic']) {
    const x = readNpy(path.join(FIX, `${name}.input.npy`));
    const want = readNpy(path.join(FIX, `${name}.output.npy`));
    const m = loadOnnx(path.join(FIX, `${name}.onnx`), opts);
    assert.equal(m.inputs[0]!.dims[0], 'batch');
    for (const n of [1, x.shape[0]!, 2]) {
      const { y } = await m.run({ x: leading(x, n) });
      assert.deepEqual(y!.shape, [n, ...want.shape.slice(1)]);
      assertNear((await y!.toTypedArray()) as Float32Array, Array.from(leading(want, n).toTypedArraySync() as Float32Array), `${name} batch ${n}`);
    }
    // Both run on one symbolic program from the first run (batch 1, a symbol too) on: the
    // attention's causal mask, an [8,8] buffer sliced to the time, is a symbolic slice guarded to time <= 8.
    assert.deepEqual(m.inspect().symbolic, { path: 'symbolic', guardFailures: 0 });
    m.dispose();
  }
  // attention_dynamic's causal mask is an [8,8] buffer the export slices to the time: 29 cannot be.
  const att = loadOnnx(path.join(FIX, 'attention_dynamic.onnx'), opts);
  await assert.rejects(att.run({ x: input([1, 29, 16], 1) }), (e: Error) => e instanceof OnnxModelError && /the graph cannot be built for batch=1, time=29 .*cannot broadcast \[8,8\]/.test(e.message));
  att.dispose();
});

// (That an evicted variant held by a run is disposed only after the run: test/shape_variants.test.ts.)
test('runs of three sizes at once with room for one variant: each run right, one variant left', async () => {
  const m = loadOnnx(mlpFile, { ...opts, cacheDir: path.join(tmp, 'inflight'), maxShapeVariants: 1 });
  const xs = [4, 5, 6].map((b) => input([b, 64], 600 + b));
  const runs = xs.map((x) => m.run({ x }));
  const outs = await Promise.all(runs);
  for (const [i, o] of outs.entries()) assertNear((await o.y!.toTypedArray()) as Float32Array, mlpReference(xs[i]!), `concurrent batch ${xs[i]!.shape[0]}`);
  assert.equal(m.inspect().shapeVariants, 1);
  m.dispose();
});

test('compile() and graphFor() of a dynamic model need feeds; after dispose() every call says the model was disposed', async () => {
  const m = loadOnnx(attentionFile, opts);
  await assert.rejects(m.compile(), (e: Error) => e instanceof OnnxInputError && /its inputs have symbolic dims \(x: float32\[batch,seq,16\]\), sized by the feeds: pass feeds to compile\(\)/.test(e.message));
  assert.equal(m.graphFor(), undefined);
  const x = input([2, 4, D], 700);
  const program = await m.compile({ x });
  const [y] = await program.run([x]);
  assertNear((await y!.toTypedArray()) as Float32Array, attentionReference(x), 'compiled variant');
  m.dispose();
  const disposed = (e: unknown) => e instanceof OnnxModelError && /this model was disposed: load it again/.test((e as Error).message);
  await assert.rejects(m.run({ x }), disposed);
  await assert.rejects(m.run({ x: input([1, 2, D], 701) }), disposed);
  await assert.rejects(m.compile({ x }), disposed);
  assert.throws(() => m.graphFor({ x }), disposed);
  await assert.rejects(program.run([x]), /was disposed/);
});
