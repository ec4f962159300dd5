// Movement ops (reshape permute transpose expand unsqueeze squeeze flatten slice cat gather)
// against the reference, alone (the output must be materialised) and composed with computation.

import { cat } from '../src/frontend/functions.js';
import { NDArray } from '../src/graph/ndarray.js';
import { randBool, randInt, randn, refTest } from './helpers.js';

refTest(
  'reshape with and without -1, view',
  (x) => [x.reshape([13, 7]), x.reshape([-1]), x.reshape([7, -1, 1]), x.view([1, 91]), x.reshape([91, 1]).add(1)],
  () => [randn([7, 13], 201)],
);

refTest(
  'permute 3-D and 4-D, negative dims',
  (x, y) => [x.permute([2, 0, 1]), x.permute([1, 2, 0]), x.permute([-1, -2, -3]), y.permute([3, 1, 0, 2]), y.permute([0, 2, 1, 3])],
  () => [randn([3, 5, 7], 202), randn([2, 3, 4, 5], 203)],
);

refTest(
  'transpose, alone and composed with add',
  (x, y) => [x.transpose(0, 1), x.transpose(0, 1).add(1), x.transpose(-1, -2).mul(x.transpose(1, 0)), y.transpose(0, 2), y.transpose(-1, 0).exp()],
  () => [randn([7, 13], 204), randn([3, 5, 7], 205)],
);

refTest(
  'expand with -1, new leading dims and size-1 dims',
  (x, v) => [x.expand([3, 5]), x.expand([2, 3, 5]), x.expand([4, -1, 5]), v.expand([3, 5]), v.expand([2, 3, 5]).mul(x)],
  () => [randn([3, 1], 206), randn([5], 207)],
);

refTest(
  'unsqueeze, squeeze(), squeeze(dim), flatten',
  (x, y) => [
    x.unsqueeze(0),
    x.unsqueeze(-1),
    x.unsqueeze(1).add(1),
    y.squeeze(),
    y.squeeze(1),
    y.squeeze(-1),
    y.squeeze([1, 3]),
    y.flatten(),
    y.flatten(1),
    y.flatten(0, 1),
    y.flatten(-2, -1).sum(-1),
  ],
  () => [randn([7, 13], 208), randn([3, 1, 5, 1], 209)],
);

refTest(
  'slice with steps, negative steps, negative indices and clamping',
  (x) => [
    x.slice(0, 1, 5),
    x.slice(1, 2, 11, 3),
    x.slice(1, undefined, undefined, -1),
    x.slice(1, -2, 0, -3),
    x.slice(0, -3),
    x.slice(0, 2, 100),
    x.slice(-1, -100, 5),
    x.slice(0, 6, -100, -2),
    x.slice(0, 1, 6, 2).slice(1, 12, 0, -4),
  ],
  () => [randn([7, 13], 210)],
);

refTest(
  'slice composed with computation and on 3-D',
  (x) => [x.slice(2, 1, 6, 2).exp(), x.slice(0, 1, 3).add(x.slice(0, 0, 2)), x.slice(1, 4, undefined, -1).mul(2).sum(1)],
  () => [randn([3, 5, 7], 211)],
  { atol: 1e-4 },
);

refTest(
  'cat of 3 inputs along dims 0, 1 and -1',
  (a, b, c) => [
    cat([a, a.neg(), a.mul(2)], 0),
    cat([a, b, c], 1),
    cat([c, b, a], -1),
    cat([a.unsqueeze(0), a.unsqueeze(0), a.unsqueeze(0)], 0),
    cat([a, b], 1).exp(),
  ],
  () => [randn([3, 5], 212), randn([3, 1], 213), randn([3, 7], 214)],
);

{
  const w = randn([2, 5], 215);
  refTest(
    'cat with a captured NDArray, with dtype promotion, of ints and of bools',
    (a, i, b) => [cat([a, w], 0), cat([a, i], 0), cat([i, i.mul(2), i], 1), cat([b, b.logicalNot()], 0)],
    () => [randn([3, 5], 216), randInt([3, 5], -9, 9, 217), randBool([3, 5], 218)],
  );
}

refTest(
  'gather with int64 and int32 indices, negative indices wrap, along dims 0, 1, -1',
  (x, i64, i32) => [x.gather(0, i64), x.gather(1, i32), x.gather(-1, i64), x.gather(1, i64).add(1)],
  () => [
    randn([7, 13], 219),
    NDArray.from(BigInt64Array.from([0n, -1n, 3n, -7n, 6n, 2n]), [2, 3]),
    NDArray.from(Int32Array.from([12, -13, 0, 5, -1]), [5]),
  ],
);

refTest(
  'embedding lookup with negative ids, then computation',
  (t, ids) => [t.gather(0, ids), t.gather(0, ids).sum(-1).relu()],
  () => [randn([11, 4], 222), randInt([2, 3], -11, 11, 223, 'int64')],
  { atol: 1e-4 },
);

refTest(
  'views composed: reshape→permute→exp, expand→mul, transpose→reshape',
  (x, y) => [x.reshape([3, 5, 7]).permute([2, 0, 1]).exp(), y.expand([4, 3, 5]).mul(x.reshape([1, 3, 35]).slice(2, 0, 5)), x.transpose(0, 1).reshape([-1]).cumsum(0)],
  () => [randn([15, 7], 224), randn([3, 5], 225)],
  { atol: 1e-4 },
);

refTest(
  'movement of int and bool tensors',
  (i, b) => [i.transpose(0, 1), i.slice(1, undefined, undefined, -1), b.permute([1, 0]), b.reshape([-1]), i.expand([2, 5, 7])],
  () => [randInt([5, 7], -9, 9, 226), randBool([5, 7], 227)],
);
