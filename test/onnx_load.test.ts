// loadOnnx's contract around errors and inputs: a file that is not a model, one error that
// lists every unsupported feature, feed checking, shape arguments fed as graph inputs (the
// graph is specialised on their values), and .npy reading/writing.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { byteSize } from '../src/graph/dtype.js';
import { NDArray } from '../src/graph/ndarray.js';
import { OnnxInputError, OnnxParseError, OnnxUnsupportedError } from '../src/onnx/errors.js';
import { loadOnnx } from '../src/api/load_onnx.js';
import { encodeNpy, parseNpy, readNpy, writeNpy } from '../src/onnx/npy.js';
import { AT, F, I64, model, onnx, vi } from './onnx_writer.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-onnx-load-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const cacheDir = path.join(tmp, 'cache');


test('a file that is not an ONNX model: OnnxParseError naming the file', () => {
  const junk = path.join(tmp, 'junk.onnx');
  fs.writeFileSync(junk, 'this is not a protobuf at all, just some text\n');
  assert.throws(() => loadOnnx(junk), (e: Error) => e instanceof OnnxParseError && e.message.startsWith(`${junk}: not a valid ONNX model`));
  const good = model({ nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }], inputs: [vi('x', F, [2])], outputs: [vi('y', F, [2])] });
  const truncated = path.join(tmp, 'truncated.onnx');
  fs.writeFileSync(truncated, good.subarray(0, good.length - 7));
  assert.throws(() => loadOnnx(truncated), OnnxParseError);
  assert.throws(() => loadOnnx(new Uint8Array(0)), OnnxParseError);
  assert.throws(() => loadOnnx(path.join(tmp, 'missing.onnx')), /missing\.onnx: no such file/);
});

test('unsupported features: one error listing every op, attribute value and dtype with node names', () => {
  const bytes = model({
    nodes: [
      { op: 'MaxUnpool', inputs: ['x', 'w'], outputs: ['a'], name: 'unpool1' },
      { op: 'Cast', inputs: ['a'], outputs: ['b'], name: 'to_f8', attrs: [{ name: 'to', i: 17 /* FLOAT8E4M3FN */, type: AT.INT }] },
      { op: 'Pad', inputs: ['b', 'pads'], outputs: ['c'], name: 'pad1', attrs: [{ name: 'mode', s: 'mirror', type: AT.STRING }] },
      { op: 'NonMaxSuppression', inputs: ['c'], outputs: ['d'], name: 'nms' },
      { op: 'Custom', inputs: ['d'], outputs: ['y'], name: 'mine', domain: 'com.example' },
    ],
    inputs: [vi('x', F, [1, 2, 3, 3]), vi('w', 14 /* COMPLEX64 */, [2, 2, 1, 1])],
    outputs: [vi('y', F, [1])],
    initializers: [{ name: 'pads', dims: [8], dataType: I64, int64Data: [0, 0, 0, 0, 0, 0, 0, 0] }],
  });
  assert.throws(
    () => loadOnnx(bytes),
    (e: Error) => {
      assert.ok(e instanceof OnnxUnsupportedError);
      const m = e.message;
      for (const want of ["MaxUnpool is not supported (node 'unpool1')", "NonMaxSuppression is not supported (node 'nms')", "com.example.Custom is not supported (node 'mine')",
        "Cast 'to_f8': to=FLOAT8E4M3FN", "Pad 'pad1': mode='mirror'", "graph input 'w': element type COMPLEX64"]) {
        assert.ok(m.includes(want), `missing "${want}" in:\n${m}`);
      }
      assert.equal(e.issues.length, 6);
      return true;
    },
  );
});

