// External data is read once, in each of the reader's modes (src/onnx/file_source.ts): mapped
// (the default on Linux: no read at all, one mapping per file, tensors views of it), read whole
// once per file (`file`), or read per tensor region (`region`). A model of many tensors in one
// data file reads about the file's size, not tensors × size (readExternal once read the whole
// file per tensor); counted with the kernel's per-process read counter (/proc/self/io rchar)
// and the process's mappings (/proc/self/maps), so Linux only. Misaligned offsets get copies
// with the right values; a mapped file changed after load is an error naming it and its
// tensors before any kernel reads it (never a SIGBUS), and a file replaced by rename is not.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { after, test } from 'node:test';

import { NDArray } from '../src/graph/ndarray.js';
import { mappedFileOf } from '../src/graph/host_mapping.js';
import { mulberry32 } from '../src/graph/random.js';
import { loadOnnx } from '../src/api/load_onnx.js';
import type { OnnxModel } from '../src/api/onnx_model_api.js';
import { onnxNs } from '../src/onnx/proto.js';
import { ExternalDataWriter } from './fixtures/external_data.js';
import { needs } from './prereq.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-ext-read-'));
const cacheDir = path.join(tmp, 'cache');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const linux = { skip: needs('/proc/self/io', fs.existsSync('/proc/self/io') && fs.existsSync('/proc/self/maps'), 'Linux with per-process I/O accounting') };

const rchar = (): number => Number(/rchar:\s*(\d+)/.exec(fs.readFileSync('/proc/self/io', 'utf8'))![1]);
/** How many mappings of `file` this process has (its lines in /proc/self/maps). */
const mappingsOf = (file: string): number =>
  fs
    .readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.endsWith(` ${file}`)).length;

function withMode<T>(mode: string, f: () => T): T {
  const was = process.env.KILN_EXTERNAL_DATA;
  process.env.KILN_EXTERNAL_DATA = mode;
  try {
    return f();
  } finally {
    if (was === undefined) delete process.env.KILN_EXTERNAL_DATA;
    else process.env.KILN_EXTERNAL_DATA = was;
  }
}

interface Written {
  file: string;
  data: string;
  dataBytes: number;
  weights: Float32Array[];
}

/**
 * A chain of `layers` Add nodes, each adding its own [rows, 256] float32 external tensor of
 * random values; `pad(l)` bytes of zeros go before tensor l (a misaligned offset when not a
 * multiple of 4).
 */
function writeModel(name: string, layers: number, rows: number, pad: (l: number) => number = () => 0): Written {
  const onnx = onnxNs();
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const data = new ExternalDataWriter(tmp, `${name}.data`);
  const initializer = [];
  const node = [];
  const weights: Float32Array[] = [];
  const r = mulberry32(name.length * 131 + layers);
  let x = 'x';
  for (let l = 0; l < layers; l++) {
    if (pad(l)) data.pad(pad(l));
    const w = new Float32Array(rows * 256).map(() => r() * 2 - 1);
    weights.push(w);
    initializer.push(data.add(`w${l}`, [rows, 256], w));
    node.push(onnx.NodeProto.create({ opType: 'Add', input: [x, `w${l}`], output: [`h${l}`] }));
    x = `h${l}`;
  }
  data.close();
  const io = (n: string) => ({ name: n, type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: rows }, { dimValue: 256 }] } } } });
  const m = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: { name, node, initializer, input: [io('x')], output: [io(x)] } });
  const file = path.join(tmp, `${name}.onnx`);
  fs.writeFileSync(file, onnx.ModelProto.encode(m).finish());
  return { file, data: path.join(tmp, `${name}.data`), dataBytes: data.bytes, weights };
}

/** The model's weights as loaded (its graph's parameters, in initializer order). */
function loadedWeights(model: OnnxModel): Float32Array[] {
  return model.graphFor()!.traced.params.map((p) => p.hostData() as Float32Array);
}

