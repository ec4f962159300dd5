// GatherND, ScatterND and ScatterElements through ONNX models, compiled for the test device
// (the CPU; the GPU under npm run test:gpu) and checked against the reference interpreter on
// random data, and the interpreter against NumPy-style implementations written out here (so
// GatherND's decomposition and the scatter reference are checked independently too):
// negative indices, batch_dims, every reduction with duplicate indices, sizes that take the
// multithreaded CPU path, fused producers and consumers, load-time folding, and bad indices
// (a load-time error naming the node when known, no out-of-bounds access at run time).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import onnxProto from 'onnx-proto';

import { IndexRangeError } from '../src/api/index_checks.js';
import { NDArray } from '../src/graph/ndarray.js';
import { interpret } from '../src/graph/interpret.js';
import { numel } from '../src/graph/shape.js';
import { onnxDType } from '../src/onnx/dtypes.js';
import { OnnxModelError } from '../src/onnx/errors.js';
import { loadOnnx } from '../src/api/load_onnx.js';
import { assertMatches, randInt, randn, randu, readBack, testDevice } from './helpers.js';

const { onnx } = onnxProto;
const AT = onnx.AttributeProto.AttributeType;
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-ops-scatter-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

type Attr = { name: string; i?: number; s?: string };
type OnnxNodeSpec = { op: string; inputs: string[]; outputs: string[]; attrs?: Attr[] };
type Reduction = 'none' | 'add' | 'mul' | 'max' | 'min';
const REDUCTIONS: Reduction[] = ['none', 'add', 'mul', 'max', 'min'];

/** A model of `nodes` with graph inputs `inputs` (fed at run time) and initializers `inits`. */
function model(nodes: OnnxNodeSpec[], inputs: Record<string, NDArray>, inits: Record<string, NDArray>, outputs: string[], opset = 18): Uint8Array {
  const vi = (name: string, a: NDArray) => ({ name, type: { tensorType: { elemType: onnxDType(a.dtype), shape: { dim: a.shape.map((d) => ({ dimValue: d })) } } } });
  const m = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: 'g',
      node: nodes.map((n, k) => ({
        opType: n.op, input: n.inputs, output: n.outputs, name: `n${k}`,
        attribute: (n.attrs ?? []).map((a) => (a.s !== undefined ? { name: a.name, s: new TextEncoder().encode(a.s), type: AT.STRING } : { name: a.name, i: a.i, type: AT.INT })),
      })),
      input: Object.entries(inputs).map(([n, a]) => vi(n, a)),
      output: outputs.map((name) => ({ name, type: { tensorType: { elemType: 0 } } })),
      initializer: Object.entries(inits).map(([name, a]) => {
        const t = a.toTypedArraySync();
        return { name, dims: [...a.shape], dataType: onnxDType(a.dtype), rawData: new Uint8Array(t.buffer, t.byteOffset, t.byteLength) };
      }),
    },
  });
  return onnx.ModelProto.encode(m).finish();
}

const load = (bytes: Uint8Array) => loadOnnx(bytes, { cacheDir, workers: 2, device: testDevice });

/** Runs the model, checks every output against the reference interpreter, returns both. */
async function check(bytes: Uint8Array, feeds: Record<string, NDArray>, label: string) {
  const m = load(bytes);
  const outs = await m.run(feeds);
  const built = m.graphFor(feeds)!;
  const refs = interpret(built.traced.graph, [...built.runtimeInputs.map((n) => feeds[n]!), ...built.traced.params]);
  for (const [i, name] of m.outputNames.entries()) await assertMatches(outs[name] as NDArray, refs[i]!, { label: `${label}: ${name}` });
  return { m, outs, refs };
}

const nums = (a: NDArray) => Array.from(a.toTypedArraySync() as ArrayLike<number | bigint>, Number);
const strides = (s: readonly number[]) => s.map((_, d) => numel(s.slice(d + 1)));
const i64 = (data: number[], shape: number[]) => NDArray.from(BigInt64Array.from(data.map(BigInt)), shape);

// ---- NumPy-style implementations (ONNX's reference), independent of kiln's graph -----------
// (An index out of range, an error for ONNX, drops its update here, as kiln defines it.)

function combine(r: Reduction, a: number, b: number): number {
  switch (r) {
    case 'none': return b;
    case 'add': return a + b;
    case 'mul': return a * b + 0; // no -0 among integers
    case 'max': return Math.max(a, b);
    case 'min': return Math.min(a, b);
  }
}

