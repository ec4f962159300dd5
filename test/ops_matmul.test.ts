// matmul against the reference: 2-D with odd sizes, batched 3-D/4-D with batch broadcasting,
// 1-D operands on either side, int matmul, captured weights, views as operands and epilogues.

import { NDArray } from '../src/graph/ndarray.js';
import { randInt, randn, refTest } from './helpers.js';

// Dot products of length K in float32: error grows like √K·ε·|terms|.
const tol = { atol: 1e-4, rtol: 1e-4 };

refTest('2-D [7,13]@[13,5]', (a, b) => a.matmul(b), () => [randn([7, 13], 301), randn([13, 5], 302)], tol);
refTest('2-D odd sizes 33x17@17x29', (a, b) => a.matmul(b), () => [randn([33, 17], 303), randn([17, 29], 304)], tol);
refTest('degenerate 2-D: [1,1]@[1,1], [1,7]@[7,1], [7,1]@[1,7]', (a, b, c, d) => [a.matmul(a), c.matmul(d), d.matmul(c)], () => [randn([1, 1], 305), randn([1, 1], 306), randn([1, 7], 307), randn([7, 1], 308)], tol);
refTest('a larger 2-D 64x96@96x80', (a, b) => a.matmul(b), () => [randn([64, 96], 309), randn([96, 80], 310)], { atol: 3e-4, rtol: 1e-4 });

refTest('batched 3-D [3,5,7]@[3,7,4]', (a, b) => a.matmul(b), () => [randn([3, 5, 7], 311), randn([3, 7, 4], 312)], tol);
refTest('batched 4-D [2,3,5,7]@[2,3,7,4]', (a, b) => a.matmul(b), () => [randn([2, 3, 5, 7], 313), randn([2, 3, 7, 4], 314)], tol);
refTest('batch broadcasting [2,1,5,7]@[3,7,4]', (a, b) => a.matmul(b), () => [randn([2, 1, 5, 7], 315), randn([3, 7, 4], 316)], tol);
refTest('batch broadcasting [5,7]@[3,7,4] and [2,3,5,7]@[7,4]', (a, b, c) => [a.matmul(b), c.matmul(a.transpose(0, 1).slice(1, 0, 4))], () => [randn([5, 7], 317), randn([3, 7, 4], 318), randn([2, 3, 5, 7], 319)], tol);
refTest('batch broadcasting [1,5,7]@[3,7,4] and [3,5,7]@[1,7,4]', (a, b, c, d) => [a.matmul(b), c.matmul(d)], () => [randn([1, 5, 7], 320), randn([3, 7, 4], 321), randn([3, 5, 7], 322), randn([1, 7, 4], 323)], tol);

refTest(
  '1-D operands: 1-D@2-D, 2-D@1-D, 1-D@1-D, 1-D@3-D, 3-D@1-D',
  (v, m, w, t) => [v.matmul(m), m.matmul(w), w.matmul(w), v.matmul(t), t.matmul(v.slice(0, 0, 5))],
  () => [randn([13], 324), randn([13, 5], 325), randn([5], 326), randn([2, 13, 5], 327)],
  tol,
);

refTest('int32 matmul is exact', (a, b) => [a.matmul(b), a.matmul(b.slice(1, 0, 1).squeeze(1))], () => [randInt([5, 7], -5, 6, 328), randInt([7, 3], -5, 6, 329)]);
refTest('int64 matmul and int32@float32 promotion', (a, b, f) => [a.matmul(b), a.to('int32').matmul(f)], () => [randInt([3, 4], -5, 6, 330, 'int64'), randInt([4, 5], -5, 6, 331, 'int64'), randn([4, 2], 332)], tol);

{
  const w = randn([13, 6], 333);
  const bias = randn([6], 334);
  refTest('matmul with captured weights, bias and relu epilogue', (x) => x.matmul(w).add(bias).relu(), () => [randn([9, 13], 335)], tol);
  refTest('matmul of views: transposed, sliced and permuted operands', (x, y) => [x.transpose(0, 1).matmul(y), x.slice(0, 1, 9, 2).matmul(w), y.reshape([3, 3, 6]).permute([0, 2, 1]).matmul(y.reshape([3, 3, 6]))], () => [randn([9, 13], 336), randn([9, 6], 337)], tol);
}

refTest(
  'matmul then reduce and matmul of computed operands',
  (a, b) => [a.matmul(b).sum(-1), a.exp().matmul(b.tanh()).max(0), a.matmul(b).softmax(-1)],
  () => [randn([6, 11], 338), randn([11, 7], 339)],
  tol,
);

{
  // The same captured matrix used three times is one parameter.
  const m = NDArray.from(Float32Array.from({ length: 25 }, (_, i) => ((i * 7) % 11) / 11 - 0.5), [5, 5]);
  refTest('a chain of matmuls with a captured matrix used three times', (x) => x.matmul(m).tanh().matmul(m).matmul(m), () => [randn([4, 5], 340)], tol);
}
