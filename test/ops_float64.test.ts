// float64 end to end: the same kernels in double precision, checked against the float64
// reference with a tolerance float32 could never meet (1e-12), so a silent float32 detour
// anywhere in the pipeline fails.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NDArray } from '../src/graph/ndarray.js';
import { compile, layerNorm, where } from '../src/index.js';
import { randn, refTest } from './helpers.js';

const f64 = (a: NDArray) => NDArray.from(Float64Array.from(a.toTypedArraySync() as Float32Array, (v) => v * 1.000000123), a.shape, { dtype: 'float64' });
const tight = { rtol: 1e-12, atol: 1e-13 };

refTest('float64 pointwise: exp, log, tanh, erf, gelu, sigmoid, pow, mod, broadcasting', (a, b) => [
  a.exp().add(b).tanh(),
  a.abs().add(0.5).log().mul(b.erf()),
  a.gelu().sub(b.sigmoid()),
  a.abs().pow(1.5).remainder(0.7),
  where(a.gt(b), a, b.mul(2)),
], () => [f64(randn([7, 13], 901)), f64(randn([13], 902))], tight);

refTest('float64 reductions and row kernels: sum, max, mean, softmax, log-softmax, layer norm, argmax', (a) => [
  a.sum(-1), a.max(0), a.mean([0, 1]), a.softmax(-1), a.logSoftmax(0), layerNorm(a, [13]), a.argmax(-1),
], () => [f64(randn([11, 13], 903))], tight);

refTest('float64 matmul (batched, transposed operand) with epilogue', (a, b) => a.matmul(b.transpose(-1, -2)).add(1).relu(), () => [f64(randn([3, 9, 17], 904)), f64(randn([3, 5, 17], 905))], tight);

refTest('float64 casts and promotion: float32 + float64, int to float64, float64 to int', (a, b, c) => [
  a.add(b), c.to('float64').mul(0.5), b.mul(3).to('int32'), b.add(1.25),
], () => [randn([4, 6], 906), f64(randn([4, 6], 907)), NDArray.from(Int32Array.from({ length: 24 }, (_, i) => i - 11), [4, 6], { dtype: 'int32' })], tight);

// Issue 14 item 11: a typed array without a dtype is its own dtype; only plain numbers default
// to float32. A Float64Array used to become float32 silently (1 + 1e-12 -> 1).

test('NDArray.from infers each typed array its own dtype (Float64Array is float64)', async () => {
  const cases: [ArrayLike<number> | ArrayLike<bigint>, string][] = [
    [new Float64Array([1 + 1e-12]), 'float64'], [new Float32Array([1]), 'float32'],
    [new Int8Array([1]), 'int8'], [new Int16Array([1]), 'int16'], [new Int32Array([1]), 'int32'],
    [new Uint32Array([1]), 'uint32'], [new BigInt64Array([1n]), 'int64'], [new BigUint64Array([1n]), 'uint64'],
    [new Uint8Array([1]), 'bool'], [[1.5], 'float32'],
  ];
  for (const [data, dtype] of cases) assert.equal(NDArray.from(data, [1]).dtype, dtype, `${data.constructor.name}`);
  const x = NDArray.from(new Float64Array([1 + 1e-12, 2]), [2]);
  assert.equal(x.toArraySync()[0], 1 + 1e-12);
  const y = await compile((t) => t.add(0))(x);
  assert.equal(y.dtype, 'float64');
  assert.equal((await y.toArray())[0], 1 + 1e-12);
  assert.equal(NDArray.from(new Float64Array([1 + 1e-12]), [1], { dtype: 'float32' }).toArraySync()[0], 1);
});

test('a Float64Array fed to an ONNX model input of float32 is a clear error, not a silent conversion', async () => {
  const { loadOnnx, OnnxInputError } = await import('../src/index.js');
  const model = loadOnnx('examples/mlp.onnx', { workers: 2 });
  const name = model.inputNames[0]!;
  const shape = [...model.inputs[0]!.shape] as number[];
  const n = shape.reduce((a, b) => a * b, 1);
  await assert.rejects(model.run({ [name]: NDArray.from(new Float64Array(n), shape) }), (e: Error) => e instanceof OnnxInputError && /expects float32.*got float64/.test(e.message));
  const ok = await model.run({ [name]: NDArray.from(new Float64Array(n), shape, { dtype: 'float32' }) });
  assert.ok(Object.keys(ok).length > 0);
});
