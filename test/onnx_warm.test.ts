// An ONNX warm start neither converts nor folds its model (issue 12, item 2): the conversion is
// stored by the model's structure and the contents of the initializers conversion read by
// value. Checked here: a warm load builds no graph (onnx_graph_builds) and gives the right
// answer; new weights in a model of the same structure are used (weights are never taken from
// the cache); a model whose shape tensor, folded weight or folded indices differ does NOT reuse
// the old conversion; damaged and swapped entries are misses, never another model's graph; the
// structure hash leaves out exactly the initializers' values. Every output is checked against
// a plain-JS reference of the model. On the device of the test run (KILN_TEST_DEVICE=cuda: the
// weights then go through the CUDA upload, and a warm start's upload shares nothing stale).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { openCache } from '../src/cache/open_cache.js';
import { listEntryFiles } from '../src/cache/layout.js';
import { NDArray } from '../src/graph/ndarray.js';
import { counters, resetCounters } from '../src/observe/counters.js';
import { loadOnnx } from '../src/api/load_onnx.js';
import { onnxNs } from '../src/onnx/proto.js';
import { modelStructureHash } from '../src/onnx/structure_hash.js';
import { ExternalDataWriter } from './fixtures/external_data.js';
import { testDevice } from './helpers.js';

delete process.env.KILN_NO_CACHE;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-onnx-warm-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let dirs = 0;
const newDir = (name: string): string => path.join(tmp, `${name}-${dirs++}`);

const D = 12;

/** The model's tensors; each test changes some of them. */
interface Spec {
  w: Float32Array; // [D, D], a weight (a parameter: never read by conversion)
  wt: Float32Array; // [D, D], transposed by a Transpose node: folded at load (read by value)
  e: Float32Array; // [5, D], rows gathered by constant indices: folded at load
  idx: number[]; // [2] int64
  shape: number[]; // [2] int64, the Reshape's target
  /** Put `w` in an external data file instead of the model. */
  external?: boolean;
}

function seeded(n: number, seed: number): Float32Array {
  let s = seed * 2654435761;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) | 0;
    return (s >>> 8) / 16777216 - 0.5;
  });
}

function baseSpec(): Spec {
  return { w: seeded(D * D, 1), wt: seeded(D * D, 2), e: seeded(5 * D, 3), idx: [4, 1], shape: [4, 6] };
}

/** y = Reshape(x·W·Wtᵀ + E[idx], shape), x: [2, D]. */
function writeModel(dir: string, name: string, s: Spec): string {
  fs.mkdirSync(dir, { recursive: true });
  const onnx = onnxNs();
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const INT64 = onnx.TensorProto.DataType.INT64;
  const raw = (a: Float32Array | BigInt64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const f32 = (tname: string, dims: number[], a: Float32Array) => onnx.TensorProto.create({ name: tname, dims, dataType: FLOAT, rawData: raw(a) });
  const i64 = (tname: string, v: number[]) => onnx.TensorProto.create({ name: tname, dims: [v.length], dataType: INT64, rawData: raw(BigInt64Array.from(v.map(BigInt))) });
  let w;
  if (s.external) {
    const data = new ExternalDataWriter(dir, `${name}.data`);
    w = data.add('W', [D, D], s.w);
    data.close();
  } else w = f32('W', [D, D], s.w);
  const initializer = [w, f32('Wt', [D, D], s.wt), f32('E', [5, D], s.e), i64('idx', s.idx), i64('shape', s.shape)];
  const node = [
    onnx.NodeProto.create({ opType: 'MatMul', input: ['x', 'W'], output: ['h'] }),
    onnx.NodeProto.create({ opType: 'Transpose', input: ['Wt'], output: ['t'], attribute: [{ name: 'perm', type: onnx.AttributeProto.AttributeType.INTS, ints: [1, 0] }] }),
    onnx.NodeProto.create({ opType: 'MatMul', input: ['h', 't'], output: ['h2'] }),
    onnx.NodeProto.create({ opType: 'Gather', input: ['E', 'idx'], output: ['g'] }),
    onnx.NodeProto.create({ opType: 'Add', input: ['h2', 'g'], output: ['h3'] }),
    onnx.NodeProto.create({ opType: 'Reshape', input: ['h3', 'shape'], output: ['y'] }),
  ];
  const input = [{ name: 'x', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 2 }, { dimValue: D }] } } } }];
  const output = [{ name: 'y', type: { tensorType: { elemType: FLOAT } } }];
  const m = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: { name: 'warm', node, initializer, input, output } });
  const file = path.join(dir, `${name}.onnx`);
  fs.writeFileSync(file, onnx.ModelProto.encode(m).finish());
  return file;
}

