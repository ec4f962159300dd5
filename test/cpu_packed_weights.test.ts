// CPU weights packed once (src/backends/cpu/packed_weights.ts, tiled_gemm.ts packableB): an
// ONNX model's weights read by products of more than 8 rows are packed into the tile's panels on
// the first run that reads them, keyed by the weight's NDArray and the kernel, and read from
// there after. Checked here: results against a float64 reference on random data and bit for bit
// against the same model with KILN_CPU_PACK_WEIGHTS=0 (packed per call), on a symbolic-M program
// at several M (few-row sizes included), two models sharing a kernel, a weight read by two
// products, dispose then reload (the panels released), the hostile case of another weight at
// the same address, and compile(fn)'s captured arrays, which are never packed once (a changed
// one is seen). The real-model fixtures (PyTorch's outputs) run packed in real_models*.test.ts;
// GPT-2's dynamic fixture is compared with the per-call path here too.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

import { NDArray } from '../src/graph/ndarray.js';
import { loadOnnx } from '../src/api/load_onnx.js';
import { compile } from '../src/index.js';
import { trace } from '../src/frontend/trace.js';
import { compileGraph } from '../src/api/program.js';
import { packedWeightStats } from '../src/backends/cpu/packed_weights.js';
import { caseInputs, listSuite, type DynamicSuiteMeta } from '../bench/model_suite.js';
import { F, model, vi } from './onnx_writer.js';
import { randn } from './helpers.js';
import { optional } from './prereq.js';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-packed-weights-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

const K = 128;
// Not a multiple of any panel width: a last panel of 2 columns, packed along K for the dot
// products on AVX-512 (146 = 3·48 + 2), AVX2 (9·16 + 2) and NEON (12·12 + 2).
const N = 146;

/** Row-major float64 product of a [m, k] and (transposed: [n, k]) or [k, n]. */
function matmul64(a: Float32Array, b: Float32Array, m: number, k: number, n: number, transB = false): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p]! * b[transB ? j * k + p : p * n + j]!;
      out[i * n + j] = s;
    }
  return out;
}

interface Weights {
  w: Float32Array;
  b: Float32Array;
  v: Float32Array;
}

const weightsOf = (seed: number): Weights => ({
  w: randn([K, K], seed).toTypedArraySync() as Float32Array,
  b: randn([K], seed + 1).toTypedArraySync() as Float32Array,
  v: randn([K, N], seed + 2).toTypedArraySync() as Float32Array,
});

/**
 * x['m', K] → y1 = Relu(x·W + b), y2 = Gemm(x, W, transB) = x·Wᵀ (W read by two products, one
 * transposed), y3 = y1·V: three products over a symbolic M.
 */
function modelBytes(ws: Weights): Uint8Array {
  return model({
    nodes: [
      { op: 'MatMul', inputs: ['x', 'W'], outputs: ['xw'] },
      { op: 'Add', inputs: ['xw', 'b'], outputs: ['h'] },
      { op: 'Relu', inputs: ['h'], outputs: ['y1'] },
      { op: 'Gemm', inputs: ['x', 'W'], outputs: ['y2'], attrs: [{ name: 'transB', i: 1, type: 2 }] },
      { op: 'MatMul', inputs: ['y1', 'V'], outputs: ['y3'] },
    ],
    inputs: [vi('x', F, ['m', K])],
    outputs: [vi('y2', F, ['m', K]), vi('y3', F, ['m', N])],
    initializers: [
      { name: 'W', dims: [K, K], dataType: F, floatData: [...ws.w] },
      { name: 'b', dims: [K], dataType: F, floatData: [...ws.b] },
      { name: 'V', dims: [K, N], dataType: F, floatData: [...ws.v] },
    ],
  });
}

/** The float64 reference of modelBytes for x[m, K]. */
function reference(ws: Weights, x: Float32Array, m: number): { y2: Float64Array; y3: Float64Array } {
  const h = matmul64(x, ws.w, m, K, K);
  const y1 = new Float32Array(m * K);
  for (let i = 0; i < h.length; i++) y1[i] = Math.max(0, Math.fround(h[i]! + ws.b[i % K]!));
  return { y2: matmul64(x, ws.w, m, K, K, true), y3: matmul64(y1, ws.v, m, K, N) };
}