function gatherNDNumpy(data: number[], ds: number[], idx: number[], is: number[], B: number): number[] {
  const k = is[is.length - 1]!;
  const st = strides(ds);
  const slice = numel(ds.slice(B + k));
  const tuples = numel(is.slice(0, -1));
  const perBatch = tuples / numel(is.slice(0, B));
  const out: number[] = [];
  for (let u = 0; u < tuples; u++) {
    const batch = Math.floor(u / perBatch);
    let base = 0;
    // Batch coordinates of tuple u, then its k components.
    let rem = batch;
    for (let d = B - 1; d >= 0; d--) {
      base += (rem % ds[d]!) * st[d]!;
      rem = Math.floor(rem / ds[d]!);
    }
    for (let t = 0; t < k; t++) {
      const v = idx[u * k + t]!;
      base += (v < 0 ? v + ds[B + t]! : v) * st[B + t]!;
    }
    for (let j = 0; j < slice; j++) out.push(data[base + j]!);
  }
  return out;
}

function scatterNDNumpy(data: number[], ds: number[], idx: number[], is: number[], upd: number[], r: Reduction): number[] {
  const out = [...data];
  const k = is[is.length - 1]!;
  const st = strides(ds);
  const slice = numel(ds.slice(k));
  for (let u = 0; u < numel(is.slice(0, -1)); u++) {
    let base = 0;
    let ok = true;
    for (let t = 0; t < k; t++) {
      const v = idx[u * k + t]!;
      ok &&= v >= -ds[t]! && v < ds[t]!;
      base += (v < 0 ? v + ds[t]! : v) * st[t]!;
    }
    if (!ok) continue;
    for (let j = 0; j < slice; j++) out[base + j] = combine(r, out[base + j]!, upd[u * slice + j]!);
  }
  return out;
}

function scatterElementsNumpy(data: number[], ds: number[], idx: number[], is: number[], upd: number[], axis: number, r: Reduction): number[] {
  const out = [...data];
  const st = strides(ds);
  const ist = strides(is);
  for (let i = 0; i < idx.length; i++) {
    if (idx[i]! < -ds[axis]! || idx[i]! >= ds[axis]!) continue;
    let p = 0;
    for (let d = 0; d < is.length; d++) {
      const c = Math.floor(i / ist[d]!) % is[d]!;
      const v = d === axis ? (idx[i]! < 0 ? idx[i]! + ds[axis]! : idx[i]!) : c;
      p += v * st[d]!;
    }
    out[p] = combine(r, out[p]!, upd[i]!);
  }
  return out;
}

function near(got: ArrayLike<number>, want: number[], label: string): void {
  assert.equal(got.length, want.length, label);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-5 + 1e-5 * Math.abs(want[i]!), `${label}: element ${i}: ${got[i]} vs ${want[i]}`);
  }
}

// ---- GatherND -------------------------------------------------------------------------------

test('GatherND: random data, negative indices, k from 1 to rank, batch_dims 0, 1 and 2, float and int data', async () => {
  const ds = [3, 4, 5, 6];
  const cases: { is: number[]; B: number; dtype?: 'int32' }[] = [
    { is: [2, 3, 1], B: 0 },
    { is: [7, 2], B: 0 },
    { is: [5, 4], B: 0, dtype: 'int32' },
    { is: [4], B: 0 },
    { is: [3, 2, 1], B: 1 },
    { is: [3, 4, 2, 2], B: 2 },
    { is: [3, 4, 7, 1], B: 2, dtype: 'int32' },
  ];
  for (const [c, { is, B, dtype }] of cases.entries()) {
    const data = dtype ? randInt(ds, -50, 50, 10 + c) : randn(ds, 10 + c);
    const k = is[is.length - 1]!;
    // Each component in [-dim, dim): negative ones count from the end.
    const dims = Array.from({ length: numel(is) }, (_, i) => ds[B + (i % k)]!);
    const raw = nums(randu([numel(is)], 20 + c));
    const idx = i64(raw.map((r, i) => Math.floor(r * 2 * dims[i]!) - dims[i]!), is);
    const bytes = model([{ op: 'GatherND', inputs: ['data', 'indices'], outputs: ['y'], attrs: [{ name: 'batch_dims', i: B }] }], { data, indices: idx }, {}, ['y']);
    const { refs } = await check(bytes, { data, indices: idx }, `GatherND ${JSON.stringify(is)} batch_dims ${B}`);
    assert.deepEqual(refs[0]!.shape, [...is.slice(0, -1), ...ds.slice(B + k)]);
    near(refs[0]!.data, gatherNDNumpy(nums(data), ds, nums(idx), is, B), `GatherND ${JSON.stringify(is)} against NumPy`);
  }
});

