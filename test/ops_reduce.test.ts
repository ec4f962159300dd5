// Reductions (sum mean max min prod argmax argmin) and cumsum against the reference: dims
// undefined / number / negative / array, keepdim both ways, odd sizes, size-1 dims, int and
// bool inputs, and reductions composed with views and pointwise ops.

import { f32, randBool, randInt, randIntF32, randn, randu, refTest } from './helpers.js';

// Float sums in float32 against float64 accumulate ~n·ε of error; atol covers sums near zero.
const tol = { atol: 1e-4 };

refTest(
  'sum/mean/max/min over all dims and over each dim of [7,13]',
  (x) => [x.sum(), x.mean(), x.max(), x.min(), x.sum(0), x.sum(1), x.mean(-1), x.max(0), x.min(-1), x.sum(undefined, true), x.max(1, true), x.mean(0, true)],
  () => [randn([7, 13], 101)],
  { ...tol, names: ['sum', 'mean', 'max', 'min', 'sum 0', 'sum 1', 'mean -1', 'max 0', 'min -1', 'sum keep', 'max 1 keep', 'mean 0 keep'] },
);

refTest(
  'reductions over dim arrays of [3,5,7], keepdim both ways',
  (x) => [x.sum([0, 2]), x.sum([0, 2], true), x.max([-1, -3]), x.min([1, 2], true), x.mean([0, 1]), x.sum([0, 1, 2]), x.max([2, 0], true)],
  () => [randn([3, 5, 7], 102)],
  tol,
);

refTest(
  'prod over dims on values near 1',
  (x) => [x.prod(), x.prod(1), x.prod([0, 2], true), x.prod(-1)],
  () => [randu([3, 5, 7], 103, 0.7, 1.3)],
  tol,
);

refTest(
  'reductions over size-1 dims and of [3,1,5]',
  (x) => [x.sum(1), x.sum(1, true), x.max(1), x.mean([0, 1]), x.min(-1, true), x.prod(1)],
  () => [randn([3, 1, 5], 104)],
  tol,
);

refTest(
  'a long row: sum and max over [4,1000]',
  (x) => [x.sum(-1), x.max(-1), x.mean(-1, true), x.min(0)],
  () => [randn([4, 1000], 105)],
  { atol: 5e-4 },
);

refTest(
  'argmax/argmin over each dim, keepdim, selectLast',
  (x) => [x.argmax(), x.argmin(), x.argmax(0), x.argmin(1, true), x.argmax(-1, true), x.argmin(0, false)],
  () => [randn([7, 13], 106)],
);

refTest(
  'argmax/argmin ties: first index by default, last with selectLast',
  (x) => [x.argmax(1), x.argmin(1), x.argmax(1, false, true), x.argmin(1, false, true), x.argmax(0), x.argmin(0, true, true)],
  () => [randIntF32([9, 11], 0, 3, 107)],
);

refTest(
  'int32 reductions are exact and stay int32; mean of int32 is float',
  (x) => [x.sum(), x.sum(0), x.max(1), x.min(-1, true), x.prod(0), x.argmax(1), x.mean(1)],
  () => [randInt([5, 7], -4, 5, 108)],
);

refTest(
  'int64 reductions',
  (x) => [x.sum(1), x.max(0), x.min(), x.argmin(0)],
  () => [randInt([5, 7], -1000, 1000, 109, 'int64')],
);

refTest(
  'sum of bool counts trues (int64); max/min of bool',
  (b) => [b.sum(), b.sum(0), b.sum(-1, true), b.max(1), b.min(0), b.to('int32').sum(1)],
  () => [randBool([7, 13], 110)],
);

refTest(
  'reductions composed with pointwise ops: x - mean, sum of squares, max of exp',
  (x) => [x.sub(x.mean(-1, true)), x.mul(x).sum(-1).sqrt(), x.exp().max(0), x.abs().add(1).log().sum([0, 1])],
  () => [randn([7, 13], 111)],
  tol,
);

refTest(
  'slice then reduce; permute then reduce; reduce then broadcast back',
  (x) => [x.slice(1, 2, 11, 3).sum(1), x.slice(0, -1, undefined, -2).max(0), x.transpose(0, 1).sum(1), x.sum(0, true).mul(x)],
  () => [randn([7, 13], 112)],
  tol,
);

refTest(
  'cumsum: inclusive, exclusive, reverse, along each dim',
  (x) => [x.cumsum(0), x.cumsum(1), x.cumsum(-1, true), x.cumsum(-1, false, true), x.cumsum(0, true, true)],
  () => [randn([7, 13], 113)],
  tol,
);

refTest(
  'cumsum of int32 and bool is exact',
  (i, b) => [i.cumsum(1), i.cumsum(0, true, true), b.cumsum(-1), b.cumsum(0, true)],
  () => [randInt([5, 7], -9, 10, 114), randBool([5, 7], 115)],
);

refTest('reduce a 0-d result further: sum of a scalar and of [1]', (x) => [x.sum().sum(), x.max().add(x.min())], () => [f32([3, -1, 4, 1, -5], [5])]);

// Reductions over a leading axis read along columns: both backends put a block of
// neighbouring outputs innermost (CPU: column_loops.ts, CUDA: column_reduction.ts). Output
// counts that are not multiples of the block, index reductions with ties and NaN, int and
// bool inputs, several reductions in one kernel, a reduction over two leading dims.
refTest(
  'column reductions: sum/mean/max/min/argmax/argmin over leading axes, 300 and 1000 outputs',
  (x, y) => [x.sum(0), x.mean(0), x.max(0), x.min(0), x.argmax(0), x.argmin(0), y.sum([0, 1]), y.max([0, 1])],
  () => [randn([257, 300], 116), randn([5, 9, 1000], 117)],
  tol,
);

refTest(
  'NaN propagates through max/min over rows and columns; column argmax/argmin take the first tie, NaN wins',
  (x) => [x.argmax(0), x.argmin(0), x.max(0), x.min(0), x.max(-1), x.min(-1)],
  () => {
    const a = randIntF32([40, 33], -2, 3, 118); // few values: many ties
    const d = a.toTypedArraySync() as Float32Array;
    d[7 * 33 + 5] = Number.NaN;
    d[30 * 33 + 5] = Number.NaN;
    return [a];
  },
);

refTest(
  'column sums of int32 and bool are exact',
  (i, b) => [i.sum(0), i.max(0), b.sum(0)],
  () => [randInt([300, 40], -9, 10, 119), randBool([300, 40], 120)],
);