function assertNear(got: NDArray, want: Float64Array, what: string): void {
  const g = got.toTypedArraySync() as Float32Array;
  assert.equal(g.length, want.length, `${what}: length`);
  const scale = Math.max(1, ...Array.from(want, Math.abs));
  let worst = 0;
  for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(g[i]! - want[i]!));
  assert.ok(worst <= 1e-5 * scale, `${what}: max |kiln − float64| = ${worst} (scale ${scale})`);
}

function assertSameBits(a: NDArray, b: NDArray, what: string): void {
  assert.deepEqual(new Uint32Array((a.toTypedArraySync() as Float32Array).slice().buffer), new Uint32Array((b.toTypedArraySync() as Float32Array).slice().buffer), `${what}: not bit-identical`);
}

/** Runs `f` with KILN_CPU_PACK_WEIGHTS=0 (read when a program is made: its first run). */
async function perCall<T>(f: () => Promise<T>): Promise<T> {
  process.env.KILN_CPU_PACK_WEIGHTS = '0';
  try {
    return await f();
  } finally {
    delete process.env.KILN_CPU_PACK_WEIGHTS;
  }
}

const xOf = (m: number, seed: number) => randn([m, K], seed);

test('a symbolic-M program at M = 3, 9, 64, 130: packed weights match float64 and, bit for bit, the per-call packing', async () => {
  const ws = weightsOf(11);
  const bytes = modelBytes(ws);
  const packed = loadOnnx(bytes, { cacheDir });
  const unpacked = loadOnnx(bytes, { cacheDir });
  const before = packedWeightStats();
  for (const [i, m] of [3, 9, 64, 130].entries()) {
    const x = xOf(m, 100 + i);
    const got = await packed.run({ x });
    // M = 3 takes the few-row kernels, which read the weights in place: nothing packed yet.
    if (m === 3) assert.equal(packedWeightStats().packs, before.packs, 'a call of few rows packs nothing');
    const base = await perCall(() => unpacked.run({ x }));
    const want = reference(ws, x.toTypedArraySync() as Float32Array, m);
    assertNear(got.y2!, want.y2, `M=${m} y2`);
    assertNear(got.y3!, want.y3, `M=${m} y3`);
    assertSameBits(got.y2!, base.y2!, `M=${m} y2`);
    assertSameBits(got.y3!, base.y3!, `M=${m} y3`);
  }
  assert.ok(packed.inspect().symbolic, 'one symbolic program');
  const mid = packedWeightStats();
  // W for x·W, W for x·Wᵀ (another kernel: its own panels), V: packed once each, however many runs.
  assert.equal(mid.packs - before.packs, 3, 'three weights × kernels packed, once each');
  assert.ok(mid.bytes - before.bytes >= 4 * (2 * K * K + K * N), `the panels are held: ${mid.bytes - before.bytes} bytes`);
  packed.dispose();
  unpacked.dispose();
  assert.equal(packedWeightStats().bytes, before.bytes, 'dispose releases the panels');
});

test('a symbolic-M program run only at few rows (a decode loop: M = 1, 2, 5, 8) never packs or holds panels', async () => {
  const ws = weightsOf(12);
  const m = loadOnnx(modelBytes(ws), { cacheDir });
  const before = packedWeightStats();
  for (const [i, rows] of [1, 2, 5, 8, 1].entries()) {
    const x = xOf(rows, 300 + i);
    const got = await m.run({ x });
    const want = reference(ws, x.toTypedArraySync() as Float32Array, rows);
    assertNear(got.y2!, want.y2, `M=${rows} y2`);
    assertNear(got.y3!, want.y3, `M=${rows} y3`);
  }
  assert.deepEqual(packedWeightStats(), before, 'no packing, no panels held');
  // The first call of many rows packs, once per weight and kernel.
  await m.run({ x: xOf(40, 310) });
  assert.equal(packedWeightStats().packs - before.packs, 3);
  m.dispose();
  assert.equal(packedWeightStats().bytes, before.bytes);
});

test('two models sharing kernels each read their own weights; dispose then reload packs the new ones', async () => {
  const a = weightsOf(21);
  const b = weightsOf(31);
  const ma = loadOnnx(modelBytes(a), { cacheDir });
  const mb = loadOnnx(modelBytes(b), { cacheDir });
  const x = xOf(40, 7);
  const xs = x.toTypedArraySync() as Float32Array;
  for (let round = 0; round < 2; round++) {
    const [ya, yb] = [await ma.run({ x }), await mb.run({ x })];
    assertNear(ya.y3!, reference(a, xs, 40).y3, `model a, round ${round}`);
    assertNear(yb.y3!, reference(b, xs, 40).y3, `model b, round ${round}`);
    assertNear(yb.y2!, reference(b, xs, 40).y2, `model b y2, round ${round}`);
  }
  ma.dispose();
  const c = weightsOf(41);
  const mc = loadOnnx(modelBytes(c), { cacheDir });
  const yc = await mc.run({ x });
  assertNear(yc.y3!, reference(c, xs, 40).y3, 'model c after a was disposed');
  assertNear((await mb.run({ x })).y3!, reference(b, xs, 40).y3, 'model b still its own');
  mb.dispose();
  mc.dispose();
});