test('GatherND fuses into one kernel; a BERT-style pooler gather (x[arange(b), positions]) with constant batch indices', async () => {
  const x = randn([4, 9, 16], 31);
  const pos = i64([8, 0, -1, 3], [4, 1]);
  const rows = i64([0, 1, 2, 3], [4, 1]);
  const bytes = model(
    [
      { op: 'Concat', inputs: ['rows', 'pos'], outputs: ['ij'], attrs: [{ name: 'axis', i: 1 }] },
      { op: 'GatherND', inputs: ['x', 'ij'], outputs: ['g'] },
      { op: 'Tanh', inputs: ['g'], outputs: ['y'] },
    ],
    { x, pos },
    { rows },
    ['y'],
  );
  const { m, refs } = await check(bytes, { x, pos }, 'pooler GatherND');
  const program = await m.compile({ x, pos });
  // The second kernel is the run-time check of pos (a bad one is an error, src/api/index_checks.ts).
  assert.equal(program.kernelCount, 2, 'the index arithmetic, the gather and the tanh are one kernel (plus the index check)');
  near(refs[0]!.data, gatherNDNumpy(nums(x), [4, 9, 16], [0, 8, 1, 0, 2, -1, 3, 3], [4, 2], 0).map(Math.tanh), 'pooler against NumPy');
});

// ---- ScatterND ------------------------------------------------------------------------------

test('ScatterND: every reduction with duplicate and negative indices, slices and single elements', async () => {
  const ds = [4, 5, 6];
  for (const is of [[9, 1], [12, 2], [3, 4, 3]]) {
    const k = is[is.length - 1]!;
    const us = [...is.slice(0, -1), ...ds.slice(k)];
    // Few distinct targets, so most of them repeat.
    const raw = nums(randu([numel(is)], 40 + k));
    const idx = i64(raw.map((r, i) => { const n = ds[i % k]!; return (Math.floor(r * 4) % n) - (r < 0.5 ? n : 0); }), is);
    for (const r of REDUCTIONS) {
      const data = randu(ds, 50 + k, 0.5, 1.5);
      const updates = randu(us, 60 + k, 0.5, 1.5);
      const bytes = model([{ op: 'ScatterND', inputs: ['data', 'indices', 'updates'], outputs: ['y'], attrs: [{ name: 'reduction', s: r }] }], { data, indices: idx, updates }, {}, ['y']);
      const { refs } = await check(bytes, { data, indices: idx, updates }, `ScatterND ${JSON.stringify(is)} ${r}`);
      near(refs[0]!.data, scatterNDNumpy(nums(data), ds, nums(idx), is, nums(updates), r), `ScatterND ${JSON.stringify(is)} ${r} against NumPy`);
    }
  }
});

test('ScatterND of int32 and bool data; opset 11 (no reduction attribute)', async () => {
  const data = randInt([6, 3], -100, 100, 71);
  const idx = i64([5, 0, -1, 2, 0], [5, 1]);
  const updates = randInt([5, 3], -100, 100, 72);
  for (const r of REDUCTIONS) {
    const bytes = model([{ op: 'ScatterND', inputs: ['data', 'indices', 'updates'], outputs: ['y'], attrs: [{ name: 'reduction', s: r }] }], { data, indices: idx, updates }, {}, ['y']);
    const { refs } = await check(bytes, { data, indices: idx, updates }, `ScatterND int32 ${r}`);
    assert.deepEqual([...refs[0]!.data], scatterNDNumpy(nums(data), [6, 3], nums(idx), [5, 1], nums(updates), r), `int32 ${r} against NumPy`);
  }
  const b = NDArray.from(new Uint8Array([1, 0, 0, 1, 0, 1]), [6], { dtype: 'bool' });
  const bu = NDArray.from(new Uint8Array([1, 1, 0, 0]), [4], { dtype: 'bool' });
  const bi = i64([1, 1, 0, 5], [4, 1]);
  for (const r of REDUCTIONS) {
    const bytes = model([{ op: 'ScatterND', inputs: ['data', 'indices', 'updates'], outputs: ['y'], attrs: [{ name: 'reduction', s: r }] }], { data: b, indices: bi, updates: bu }, {}, ['y']);
    await check(bytes, { data: b, indices: bi, updates: bu }, `ScatterND bool ${r}`);
  }
  const bytes = model([{ op: 'ScatterND', inputs: ['data', 'indices', 'updates'], outputs: ['y'] }], { data, indices: idx, updates }, {}, ['y'], 11);
  await check(bytes, { data, indices: idx, updates }, 'ScatterND opset 11');
});