function assertWeights(model: OnnxModel, w: Written): Float32Array[] {
  const got = loadedWeights(model);
  assert.equal(got.length, w.weights.length);
  got.forEach((g, l) => assert.deepEqual(g, w.weights[l], `weight w${l}`));
  return got;
}

// Everything loaded on first use (onnx-proto, the importer's modules, koffi) is loaded first.
withMode('map', () => loadOnnx(writeModel('warmup', 2, 4).file));

for (const mode of ['region', 'file']) {
  test(`${mode}: a model of 48 tensors in one external data file reads each byte once`, linux, () => {
    const w = writeModel(`many_${mode}`, 48, 128);
    assert.equal(w.dataBytes, 48 * 128 * 256 * 4); // 6.3 MB
    const before = rchar();
    const model = withMode(mode, () => loadOnnx(w.file));
    const read = rchar() - before;
    // The data once, plus the model file and slack for whatever else the process reads; reading
    // the whole file per tensor would be 48 × 6.3 MB.
    assert.ok(read >= w.dataBytes, `read ${read} bytes, fewer than the data's ${w.dataBytes}`);
    assert.ok(read < w.dataBytes * 1.1 + (1 << 20), `read ${read} bytes for ${w.dataBytes} bytes of external data`);
    const got = assertWeights(model, w);
    // One buffer per file (file) or per tensor (region); never a mapping.
    assert.equal(new Set(got.map((g) => g.buffer)).size, mode === 'file' ? 1 : 48);
    assert.equal(mappedFileOf(got[0]!), undefined);
    assert.equal(mappingsOf(w.data), 0);
  });
}

test('map: 48 tensors are views of one mapping of their file, and nothing is read', linux, () => {
  const w = writeModel('many_map', 48, 128);
  const before = rchar();
  const model = withMode('map', () => loadOnnx(w.file));
  const read = rchar() - before;
  assert.ok(read < (1 << 20), `read ${read} bytes: the data should be mapped, not read`);
  const got = assertWeights(model, w);
  assert.equal(new Set(got.map((g) => g.buffer)).size, 1);
  assert.equal(mappedFileOf(got[0]!)?.file, w.data);
  assert.equal(mappingsOf(w.data), 1);
  // A second load of the unchanged file shares the mapping.
  const again = withMode('map', () => loadOnnx(w.file));
  assert.equal(loadedWeights(again)[5]!.buffer, got[0]!.buffer);
  assert.equal(mappingsOf(w.data), 1);
});

test('misaligned offsets: a tensor at an odd byte is a copy with the right values, its aligned neighbours views', linux, () => {
  // Tensor 1 starts 2 bytes after tensor 0, tensor 2 a further 2 (aligned again), tensor 3 1 byte later.
  const w = writeModel('misaligned', 4, 8, (l) => [0, 2, 2, 1][l]!);
  for (const mode of ['map', 'file', 'region']) {
    const got = assertWeights(
      withMode(mode, () => loadOnnx(w.file)),
      w,
    );
    for (const g of got) assert.equal(g.byteOffset % 4, 0, `${mode}: an aligned view`);
    if (mode === 'map') {
      assert.deepEqual(
        got.map((g) => mappedFileOf(g) !== undefined),
        [true, false, true, false],
        'aligned tensors are views of the mapping, misaligned ones copies',
      );
    }
  }
});

/** x + Σ w_l in float64, the reference for the Add chain. */
function reference(x: Float32Array, weights: Float32Array[]): Float64Array {
  const y = Float64Array.from(x);
  for (const wl of weights) for (let i = 0; i < y.length; i++) y[i]! += wl[i]!;
  return y;
}

async function runOnce(model: OnnxModel, x: Float32Array, rows: number): Promise<Float32Array> {
  const { h2 } = await model.run({ x: NDArray.from(x, [rows, 256]) });
  return (await (h2 as NDArray).toTypedArray()) as Float32Array;
}

function assertClose(got: Float32Array, want: Float64Array): void {
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-5 * (1 + Math.abs(want[i]!)), `element ${i}: ${got[i]} vs ${want[i]}`);
}