test('feeds are checked: missing and unknown names, shapes, dtypes', async () => {
  const m = loadOnnx(
    model({
      nodes: [{ op: 'Add', inputs: ['a', 'b'], outputs: ['y'] }],
      inputs: [vi('a', F, [2, 3]), vi('b', F, [3])],
      outputs: [vi('y', F, [2, 3])],
    }),
    { cacheDir, workers: 0 },
  );
  const a = NDArray.from(new Float32Array(6).fill(1), [2, 3]);
  const b = NDArray.from(new Float32Array([1, 2, 3]), [3]);
  await assert.rejects(m.run({ a }), (e: Error) => e instanceof OnnxInputError && /missing input 'b'/.test(e.message) && /a: float32\[2,3\]/.test(e.message));
  await assert.rejects(m.run({ a, b, c: b }), /unknown input 'c'/);
  await assert.rejects(m.run({ a, b: a }), /input 'b' expects float32\[3\], got float32\[2,3\]/);
  await assert.rejects(m.run({ a, b: NDArray.from(new Int32Array(3), [3], { dtype: 'int32' }) }), /input 'b' expects float32\[3\], got int32\[3\]/);
  const { y } = await m.run({ a, b });
  assert.deepEqual([...(await (y as NDArray).toTypedArray())], [2, 3, 4, 2, 3, 4]);
});

test('a shape fed as a graph input: the graph is built once per distinct value', async () => {
  const m = loadOnnx(
    model({
      nodes: [{ op: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] }],
      inputs: [vi('x', F, [2, 3]), vi('shape', I64, [2])],
      outputs: [vi('y', F, ['?', '?'])],
    }),
    { cacheDir, workers: 0 },
  );
  assert.deepEqual(m.valueInputs, ['shape']);
  const x = NDArray.from(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
  const r1 = await m.run({ x, shape: NDArray.from(new BigInt64Array([3n, 2n]), [2], { dtype: 'int64' }) });
  assert.deepEqual(r1.y!.shape, [3, 2]);
  const r2 = await m.run({ x, shape: NDArray.from(new BigInt64Array([1n, -1n]), [2], { dtype: 'int64' }) });
  assert.deepEqual(r2.y!.shape, [1, 6]);
  assert.deepEqual([...(await (r2.y as NDArray).toTypedArray())], [1, 2, 3, 4, 5, 6]);
});

test('a shape computed from runtime data is unsupported (no dynamic shapes)', () => {
  assert.throws(
    () =>
      loadOnnx(
        model({
          nodes: [
            { op: 'Cast', inputs: ['x'], outputs: ['s'], attrs: [{ name: 'to', i: I64, type: AT.INT }] },
            { op: 'Reshape', inputs: ['x', 's'], outputs: ['y'], name: 'r' },
          ],
          inputs: [vi('x', F, [64])],
          outputs: [vi('y', F, ['?'])],
        }),
      ),
    (e: Error) => e instanceof OnnxUnsupportedError && /Reshape 'r': the target shape must be known at load time/.test(e.message),
  );
});

