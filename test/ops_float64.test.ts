// float64 end to end: the same kernels in double precision, checked against the float64
// reference with a tolerance float32 could never meet (1e-12), so a silent float32 detour
// anywhere in the pipeline fails.

import { NDArray } from '../src/frontend/ndarray.js';
import { layerNorm, where } from '../src/index.js';
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