test('map: a data file truncated or rewritten in place after load fails the next run, naming file and tensor; one replaced by rename does not', linux, async () => {
  const rows = 16;
  const x = new Float32Array(rows * 256).map((_, i) => Math.sin(i));
  const fresh = (name: string) => {
    const w = writeModel(name, 3, rows);
    const model = withMode('map', () => loadOnnx(w.file, { cacheDir }));
    return { w, model };
  };
  // Truncated: the run throws (an fstat before the kernels), no kernel touches a lost page.
  {
    const { w, model } = fresh('truncated');
    assertClose(await runOnce(model, x, rows), reference(x, w.weights));
    fs.truncateSync(w.data, 100);
    await assert.rejects(runOnce(model, x, rows), (e: Error) => e.message.includes(w.data) && /changed after the model was loaded/.test(e.message) && e.message.includes("'w0'"));
    // Loading again reads the file as it now is: too short, a load error naming the tensor.
    assert.throws(() => withMode('map', () => loadOnnx(w.file)), /is shorter than offset .* of tensor 'w0'/);
  }
  // Rewritten in place, same size: the weights would change under the program; an error instead.
  {
    const { w, model } = fresh('rewritten');
    assertClose(await runOnce(model, x, rows), reference(x, w.weights));
    const fd = fs.openSync(w.data, 'r+');
    fs.writeSync(fd, new Float32Array(16).fill(7), 0, 64, 0);
    fs.closeSync(fd);
    fs.utimesSync(w.data, new Date(), new Date(Date.now() + 1000)); // a later mtime, whatever the clock's granularity
    await assert.rejects(runOnce(model, x, rows), /changed after the model was loaded/);
  }
  // Replaced by rename: the mapping keeps the old file, the model its weights.
  {
    const { w, model } = fresh('renamed');
    const other = writeModel('renamed_new', 3, rows);
    fs.renameSync(other.data, w.data);
    assertClose(await runOnce(model, x, rows), reference(x, w.weights));
    // A new load sees the new file.
    assertWeights(
      withMode('map', () => loadOnnx(w.file)),
      { ...w, weights: other.weights },
    );
  }
});

/**
 * The Add chain with its weights inline (raw_data in the model file), `layers` tensors whose
 * names grow by a character each, so their raw data start at every offset modulo 4.
 */
function writeInlineModel(name: string, layers: number, rows: number, dynamic = false): Written & { aligned: boolean[] } {
  const onnx = onnxNs();
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const r = mulberry32(name.length * 17 + layers);
  const weights = Array.from({ length: layers }, () => new Float32Array(rows * 256).map(() => r() * 2 - 1));
  const names = weights.map((_, l) => `w${'x'.repeat(l)}`);
  const initializer = weights.map((w, l) => onnx.TensorProto.create({ name: names[l], dims: [rows, 256], dataType: FLOAT, rawData: new Uint8Array(w.buffer) }));
  const node = names.map((n, l) => onnx.NodeProto.create({ opType: 'Add', input: [l === 0 ? 'x' : `h${l - 1}`, n], output: [`h${l}`] }));
  // Dynamic: x is [n, 256] (a dim_param), the weights [rows, 256] broadcast over it (rows = 1).
  const io = (n: string) => ({ name: n, type: { tensorType: { elemType: FLOAT, shape: { dim: [dynamic ? { dimParam: 'n' } : { dimValue: rows }, { dimValue: 256 }] } } } });
  const m = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: { name, node, initializer, input: [io('x')], output: [io(`h${layers - 1}`)] } });
  const file = path.join(tmp, `${name}.onnx`);
  const bytes = onnx.ModelProto.encode(m).finish();
  fs.writeFileSync(file, bytes);
  // Where each tensor's raw data sits in the file, from a decode of the written bytes.
  const aligned = onnx.ModelProto.decode(bytes).graph!.initializer!.map((t) => t.rawData!.byteOffset % 4 === 0);
  return { file, data: file, dataBytes: bytes.byteLength, weights, aligned };
}