// ---- ScatterElements ------------------------------------------------------------------------

test('ScatterElements: every axis (negative too), every reduction, duplicates, indices smaller than data, more updates than the axis holds', async () => {
  const ds = [4, 5, 6];
  const cases: { axis: number; is: number[] }[] = [
    { axis: 0, is: [7, 5, 6] },
    { axis: 1, is: [3, 8, 4] },
    { axis: 2, is: [4, 5, 9] },
    { axis: -1, is: [2, 3, 6] },
    { axis: -3, is: [4, 1, 2] },
  ];
  for (const [c, { axis, is }] of cases.entries()) {
    const n = ds[(axis + 3) % 3]!;
    const raw = nums(randu([numel(is)], 80 + c));
    const idx = i64(raw.map((r) => Math.floor(r * 2 * n) - n), is);
    for (const r of REDUCTIONS) {
      const data = randu(ds, 90 + c, 0.5, 1.5);
      const updates = randu(is, 100 + c, 0.5, 1.5);
      const attrs = [{ name: 'axis', i: axis }, { name: 'reduction', s: r }];
      const bytes = model([{ op: 'ScatterElements', inputs: ['data', 'indices', 'updates'], outputs: ['y'], attrs }], { data, indices: idx, updates }, {}, ['y']);
      const { refs } = await check(bytes, { data, indices: idx, updates }, `ScatterElements axis ${axis} ${r}`);
      near(refs[0]!.data, scatterElementsNumpy(nums(data), ds, nums(idx), is, nums(updates), (axis + 3) % 3, r), `ScatterElements axis ${axis} ${r} against NumPy`);
    }
  }
});

test('ScatterElements with int32 indices and data, float16 data; Scatter (opset 10)', async () => {
  const data = randInt([3, 7], -9, 9, 111);
  const idx = randInt([3, 10], -7, 7, 112);
  const updates = randInt([3, 10], -9, 9, 113);
  for (const r of REDUCTIONS) {
    const bytes = model([{ op: 'ScatterElements', inputs: ['data', 'indices', 'updates'], outputs: ['y'], attrs: [{ name: 'axis', i: 1 }, { name: 'reduction', s: r }] }], { data, indices: idx, updates }, {}, ['y']);
    const { refs } = await check(bytes, { data, indices: idx, updates }, `ScatterElements int32 ${r}`);
    assert.deepEqual([...refs[0]!.data], scatterElementsNumpy(nums(data), [3, 7], nums(idx), [3, 10], nums(updates), 1, r), `int32 ${r} against NumPy`);
  }
  const h = NDArray.from(nums(randn([3, 7], 114)), [3, 7], { dtype: 'float16' });
  const hu = NDArray.from(nums(randn([3, 10], 115)), [3, 10], { dtype: 'float16' });
  for (const r of REDUCTIONS) {
    const bytes = model([{ op: 'ScatterElements', inputs: ['data', 'indices', 'updates'], outputs: ['y'], attrs: [{ name: 'axis', i: 1 }, { name: 'reduction', s: r }] }], { data: h, indices: idx, updates: hu }, {}, ['y']);
    await check(bytes, { data: h, indices: idx, updates: hu }, `ScatterElements float16 ${r}`);
  }
  const f = randn([3, 7], 116);
  const fu = randn([3, 10], 117);
  const bytes = model([{ op: 'Scatter', inputs: ['data', 'indices', 'updates'], outputs: ['y'], attrs: [{ name: 'axis', i: 1 }] }], { data: f, indices: idx, updates: fu }, {}, ['y'], 10);
  await check(bytes, { data: f, indices: idx, updates: fu }, 'Scatter opset 10');
});