test("another weight at a disposed weight's address gets its own panels (keyed by the NDArray, not the address)", async () => {
  // One memory for two weights in turn: the second model's weight is where the first one's was.
  const memory = new Float32Array(K * N);
  const x = xOf(64, 8);
  const xs = x.toTypedArraySync() as Float32Array;
  const programFor = async (values: Float32Array) => {
    memory.set(values);
    const w = NDArray.from(memory, [K, N]);
    const traced = trace((t) => t.matmul(w), [{ shape: [64, K], dtype: 'float32' }]);
    // As an ONNX model's graph says of its initializers (convert.ts).
    traced.immutableParams = true;
    return compileGraph(traced, { cacheDir });
  };
  const first = randn([K, N], 51).toTypedArraySync() as Float32Array;
  const second = randn([K, N], 52).toTypedArraySync() as Float32Array;
  const p1 = await programFor(first);
  const s0 = packedWeightStats();
  assertNear((await p1.run([x]))[0]!, matmul64(xs, first, 64, K, N), 'the first weight');
  assert.equal(packedWeightStats().packs - s0.packs, 1, 'packed on its first run');
  // The first program is not disposed: its panels stay, under the same address as the second weight.
  const p2 = await programFor(second);
  assertNear((await p2.run([x]))[0]!, matmul64(xs, second, 64, K, N), 'the second weight, at the same address');
  assert.equal(packedWeightStats().packs - s0.packs, 2, 'the second weight was packed for itself');
  p1.dispose();
  const p3 = await programFor(first);
  assertNear((await p3.run([x]))[0]!, matmul64(xs, first, 64, K, N), 'a third weight there after the first program was disposed');
  p2.dispose();
  p3.dispose();
});

test("compile(fn)'s captured weights are packed per call: a change between calls is seen", async () => {
  const w = randn([K, N], 61);
  const data = w.toTypedArraySync() as Float32Array;
  const f = compile((x) => x.matmul(w), { cacheDir });
  const x = xOf(64, 9);
  const xs = x.toTypedArraySync() as Float32Array;
  const s0 = packedWeightStats();
  assertNear((await f(x)) as NDArray, matmul64(xs, data, 64, K, N), 'before the change');
  for (let i = 0; i < data.length; i++) data[i] = -2 * data[i]! + 0.25;
  assertNear((await f(x)) as NDArray, matmul64(xs, data, 64, K, N), 'after the change');
  assert.equal(packedWeightStats().packs, s0.packs, 'nothing packed once');
});

const here = path.dirname(fileURLToPath(import.meta.url));
const DYN = [path.join(here, 'fixtures/models_dynamic'), path.join(here, '../../test/fixtures/models_dynamic')].find((p) => fs.existsSync(p));
const gpt2 = DYN ? listSuite<DynamicSuiteMeta>(DYN).find((m) => m.name.startsWith('gpt2_like')) : undefined;

test("GPT-2's dynamic fixture (tied embedding: a Gather and the lm_head read one weight): every case bit-identical packed and per call", { skip: optional('the dynamic GPT-2 fixture', gpt2 !== undefined, 'test/fixtures/models_dynamic/gpt2_like_* is not there') }, async () => {
  const file = path.join(gpt2!.dir, 'model.onnx');
  const packed = loadOnnx(file, { cacheDir });
  const unpacked = loadOnnx(fs.readFileSync(file), { cacheDir });
  const s0 = packedWeightStats();
  for (const c of gpt2!.meta.cases.keys()) {
    const feeds = caseInputs(gpt2!, c);
    const got = await packed.run(feeds);
    const base = await perCall(() => unpacked.run(feeds));
    for (const name of Object.keys(base)) assertSameBits(got[name]!, base[name]!, `case ${c} output ${name}`);
  }
  assert.ok(packedWeightStats().packs > s0.packs, 'some weights were packed once');
  packed.dispose();
  unpacked.dispose();
});