test('.npy: round trip of every dtype, a float64 file built by hand, clear errors', async () => {
  const arrays = [
    NDArray.from(new Float32Array([1.5, -2, 3, 4, 5, 6]), [2, 3]),
    NDArray.from(new Int32Array([1, -2, 3]), [3], { dtype: 'int32' }),
    NDArray.from(new BigInt64Array([1n, -(2n ** 40n)]), [2, 1], { dtype: 'int64' }),
    NDArray.from(new Uint8Array([1, 0, 1, 1]), [2, 2], { dtype: 'bool' }),
    NDArray.from(new Float32Array([7]), []),
    NDArray.from(new Float64Array([0.1, -1e300, 3]), [3], { dtype: 'float64' }),
    NDArray.from(new Int8Array([-128, 127, -1]), [3]),
    NDArray.from(new Uint8Array([0, 255, 7]), [3], { dtype: 'uint8' }),
    NDArray.from(new Int16Array([-32768, 32767, 5]), [3]),
    NDArray.from(new Uint16Array([65535, 0, 9]), [3], { dtype: 'uint16' }),
    NDArray.from(new Uint32Array([4294967295, 2 ** 31, 1]), [3]),
    NDArray.from(new BigUint64Array([2n ** 64n - 1n, 2n ** 63n + 1n]), [2]),
  ];
  for (const a of arrays) {
    const file = path.join(tmp, `a_${a.dtype}_${a.shape.length}.npy`);
    await writeNpy(file, a);
    const b = readNpy(file);
    assert.equal(b.dtype, a.dtype);
    assert.deepEqual(b.shape, a.shape);
    assert.deepEqual([...b.toTypedArraySync()], [...a.toTypedArraySync()]);
    assert.equal((fs.readFileSync(file).length - a.size * byteSize(a.dtype)) % 64, 0);
  }
  // A float64 file written by hand (as NumPy writes its default dtype) reads as float64.
  const f32 = await encodeNpy(NDArray.from(new Float32Array([0.5, 2]), [2]));
  const start = 10 + (f32[8]! | (f32[9]! << 8));
  const header = new TextDecoder().decode(f32.subarray(10, start)).replace("'<f4'", "'<f8'");
  const f64 = new Uint8Array(start + 16);
  f64.set(f32.subarray(0, 10));
  f64.set(new TextEncoder().encode(header), 10);
  f64.set(new Uint8Array(new Float64Array([0.5, 2]).buffer), start);
  const r = parseNpy(f64);
  assert.equal(r.dtype, 'float64');
  assert.deepEqual([...r.toTypedArraySync()], [0.5, 2]);
  assert.throws(() => parseNpy(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), 'x.npy'), /x\.npy: not a \.npy file/);
  const c8 = new TextDecoder().decode(f32.subarray(10, start)).replace("'<f4'", "'<c8'");
  const bad = new Uint8Array(f32);
  bad.set(new TextEncoder().encode(c8), 10);
  assert.throws(() => parseNpy(bad, 'c.npy'), /dtype '<c8' is not supported/);
  // One-byte types read whatever byte order they claim ('|u1' is NumPy's own spelling).
  const u1 = new TextDecoder().decode(f32.subarray(10, start)).replace("'<f4'", "'<u1'").replace('(2,)', '(8,)');
  const bytes8 = new Uint8Array(f32);
  bytes8.set(new TextEncoder().encode(u1), 10);
  const r8 = parseNpy(bytes8);
  assert.equal(r8.dtype, 'uint8');
  assert.deepEqual([...r8.toTypedArraySync()], [...f32.subarray(start, start + 8)]);
});

async function run1(bytes: Uint8Array, feeds: Record<string, NDArray>) {
  const m = loadOnnx(bytes, { cacheDir, workers: 0 });
  const outs = await m.run(feeds);
  const res: Record<string, { shape: readonly number[]; data: number[] }> = {};
  for (const [k, v] of Object.entries(outs)) res[k] = { shape: v.shape, data: [...(await (v as NDArray).toTypedArray())].map(Number) };
  return res;
}

const close = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]!) <= 1e-5 + 1e-4 * Math.abs(b[i]!));

test('opset 18: ReduceMean axes as an input, Split num_outputs, Pad axes', async () => {
  const x = NDArray.from(Float32Array.from({ length: 10 }, (_, i) => i), [2, 5]);
  const r = await run1(
    model({
      opset: 18,
      nodes: [
        { op: 'ReduceMean', inputs: ['x', 'ax'], outputs: ['m'], attrs: [{ name: 'keepdims', i: 0, type: AT.INT }] },
        { op: 'Split', inputs: ['x'], outputs: ['s0', 's1', 's2'], attrs: [{ name: 'axis', i: 1, type: AT.INT }, { name: 'num_outputs', i: 3, type: AT.INT }] },
        { op: 'Pad', inputs: ['x', 'pads', 'cv', 'pax'], outputs: ['p'] },
      ],
      inputs: [vi('x', F, [2, 5])],
      outputs: [vi('m', F, [2]), vi('s0', F, [2, 2]), vi('s1', F, [2, 2]), vi('s2', F, [2, 1]), vi('p', F, [2, 8])],
      initializers: [
        { name: 'ax', dims: [1], dataType: I64, int64Data: [-1] },
        { name: 'pads', dims: [2], dataType: I64, int64Data: [1, 2] },
        { name: 'cv', dims: [], dataType: F, floatData: [-1] },
        { name: 'pax', dims: [1], dataType: I64, int64Data: [1] },
      ],
    }),
    { x },
  );
  assert.deepEqual(r.m!.data, [2, 7]);
  assert.deepEqual([r.s0!.data, r.s1!.data, r.s2!.data], [[0, 1, 5, 6], [2, 3, 7, 8], [4, 9]]);
  assert.deepEqual(r.p!.data, [-1, 0, 1, 2, 3, 4, -1, -1, -1, 5, 6, 7, 8, 9, -1, -1]);
});

