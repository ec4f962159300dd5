// ONNX models with the integer element types UINT8, INT8, UINT16, INT16, UINT32 and UINT64:
// inputs and outputs, initializers from int32_data, uint64_data and raw_data, integer Div
// (truncating, exact past float32's 2^24), Mod, Cast (saturating from floats), MaxPool with
// padding (padded with the type's minimum), reductions, .pb tensors, and STRING at the
// boundary. Expected values are worked out by hand, as NumPy computes them.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import onnxProto from 'onnx-proto';

import { NDArray } from '../src/graph/ndarray.js';
import { loadOnnx } from '../src/api/load_onnx.js';
import { StringTensor } from '../src/onnx/string_tensor.js';
import { parseTensorPb } from '../src/onnx/tensor_file.js';

const { onnx } = onnxProto;
const AT = onnx.AttributeProto.AttributeType;
const T = onnx.TensorProto.DataType;
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-onnx-ints-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

type Attr = { name: string; i?: number; ints?: number[] };
type Node = { op: string; inputs: string[]; outputs: string[]; attrs?: Attr[] };
const vi = (name: string, elemType: number, dims: number[]) => ({ name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });

function model(nodes: Node[], inputs: ReturnType<typeof vi>[], outputs: ReturnType<typeof vi>[], initializer: object[] = []): Uint8Array {
  const attr = (a: Attr) => (a.ints ? { name: a.name, ints: a.ints, type: AT.INTS } : { name: a.name, i: a.i, type: AT.INT });
  const m = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      node: nodes.map((n, k) => ({ opType: n.op, input: n.inputs, output: n.outputs, name: `n${k}`, attribute: (n.attrs ?? []).map(attr) })),
      input: inputs,
      output: outputs,
      initializer,
    },
  });
  return onnx.ModelProto.encode(m).finish();
}
const load = (bytes: Uint8Array) => loadOnnx(bytes, { cacheDir, workers: 2 });
const data = async (a: unknown) => [...(await (a as NDArray).toTypedArray())];

test('integer inputs, outputs and initializers (int32_data, uint64_data, raw_data); Add wraps, Div truncates, Mod', async () => {
  const bytes = model(
    [
      { op: 'Add', inputs: ['a', 'k8'], outputs: ['sum8'] },
      { op: 'Div', inputs: ['a', 'd8'], outputs: ['q8'] },
      { op: 'Mod', inputs: ['s', 'm16'], outputs: ['r16'] },
      { op: 'Mod', inputs: ['s', 'm16'], outputs: ['f16'], attrs: [{ name: 'fmod', i: 1 }] },
      { op: 'Div', inputs: ['w', 'd32'], outputs: ['q32'] },
      { op: 'Mul', inputs: ['big', 'k64'], outputs: ['p64'] },
      { op: 'Max', inputs: ['big', 'raw64'], outputs: ['max64'] },
      { op: 'Sub', inputs: ['h', 'k16'], outputs: ['d16'] },
      { op: 'Add', inputs: ['small64', 'small64'], outputs: ['s64'] },
    ],
    [vi('a', T.UINT8, [4]), vi('s', T.INT16, [4]), vi('w', T.UINT32, [3]), vi('big', T.UINT64, [3]), vi('h', T.UINT16, [2])],
    [vi('sum8', T.UINT8, [4]), vi('q8', T.UINT8, [4]), vi('r16', T.INT16, [4]), vi('f16', T.INT16, [4]), vi('q32', T.UINT32, [3]), vi('p64', T.UINT64, [3]), vi('max64', T.UINT64, [3]), vi('d16', T.UINT16, [2]), vi('s64', T.UINT64, [2])],
    [
      { name: 'k8', dims: [4], dataType: T.UINT8, int32Data: [100, 200, 255, 1] },
      { name: 'd8', dims: [4], dataType: T.UINT8, int32Data: [7, 0, 3, 255] },
      { name: 'm16', dims: [4], dataType: T.INT16, int32Data: [3, -3, 3, -3] },
      // UINT32 lives in uint64_data; 4000000000 is past int32 and float32 is too coarse to divide it exactly.
      { name: 'd32', dims: [3], dataType: T.UINT32, uint64Data: [3, 7, 4000000000] },
      // protobufjs without the long package holds 64-bit fields as doubles: past 2^53 only
      // raw_data (what exporters write) is exact, so the big values come that way.
      { name: 'k64', dims: [3], dataType: T.UINT64, rawData: new Uint8Array(new BigUint64Array([3n, 2n ** 64n - 1n, 2n]).buffer) },
      { name: 'raw64', dims: [3], dataType: T.UINT64, rawData: new Uint8Array(new BigUint64Array([2n ** 63n + 5n, 1n, 2n ** 64n - 1n]).buffer) },
      { name: 'small64', dims: [2], dataType: T.UINT64, uint64Data: [2 ** 53, 9] },
      { name: 'k16', dims: [2], dataType: T.UINT16, rawData: new Uint8Array(new Uint16Array([1, 65535]).buffer) },
    ],
  );
  const m = load(bytes);
  assert.deepEqual(m.inputs.map((i) => i.dtype), ['uint8', 'int16', 'uint32', 'uint64', 'uint16']);
  const outs = await m.run({
    a: NDArray.from([200, 100, 7, 254], [4], { dtype: 'uint8' }),
    s: NDArray.from([-7, -7, 7, 7], [4], { dtype: 'int16' }),
    w: NDArray.from(new Uint32Array([4294967295, 4294967295, 4294967295]), [3]),
    big: NDArray.from([2n ** 63n + 1n, 2n ** 63n + 3n, 2n ** 64n - 7n], [3], { dtype: 'uint64' }),
    h: NDArray.from([0, 3], [2], { dtype: 'uint16' }),
  });
  assert.deepEqual(await data(outs.sum8), [44, 44, 6, 255]);
  // 100 / 0 is 0 (NumPy's answer; C would trap).
  assert.deepEqual(await data(outs.q8), [28, 0, 2, 0]);
  assert.deepEqual(await data(outs.r16), [2, -1, 1, -2]);
  assert.deepEqual(await data(outs.f16), [-1, -1, 1, 1]);
  assert.deepEqual(await data(outs.q32), [1431655765, 613566756, 1]);
  const M = 2n ** 64n;
  assert.deepEqual(await data(outs.p64), [(3n * (2n ** 63n + 1n)) % M, (M - 1n) * (2n ** 63n + 3n) % M, (2n * (M - 7n)) % M]);
  assert.deepEqual(await data(outs.max64), [2n ** 63n + 5n, 2n ** 63n + 3n, M - 1n]);
  assert.deepEqual(await data(outs.d16), [65535, 4]);
  assert.deepEqual(await data(outs.s64), [2n ** 54n, 18n]);
});