test('scatters big enough for the multithreaded CPU kernel: duplicates from many lanes combine exactly', async () => {
  // ScatterElements along the last axis: 512 lanes (rows) split across threads.
  const data = randInt([512, 300], -1000, 1000, 121);
  const idx = randInt([512, 600], 0, 300, 122, 'int64');
  const updates = randInt([512, 600], -1000, 1000, 123);
  for (const r of ['add', 'max', 'none'] as const) {
    const bytes = model([{ op: 'ScatterElements', inputs: ['data', 'indices', 'updates'], outputs: ['y'], attrs: [{ name: 'axis', i: -1 }, { name: 'reduction', s: r }] }], { data, indices: idx, updates }, {}, ['y']);
    await check(bytes, { data, indices: idx, updates }, `big ScatterElements ${r}`);
  }
  // ScatterElements along the first axis: the lanes are the 20000 columns, in chunks.
  const d0 = randInt([8, 20000], -1000, 1000, 124);
  const i0 = randInt([30, 20000], -8, 8, 125, 'int64');
  const u0 = randInt([30, 20000], -1000, 1000, 126);
  const b0 = model([{ op: 'ScatterElements', inputs: ['data', 'indices', 'updates'], outputs: ['y'], attrs: [{ name: 'reduction', s: 'add' }] }], { data: d0, indices: i0, updates: u0 }, {}, ['y']);
  await check(b0, { data: d0, indices: i0, updates: u0 }, 'big ScatterElements axis 0');
  // ScatterND of 200 rows of 10000 into 50: the rows' elements are split in chunks across threads.
  const d1 = randn([50, 10000], 127);
  const i1 = randInt([200, 1], -50, 50, 128, 'int64');
  const u1 = randn([200, 10000], 129);
  for (const r of ['add', 'min'] as const) {
    const bytes = model([{ op: 'ScatterND', inputs: ['data', 'indices', 'updates'], outputs: ['y'], attrs: [{ name: 'reduction', s: r }] }], { data: d1, indices: i1, updates: u1 }, {}, ['y']);
    await check(bytes, { data: d1, indices: i1, updates: u1 }, `big ScatterND ${r}`);
  }
});

test('scatter producers and consumers fuse: computed data, indices and updates, and a consumer of the result', async () => {
  const x = randn([6, 8], 131);
  const u = randn([6, 3], 132);
  const idx = randInt([6, 3], 0, 8, 133, 'int64');
  const bytes = model(
    [
      { op: 'Relu', inputs: ['x'], outputs: ['data'] },
      { op: 'Sub', inputs: ['idx', 'eight'], outputs: ['neg'] },
      { op: 'Exp', inputs: ['u'], outputs: ['upd'] },
      { op: 'ScatterElements', inputs: ['data', 'neg', 'upd'], outputs: ['s'], attrs: [{ name: 'axis', i: 1 }, { name: 'reduction', s: 'add' }] },
      { op: 'Mul', inputs: ['s', 's'], outputs: ['y'] },
    ],
    { x, u, idx },
    { eight: i64([8], []) },
    ['y', 's'],
  );
  const { m } = await check(bytes, { x, u, idx }, 'fused scatter');
  const info = (await m.compile({ x, u, idx })).inspect().kernels;
  assert.deepEqual(info.map((k) => k.kind), ['loops', 'scatter', 'loops', 'loops'], 'copy (with the relu), updates (with the exp and the index arithmetic), then the consumer (and the index check)');
});

// ---- load-time folding and bad indices ------------------------------------------------------

test('scatters and GatherND of load-time constants fold at load (an exporter-built mask)', async () => {
  const zeros = NDArray.from(new BigInt64Array(12), [3, 4]);
  const where = i64([0, 0, 2, 3, -2, -1], [3, 2]);
  const ones = i64([1, 1, 1], [3]);
  const x = randn([3, 4], 141);
  const bytes = model(
    [
      { op: 'ScatterND', inputs: ['zeros', 'where', 'ones'], outputs: ['mask'] },
      { op: 'ScatterElements', inputs: ['zeros', 'col', 'ones2'], outputs: ['mask2'], attrs: [{ name: 'axis', i: 1 }, { name: 'reduction', s: 'add' }] },
      { op: 'GatherND', inputs: ['mask2', 'where'], outputs: ['picked'] },
      { op: 'Cast', inputs: ['mask'], outputs: ['maskf'], attrs: [{ name: 'to', i: 1 }] },
      { op: 'Mul', inputs: ['x', 'maskf'], outputs: ['y'] },
    ],
    { x },
    { zeros, where, ones, col: i64([0, 0, 3, -1, 1, 1], [3, 2]), ones2: i64([1, 1, 1, 1, 1, 1], [3, 2]) },
    ['y', 'mask2', 'picked'],
  );
  const { m, outs } = await check(bytes, { x }, 'folded mask');
  const nodes = m.inspect().graphNodes ?? {};
  assert.equal(nodes.scatter, undefined, 'no scatter left in the graph');
  assert.equal(nodes.gather, undefined, 'no gather left in the graph');
  assert.deepEqual(nums(outs.mask2 as NDArray), [2, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 0]);
  assert.deepEqual(nums(outs.picked as NDArray), [2, 0, 2]);
});