test('LayerNormalization Mean/InvStdDev outputs; Softmax before opset 13 flattens at axis', async () => {
  const data = [1, 2, 3, 4, 0, -1, 2, 8];
  const x = NDArray.from(Float32Array.from(data), [2, 4]);
  const ln = await run1(
    model({
      nodes: [{ op: 'LayerNormalization', inputs: ['x', 'g'], outputs: ['y', 'mean', 'inv'] }],
      inputs: [vi('x', F, [2, 4])],
      outputs: [vi('y', F, [2, 4]), vi('mean', F, [2, 1]), vi('inv', F, [2, 1])],
      initializers: [{ name: 'g', dims: [4], dataType: F, floatData: [1, 1, 1, 1] }],
    }),
    { x },
  );
  assert.deepEqual(ln.mean!.data, [2.5, 2.25]);
  assert.ok(close(ln.inv!.data, [1 / Math.sqrt(1.25 + 1e-5), 1 / Math.sqrt(12.1875 + 1e-5)]));
  const x3 = NDArray.from(Float32Array.from(data), [2, 2, 2]);
  const sm = await run1(
    model({
      opset: 11,
      nodes: [{ op: 'Softmax', inputs: ['x'], outputs: ['y'], attrs: [{ name: 'axis', i: 1, type: AT.INT }] }],
      inputs: [vi('x', F, [2, 2, 2])],
      outputs: [vi('y', F, [2, 2, 2])],
    }),
    { x: x3 },
  );
  // Opset 11: one softmax over each row of the [2, 4] flattening, not over dim 1 alone.
  const rows = [data.slice(0, 4), data.slice(4)].flatMap((row) => {
    const e = row.map((v) => Math.exp(v - Math.max(...row)));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  });
  assert.ok(close(sm.y!.data, rows));
});

test('model-local functions (as the dynamo exporter emits) are inlined, attribute references resolved', async () => {
  const m = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 18 }, { domain: 'local', version: 1 }],
    functions: [
      {
        name: 'ScaledRelu',
        domain: 'local',
        input: ['X'],
        output: ['Y'],
        attribute: ['alpha'],
        opsetImport: [{ domain: '', version: 18 }],
        node: [
          { opType: 'Constant', output: ['a'], attribute: [{ name: 'value_float', refAttrName: 'alpha', type: AT.FLOAT }] },
          { opType: 'Relu', input: ['X'], output: ['r'] },
          { opType: 'Mul', input: ['r', 'a'], output: ['Y'] },
        ],
      },
    ],
    graph: {
      name: 'g',
      node: [
        { opType: 'ScaledRelu', domain: 'local', input: ['x'], output: ['h'], name: 'call1', attribute: [{ name: 'alpha', f: 2, type: AT.FLOAT }] },
        { opType: 'ScaledRelu', domain: 'local', input: ['h'], output: ['y'], name: 'call2', attribute: [{ name: 'alpha', f: 3, type: AT.FLOAT }] },
      ],
      input: [vi('x', F, [4])],
      output: [vi('y', F, [4])],
    },
  });
  const r = await run1(onnx.ModelProto.encode(m).finish(), { x: NDArray.from(new Float32Array([-1, 0, 1, 2]), [4]) });
  assert.deepEqual(r.y!.data, [0, 0, 6, 12]);
});