test('Cast between integer types wraps, from floats saturates (NaN → 0); ReduceSum keeps the type, ArgMax compares unsigned', async () => {
  const bytes = model(
    [
      { op: 'Cast', inputs: ['f'], outputs: ['u8'], attrs: [{ name: 'to', i: T.UINT8 }] },
      { op: 'Cast', inputs: ['f'], outputs: ['i8'], attrs: [{ name: 'to', i: T.INT8 }] },
      { op: 'Cast', inputs: ['f'], outputs: ['u32'], attrs: [{ name: 'to', i: T.UINT32 }] },
      { op: 'Cast', inputs: ['i'], outputs: ['iu16'], attrs: [{ name: 'to', i: T.UINT16 }] },
      { op: 'Cast', inputs: ['i'], outputs: ['ii8'], attrs: [{ name: 'to', i: T.INT8 }] },
      { op: 'ReduceSum', inputs: ['u', 'axes'], outputs: ['usum'], attrs: [{ name: 'keepdims', i: 0 }] },
      { op: 'ArgMax', inputs: ['v'], outputs: ['amax'], attrs: [{ name: 'axis', i: 0 }, { name: 'keepdims', i: 0 }] },
    ],
    [vi('f', T.FLOAT, [7]), vi('i', T.INT64, [4]), vi('u', T.UINT8, [2, 3]), vi('v', T.UINT32, [4])],
    [vi('u8', T.UINT8, [7]), vi('i8', T.INT8, [7]), vi('u32', T.UINT32, [7]), vi('iu16', T.UINT16, [4]), vi('ii8', T.INT8, [4]), vi('usum', T.UINT8, [2]), vi('amax', T.INT64, [])],
    [{ name: 'axes', dims: [1], dataType: T.INT64, int64Data: [1] }],
  );
  const m = load(bytes);
  const outs = await m.run({
    f: NDArray.from(new Float32Array([NaN, -1, 300.7, 127.9, -200, 5e9, Infinity]), [7]),
    i: NDArray.from([-1n, 65536n + 3n, 2n ** 40n + 130n, -129n], [4], { dtype: 'int64' }),
    u: NDArray.from([200, 100, 1, 255, 255, 255], [2, 3], { dtype: 'uint8' }),
    v: NDArray.from(new Uint32Array([5, 2147483648, 4294967295, 7]), [4]),
  });
  assert.deepEqual(await data(outs.u8), [0, 0, 255, 127, 0, 255, 255]);
  assert.deepEqual(await data(outs.i8), [0, -1, 127, 127, -128, 127, 127]);
  assert.deepEqual(await data(outs.u32), [0, 0, 300, 127, 0, 4294967295, 4294967295]);
  assert.deepEqual(await data(outs.iu16), [65535, 3, 130, 65407]);
  assert.deepEqual(await data(outs.ii8), [-1, 3, -126, 127]);
  assert.deepEqual(await data(outs.usum), [45, 253]);
  assert.deepEqual(await data(outs.amax), [2n]);
});