test('a known index out of range is a load-time error naming the node, the index and the dim', async () => {
  const data = randn([4, 5], 151);
  const bad = (op: string, idx: NDArray, updates: NDArray | undefined, attrs: Attr[] = []) =>
    model([{ op, inputs: updates ? ['data', 'idx', 'upd'] : ['data', 'idx'], outputs: ['y'], attrs }], { data }, { idx, ...(updates ? { upd: updates } : {}) }, ['y']);
  assert.throws(() => load(bad('ScatterND', i64([1, -5], [2, 1]), randn([2, 5], 1))), (e: Error) => e instanceof OnnxModelError && /ScatterND 'n0': index -5 at indices\[1,0\] is out of range for a dim of size 4/.test(e.message));
  assert.throws(() => load(bad('ScatterElements', i64([0, 5, 1], [1, 3]), randn([1, 3], 2), [{ name: 'axis', i: 1 }])), /ScatterElements 'n0': index 5 at indices\[0,1\] is out of range for a dim of size 5 .*valid: -5 to 4/);
  assert.throws(() => load(bad('GatherND', i64([3, 4, 3, 5], [2, 2]), undefined)), /GatherND 'n0': index 5 at indices\[1,1\] is out of range for a dim of size 5/);
  assert.throws(() => load(bad('ScatterND', i64([0], [1, 1]), randn([1, 4], 3))), /ScatterND 'n0'.*updates \[1,4\] must have shape \[1,5\]/);
});

test('an index out of range at run time never reads or writes out of bounds, and is an error naming the node (issue 14: scatters used to drop the update)', async () => {
  const data = randn([4, 5], 161);
  const huge = [1e9, -1e9, 2 ** 40, 4];
  const idx = i64([2, ...huge, -1], [6, 1]);
  const upd = randn([6, 5], 162);
  const bad = (re: RegExp) => (e: Error) => e instanceof IndexRangeError && re.test(e.message);
  for (const r of ['none', 'add'] as const) {
    const bytes = model([{ op: 'ScatterND', inputs: ['data', 'idx', 'upd'], outputs: ['y'], attrs: [{ name: 'reduction', s: r }] }], { data, idx, upd }, {}, ['y']);
    await assert.rejects(readBack(load(bytes).run({ data, idx, upd })), bad(/^ScatterND 'n0': index 1000000000 at indices\[1,0\]/), `ScatterND bad index ${r}`);
    // Good indices still scatter.
    const ok = i64([2, 0, 1, 3, 0, -1], [6, 1]);
    await check(bytes, { data, idx: ok, upd }, `ScatterND good indices ${r}`);
  }
  const eidx = i64([0, 7, -6, 1e9, 2 ** 40, -1, 3, 2], [2, 4]);
  const eupd = randn([2, 4], 163);
  const bytes = model([{ op: 'ScatterElements', inputs: ['data', 'idx', 'upd'], outputs: ['y'], attrs: [{ name: 'axis', i: 1 }, { name: 'reduction', s: 'mul' }] }], { data, idx: eidx, upd: eupd }, {}, ['y']);
  await assert.rejects(readBack(load(bytes).run({ data, idx: eidx, upd: eupd })), bad(/^ScatterElements 'n0': index 7 at indices\[0,1\] is out of range for dim 1 of data \[4, ?5\]: size 5/));
  const gidx = i64([1e9, -1e9, 2, 7], [2, 2]);
  const g = model([{ op: 'GatherND', inputs: ['data', 'idx'], outputs: ['y'] }], { data, idx: gidx }, {}, ['y']);
  await assert.rejects(readBack(load(g).run({ data, idx: gidx })), bad(/^GatherND 'n0': index 1000000000 at indices\[0,0\]/));
});