/** The model's output in plain JS (float64), flat, row-major. */
function reference(s: Spec, x: Float32Array): number[] {
  const out: number[] = [];
  for (let r = 0; r < 2; r++) {
    const h = Array.from({ length: D }, (_, j) => {
      let acc = 0;
      for (let k = 0; k < D; k++) acc += x[r * D + k]! * s.w[k * D + j]!;
      return acc;
    });
    for (let j = 0; j < D; j++) {
      let acc = 0;
      for (let k = 0; k < D; k++) acc += h[k]! * s.wt[j * D + k]!; // (Wtᵀ)[k][j] = Wt[j][k]
      out.push(acc + s.e[s.idx[r]! * D + j]!);
    }
  }
  return out;
}

const X = seeded(2 * D, 9);

async function runModel(file: string, cacheDir: string, s: Spec): Promise<ReturnType<typeof counters>> {
  resetCounters();
  const model = loadOnnx(file, { cacheDir, workers: 2, device: testDevice });
  const { y } = await model.run({ x: NDArray.from(X, [2, D]) });
  const c = counters();
  const out = y as NDArray;
  assert.deepEqual(out.shape, s.shape, 'output shape');
  const got = Array.from((await out.toTypedArray()) as Float32Array);
  const want = reference(s, X);
  assert.ok(want.some((v) => v !== 0));
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) <= 1e-5 + 1e-5 * Math.abs(want[i]!), `element ${i}: ${v}, reference ${want[i]}`));
  return c;
}

function assertWarm(c: ReturnType<typeof counters>): void {
  assert.equal(c.onnx_graph_builds, 0, 'onnx_graph_builds');
  assert.equal(c.onnx_conversion_hits, 1, 'onnx_conversion_hits');
  assert.equal(c.graph_cache_hits, 1, 'graph_cache_hits');
  assert.equal(c.kernels_generated, 0, 'kernels_generated');
}

function assertRebuilt(c: ReturnType<typeof counters>): void {
  assert.equal(c.onnx_graph_builds, 1, 'onnx_graph_builds');
  assert.equal(c.onnx_conversion_hits, 0, 'onnx_conversion_hits');
}

test('a warm start of an ONNX model builds no graph and gives the right answer', async () => {
  const cacheDir = newDir('cache');
  const s = baseSpec();
  const file = writeModel(newDir('m'), 'model', s);
  const cold = await runModel(file, cacheDir, s);
  assertRebuilt(cold);
  assert.equal(cold.graph_cache_misses, 1);
  assertWarm(await runModel(file, cacheDir, s));
  // Inspecting a warm model builds its graph on demand (kiln inspect's node counts).
  const model = loadOnnx(file, { cacheDir, workers: 2, device: testDevice });
  assert.ok(Object.keys(model.inspect().graphNodes ?? {}).length > 0);
});

test('new weights in a model of the same structure: no graph built, the new weights used', async () => {
  const cacheDir = newDir('cache');
  const s = baseSpec();
  await runModel(writeModel(newDir('a'), 'model', s), cacheDir, s);
  const s2 = { ...s, w: seeded(D * D, 42) };
  assertWarm(await runModel(writeModel(newDir('b'), 'model', s2), cacheDir, s2));
});

test('new weights in an external data file: no graph built, the file read again', async () => {
  const cacheDir = newDir('cache');
  const dir = newDir('ext');
  const s: Spec = { ...baseSpec(), external: true };
  const file = writeModel(dir, 'model', s);
  assertRebuilt(await runModel(file, cacheDir, s));
  const s2 = { ...s, w: seeded(D * D, 77) };
  assert.equal(writeModel(dir, 'model', s2), file); // same model file bytes, new data file
  assertWarm(await runModel(file, cacheDir, s2));
});

for (const [what, change] of [
  ['the Reshape target', (s: Spec): Spec => ({ ...s, shape: [6, 4] })],
  ['a weight folding transposed', (s: Spec): Spec => ({ ...s, wt: seeded(D * D, 5) })],
  ['the Gather indices folding used', (s: Spec): Spec => ({ ...s, idx: [0, 3] })],
  ['the gathered table', (s: Spec): Spec => ({ ...s, e: seeded(5 * D, 6) })],
] as const) {
  test(`a model of the same structure with another value of ${what} does not reuse the old conversion`, async () => {
    const cacheDir = newDir('cache');
    const s = baseSpec();
    await runModel(writeModel(newDir('a'), 'model', s), cacheDir, s);
    const s2 = change(s);
    const file2 = writeModel(newDir('b'), 'model', s2);
    assert.equal(modelStructureHash(fs.readFileSync(file2)), modelStructureHash(fs.readFileSync(writeModel(newDir('c'), 'model', s))), 'same structure');
    assertRebuilt(await runModel(file2, cacheDir, s2));
    // Both conversions are stored now: each model finds its own.
    assertWarm(await runModel(file2, cacheDir, s2));
    assertWarm(await runModel(writeModel(newDir('d'), 'model', s), cacheDir, s));
  });
}