test('MaxPool of int8 and uint8 pads with the type minimum, so padding never wins', async () => {
  const bytes = model(
    [
      { op: 'MaxPool', inputs: ['x'], outputs: ['y'], attrs: [{ name: 'kernel_shape', ints: [2, 2] }, { name: 'pads', ints: [1, 1, 1, 1] }] },
      { op: 'MaxPool', inputs: ['u'], outputs: ['z'], attrs: [{ name: 'kernel_shape', ints: [2, 2] }, { name: 'pads', ints: [1, 1, 0, 0] }] },
    ],
    [vi('x', T.INT8, [1, 1, 2, 2]), vi('u', T.UINT8, [1, 1, 2, 2])],
    [vi('y', T.INT8, [1, 1, 3, 3]), vi('z', T.UINT8, [1, 1, 2, 2])],
  );
  const m = load(bytes);
  const { y, z } = await m.run({ x: NDArray.from([-5, -100, -128, -1], [1, 1, 2, 2], { dtype: 'int8' }), u: NDArray.from([0, 7, 200, 3], [1, 1, 2, 2], { dtype: 'uint8' }) });
  assert.deepEqual(await data(y), [-5, -5, -100, -5, -1, -1, -128, -1, -1]);
  assert.deepEqual(await data(z), [0, 7, 200, 200]);
});

test('.pb tensors of every integer type read exactly; STRING casts to and from them', async () => {
  const pb = (t: object) => parseTensorPb(onnx.TensorProto.encode(t).finish()) as NDArray;
  assert.deepEqual([...pb({ dims: [2], dataType: T.INT8, int32Data: [-128, 127] }).toTypedArraySync()], [-128, 127]);
  assert.deepEqual([...pb({ dims: [2], dataType: T.UINT16, int32Data: [65535, 1] }).toTypedArraySync()], [65535, 1]);
  assert.deepEqual([...pb({ dims: [2], dataType: T.UINT32, uint64Data: [4294967295, 2] }).toTypedArraySync()], [4294967295, 2]);
  assert.deepEqual([...pb({ dims: [2], dataType: T.UINT64, uint64Data: [2 ** 60, 7] }).toTypedArraySync()], [2n ** 60n, 7n]);
  assert.deepEqual([...pb({ dims: [1], dataType: T.UINT64, rawData: new Uint8Array(new BigUint64Array([2n ** 64n - 1n]).buffer) }).toTypedArraySync()], [2n ** 64n - 1n]);
  assert.equal(pb({ dims: [1], dataType: T.UINT8, rawData: new Uint8Array([250]) }).dtype, 'uint8');

  const bytes = model(
    [
      { op: 'Cast', inputs: ['s'], outputs: ['u8'], attrs: [{ name: 'to', i: T.UINT8 }] },
      { op: 'Cast', inputs: ['s'], outputs: ['u64'], attrs: [{ name: 'to', i: T.UINT64 }] },
      { op: 'Cast', inputs: ['u64'], outputs: ['back'], attrs: [{ name: 'to', i: T.STRING }] },
    ],
    [vi('s', T.STRING, [5])],
    [vi('u8', T.UINT8, [5]), vi('back', T.STRING, [5])],
  );
  const m = load(bytes);
  const { u8, back } = await m.runValues({ s: new StringTensor(['18446744073709551615', '-3', '300', '2.9', 'INF'], [5]) });
  assert.deepEqual(await data(u8), [255, 0, 255, 2, 255]);
  assert.deepEqual((back as StringTensor).data, ['18446744073709551615', '0', '300', '2', '18446744073709551615']);
});