test('map: a model file with inline weights is mapped, not read; its aligned tensors are views of the mapping, the others copies, all right', linux, async () => {
  const rows = 16;
  const w = writeInlineModel('inline', 8, rows);
  assert.ok(w.aligned.includes(true) && w.aligned.includes(false), `both kinds of offset: ${w.aligned}`);
  const before = rchar();
  const model = withMode('map', () => loadOnnx(w.file, { cacheDir }));
  const read = rchar() - before;
  assert.ok(read < w.dataBytes / 2, `read ${read} bytes of a ${w.dataBytes}-byte model: it should be mapped`);
  const got = assertWeights(model, w);
  assert.deepEqual(
    got.map((g) => mappedFileOf(g)?.file),
    w.aligned.map((a) => (a ? w.file : undefined)),
    'aligned inline tensors are views of the model file mapping, misaligned ones copies',
  );
  assert.equal(mappingsOf(w.file), 1);
  const x = new Float32Array(rows * 256).map((_, i) => Math.cos(i));
  const { h7 } = await model.run({ x: NDArray.from(x, [rows, 256]) });
  assertClose((await (h7 as NDArray).toTypedArray()) as Float32Array, reference(x, w.weights));
  // Read whole instead (KILN_EXTERNAL_DATA=file): every tensor a copy, no mapping of it.
  const read2 = withMode('file', () => loadOnnx(w.file));
  assert.ok(assertWeights(read2, w).every((g) => mappedFileOf(g) === undefined));
});

test('map: a model file with inline weights rewritten in place after load fails the next run, naming the model file and a tensor', linux, async () => {
  const rows = 16;
  const w = writeInlineModel('inline_rewritten', 8, rows);
  const model = withMode('map', () => loadOnnx(w.file, { cacheDir }));
  const x = new Float32Array(rows * 256).map((_, i) => Math.sin(i));
  const run = async () => ((await ((await model.run({ x: NDArray.from(x, [rows, 256]) })).h7 as NDArray).toTypedArray()) as Float32Array);
  assertClose(await run(), reference(x, w.weights));
  const fd = fs.openSync(w.file, 'r+');
  fs.writeSync(fd, new Uint8Array(64).fill(7), 0, 64, w.dataBytes - 64);
  fs.closeSync(fd);
  fs.utimesSync(w.file, new Date(), new Date(Date.now() + 1000));
  const first = w.aligned.indexOf(true);
  await assert.rejects(run(), (e: Error) => e.message.startsWith(`model file ${w.file} changed after the model was loaded`) && e.message.includes(`'w${'x'.repeat(first)}'`));
});

test('map: a model file with inline weights truncated after load: a build for new sizes is an error naming the file, never a read of a lost page', linux, async () => {
  const w = writeInlineModel('inline_truncated', 8, 1, true);
  // Per shape (dynamic: false), so each new size builds its graph from the model's tensors.
  const model = withMode('map', () => loadOnnx(w.file, { cacheDir, dynamic: false }));
  const x = (n: number) => new Float32Array(n * 256).map((_, i) => Math.sin(i + n));
  const expect = (n: number) => Float64Array.from(x(n), (v, i) => w.weights.reduce((acc, wl) => acc + wl[i % 256]!, v));
  const { h7 } = await model.run({ x: NDArray.from(x(4), [4, 256]) });
  assertClose((await (h7 as NDArray).toTypedArray()) as Float32Array, expect(4));
  fs.truncateSync(w.file, 100);
  await assert.rejects(model.run({ x: NDArray.from(x(5), [5, 256]) }), (e: Error) => e.message.includes(`model file ${w.file} changed after the model was loaded`));
});

test('map: the mapping goes when its model is collected', linux, async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const w = writeModel('collected', 4, 64);
  (() => {
    const model = withMode('map', () => loadOnnx(w.file));
    assert.equal(loadedWeights(model).length, 4);
  })();
  assert.equal(mappingsOf(w.data), 1);
  for (let i = 0; i < 50 && mappingsOf(w.data) > 0; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(mappingsOf(w.data), 0, 'unmapped once no tensor of it lives');
});