/** The conversion entries (graph entries holding an ONNX conversion) in a cache directory. */
function conversionEntries(cacheDir: string): { key: string; path: string }[] {
  const { graphs } = openCache({ cacheDir });
  return listEntryFiles(cacheDir).filter((e) => e.kind === 'graph' && (graphs.getBundle(e.key)?.plan as { kind?: string } | undefined)?.kind === 'onnx-conversion');
}

/** The base model, run once on a new cache directory (which then holds its conversion). */
async function warmedModel(): Promise<{ cacheDir: string; s: Spec; file: string }> {
  const cacheDir = newDir('cache');
  const s = baseSpec();
  const file = writeModel(newDir('m'), 'model', s);
  await runModel(file, cacheDir, s);
  return { cacheDir, s, file };
}

test('a damaged conversion entry is a miss: counted corrupt, the graph built again, right answer', async () => {
  const { cacheDir, s, file } = await warmedModel();
  const [entry, ...others] = conversionEntries(cacheDir);
  assert.ok(entry !== undefined && others.length === 0);
  const bytes = fs.readFileSync(entry.path);
  bytes[bytes.length >> 1]! ^= 0x5a;
  fs.writeFileSync(entry.path, bytes);
  const c = await runModel(file, cacheDir, s);
  assertRebuilt(c);
  assert.equal(c.cache_corrupt, 1);
});

test("two swapped conversion entries are corrupt, never each other's graph", async () => {
  const cacheDir = newDir('cache');
  const a = baseSpec();
  const b = { ...a, shape: [3, 8] };
  const fileA = writeModel(newDir('a'), 'model', a);
  const fileB = writeModel(newDir('b'), 'model', b);
  await runModel(fileA, cacheDir, a);
  const ea = conversionEntries(cacheDir)[0]!.path;
  await runModel(fileB, cacheDir, b);
  const eb = conversionEntries(cacheDir).find((e) => e.path !== ea)!.path;
  const bytesA = fs.readFileSync(ea);
  fs.writeFileSync(ea, fs.readFileSync(eb));
  fs.writeFileSync(eb, bytesA);
  for (const [file, s] of [[fileA, a], [fileB, b]] as const) {
    const c = await runModel(file, cacheDir, s);
    assertRebuilt(c);
    assert.equal(c.cache_corrupt, 1);
  }
});

test('a checksum-valid conversion naming an initializer the model lacks is dropped and rebuilt', async () => {
  const { cacheDir, s, file } = await warmedModel();
  const { graphs } = openCache({ cacheDir });
  const [entry] = conversionEntries(cacheDir);
  const bundle = graphs.getBundle(entry!.key)!;
  const plan = bundle.plan as { params: ({ init: string } | object)[] };
  plan.params = plan.params.map((p) => ('init' in p ? { init: 'no-such-tensor' } : p));
  graphs.putBundle(entry!.key, bundle);
  const c = await runModel(file, cacheDir, s);
  assertRebuilt(c);
  assert.equal(c.cache_corrupt, 1);
});

test('KILN_DEBUG=graph on a warm start says the graph was not built', async () => {
  const { cacheDir, s, file } = await warmedModel();
  const original = process.stderr.write.bind(process.stderr);
  let text = '';
  process.stderr.write = ((chunk: string | Uint8Array) => ((text += String(chunk)), true)) as typeof process.stderr.write;
  process.env.KILN_DEBUG = 'graph';
  try {
    assertWarm(await runModel(file, cacheDir, s));
  } finally {
    delete process.env.KILN_DEBUG;
    process.stderr.write = original;
  }
  assert.match(text, /graph cache hit .*the ONNX model's graph was not built/);
  assert.doesNotMatch(text, /--- kiln graph ---/);
});

test('the structure hash leaves out initializer values and nothing else', () => {
  const dir = newDir('hash');
  const s = baseSpec();
  const h = (spec: Spec, name = 'model') => modelStructureHash(fs.readFileSync(writeModel(dir, name, spec)));
  const base = h(s);
  assert.equal(h({ ...s, w: seeded(D * D, 8), wt: seeded(D * D, 9), idx: [2, 2], shape: [24, 1] }), base, 'values differ only');
  assert.notEqual(h({ ...s, external: true }), base, 'a weight moved to external data');
  const onnx = onnxNs();
  const m = onnx.ModelProto.decode(fs.readFileSync(writeModel(dir, 'model', s)));
  const variants: [string, (m: ReturnType<typeof onnx.ModelProto.decode>) => void][] = [
    ['an initializer renamed', (x) => (x.graph!.initializer![0]!.name = 'W2')],
    ['an initializer reshaped', (x) => (x.graph!.initializer![2]!.dims = [D, 5])],
    ['a node attribute', (x) => (x.graph!.node![1]!.attribute![0]!.ints = [0, 1])],
    ['an op', (x) => (x.graph!.node![4]!.opType = 'Sub')],
    ['an input shape', (x) => (x.graph!.input![0]!.type!.tensorType!.shape!.dim![0]!.dimValue = 3)],
    ['the opset', (x) => (x.opsetImport![0]!.version = 18)],
  ];
  for (const [what, edit] of variants) {
    const copy = onnx.ModelProto.decode(onnx.ModelProto.encode(m).finish());
    edit(copy);
    assert.notEqual(modelStructureHash(onnx.ModelProto.encode(copy).finish()), base, what);
  }
  // Bytes that are no protobuf hash whole instead of failing.
  assert.match(modelStructureHash(new Uint8Array([0xff, 0xff, 0xff])), /^[0-9a-f]{64}$/);
});

/** y = Reshape(x, s) with s a graph input: a value input, whose value shapes the graph. */
function writeValueInputModel(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const onnx = onnxNs();
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const INT64 = onnx.TensorProto.DataType.INT64;
  const node = [onnx.NodeProto.create({ opType: 'Reshape', input: ['x', 's'], output: ['r'] }), onnx.NodeProto.create({ opType: 'Relu', input: ['r'], output: ['y'] })];
  const input = [
    { name: 'x', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 2 }, { dimValue: D }] } } } },
    { name: 's', type: { tensorType: { elemType: INT64, shape: { dim: [{ dimValue: 2 }] } } } },
  ];
  const output = [{ name: 'y', type: { tensorType: { elemType: FLOAT } } }];
  const m = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: { name: 'values', node, input, output } });
  const file = path.join(dir, 'values.onnx');
  fs.writeFileSync(file, onnx.ModelProto.encode(m).finish());
  return file;
}

test('a model with a value input starts warm for a stored value and converts again for a new one', async () => {
  const cacheDir = newDir('cache');
  const file = writeValueInputModel(newDir('v'));
  const run = async (shape: number[]) => {
    resetCounters();
    const model = loadOnnx(file, { cacheDir, workers: 2, device: testDevice });
    const { y } = await model.run({ x: NDArray.from(X, [2, D]), s: NDArray.from(BigInt64Array.from(shape.map(BigInt)), [2]) });
    const out = y as NDArray;
    assert.deepEqual(out.shape, shape);
    assert.deepEqual(Array.from((await out.toTypedArray()) as Float32Array), Array.from(X, (v) => Math.max(0, v)));
    assert.deepEqual(model.valueInputs, ['s']);
    return counters();
  };
  // Cold, the load's build stops where the shape needs s's value; the run builds for its value.
  const cold = await run([4, 6]);
  assert.equal(cold.onnx_graph_builds, 2);
  assert.equal(cold.onnx_conversion_hits, 0);
  // Warm, the stored index names s: nothing is built at load or for a stored value.
  assertWarm(await run([4, 6]));
  assertRebuilt(await run([6, 4]));
  assertWarm(await run([6, 4]));
});

test('two loads of one model file share each weight (one NDArray, so one device copy); a rewritten file is read again', async () => {
  const dir = newDir('shared');
  const cacheDir = newDir('cache');
  const s: Spec = { ...baseSpec(), external: true };
  const file = writeModel(dir, 'model', s);
  // Files written in the last 2 s are never shared (their times may not show a rewrite yet).
  const age = (f: string) => fs.utimesSync(f, new Date(Date.now() - 10_000), new Date(Date.now() - 10_000));
  age(file);
  age(path.join(dir, 'model.data'));
  const weightsOf = (m: ReturnType<typeof loadOnnx>) => m.graphFor()!.traced.params;
  const a = loadOnnx(file, { cacheDir, device: testDevice });
  const b = loadOnnx(file, { cacheDir, device: testDevice });
  // Parameter 0 is W (MatMul(x, W) comes first), an initializer in the external data file.
  const [wa, wb] = [weightsOf(a)[0]!, weightsOf(b)[0]!];
  assert.deepEqual(wa.shape, [D, D]);
  assert.equal(wa, wb, 'one NDArray for W');
  // The external data rewritten (a new mtime): the next load reads it and runs with the new weights.
  const s2 = { ...s, w: seeded(D * D, 99) };
  writeModel(dir, 'model', s2);
  assert.notEqual(weightsOf(loadOnnx(file, { cacheDir, device: testDevice }))[0], wa);
  await runModel(file, cacheDir, s2);
});
