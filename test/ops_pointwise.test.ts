// Pointwise ops (unary, binary, comparisons, logic, where, casts) compiled for the CPU and
// checked against the reference interpreter on random data: odd and prime sizes, size-1
// dims, broadcasting both ways, scalar and NDArray operands, every dtype where it applies.

import { where } from '../src/frontend/functions.js';
import { NDArray } from '../src/graph/ndarray.js';
import { DTYPES } from '../src/graph/dtype.js';
import type { UnaryOp } from '../src/graph/ir.js';
import { f32, randBool, randInt, randIntF32, randn, randu, refTest, scaled } from './helpers.js';

// ---- binary float ops ----------------------------------------------------------------------

refTest(
  'binary float ops, same shape [7,13]',
  (a, b, p) => [a.add(b), a.sub(b), a.mul(b), a.div(p), a.maximum(b), a.minimum(b), p.pow(a), a.pow(2), p.pow(0.5)],
  () => [randn([7, 13], 1), randn([7, 13], 2), randu([7, 13], 3, 0.5, 2)],
  { names: ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'pow', 'pow 2', 'pow 0.5'] },
);

refTest(
  'broadcasting [3,1] with [1,5] both ways',
  (a, b) => [a.add(b), b.sub(a), a.mul(b), b.div(a.abs().add(0.5)), a.maximum(b), b.minimum(a)],
  () => [randn([3, 1], 4), randn([1, 5], 5)],
);

refTest(
  'broadcasting [5] with [2,3,5] and [2,3,5] with [5]',
  (v, x) => [v.add(x), x.add(v), v.mul(x), x.sub(v), x.div(v.abs().add(1))],
  () => [randn([5], 6), randn([2, 3, 5], 7)],
);

refTest(
  'broadcasting [3,1,5] with [4,1] and size-1 dims',
  (a, b, c) => [a.mul(b), b.add(a), c.add(a), a.sub(c)],
  () => [randn([3, 1, 5], 8), randn([4, 1], 9), randn([1, 1, 1], 10)],
);

refTest(
  'scalar operands: float and int scalars on tensors, scalar on the left via where',
  (x, c) => [x.add(2.5), x.sub(1), x.mul(-3), x.div(7), x.pow(3), x.maximum(0.25), x.minimum(-0.5), where(c, 1.5, x), where(c, x, -2)],
  () => [randn([7, 13], 11), randBool([7, 13], 12)],
);

refTest(
  'a 0-d input with a 2-D input',
  (s, x) => [s.add(x), x.mul(s), s.exp()],
  () => [f32([0.75], []), randn([3, 5], 13)],
);

{
  // NDArray operands captured by the traced function become parameters.
  const w = randn([13], 14);
  const col = randn([7, 1], 15);
  refTest('NDArray operands (captured) broadcast against tensors', (x) => [x.add(w), x.mul(col).sub(w), x.maximum(col)], () => [randn([7, 13], 16)]);
}

refTest(
  'mod (Python-style) and fmod (C-style) on floats with both signs',
  (a, b) => [a.remainder(b), a.fmod(b), a.remainder(0.7), a.fmod(-0.7)],
  () => {
    const b = randu([5, 11], 18, 0.5, 2);
    const s = randBool([5, 11], 19).toTypedArraySync();
    const bd = b.toTypedArraySync() as Float32Array;
    for (let i = 0; i < bd.length; i++) if (s[i]) bd[i] = -bd[i]!;
    return [randu([5, 11], 17, -5, 5), b];
  },
);

// ---- comparisons ---------------------------------------------------------------------------

refTest(
  'comparisons of floats with ties give bool; broadcast [7,13] with [13]',
  (a, b) => [a.eq(b), a.ne(b), a.lt(b), a.le(b), a.gt(b), a.ge(b), a.gt(0), a.le(1)],
  () => [randIntF32([7, 13], -2, 3, 20), randIntF32([13], -2, 3, 21)],
  { names: ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'gt 0', 'le 1'] },
);

// ---- unary ---------------------------------------------------------------------------------

refTest(
  'unary ops over the real line',
  (x) => [x.neg(), x.abs(), x.exp(), x.sin(), x.cos(), x.tanh(), x.sigmoid(), x.relu(), x.gelu(), x.gelu('tanh'), x.silu(), x.erf(), x.floor(), x.ceil(), x.round(), x.sign(), x.softplus()],
  () => [scaled(randn([7, 13], 22), 2)],
  { names: ['neg', 'abs', 'exp', 'sin', 'cos', 'tanh', 'sigmoid', 'relu', 'gelu', 'gelu_tanh', 'silu', 'erf', 'floor', 'ceil', 'round', 'sign', 'softplus'] },
);

{
  const ops: UnaryOp[] = ['atan', 'sinh', 'cosh', 'asinh'];
  refTest('unary ops via unary(): atan sinh cosh asinh', (x) => ops.map((op) => x.unary(op)), () => [randn([3, 1, 5], 23)], { names: ops });
  const open1: UnaryOp[] = ['asin', 'acos', 'atanh', 'tan'];
  refTest('unary ops on (-0.9, 0.9): asin acos atanh tan', (x) => open1.map((op) => x.unary(op)), () => [randu([11, 3], 24, -0.9, 0.9)], { names: open1 });
}

refTest(
  'unary ops on positive data: log sqrt rsqrt reciprocal acosh',
  (x) => [x.log(), x.sqrt(), x.rsqrt(), x.reciprocal(), x.add(1).unary('acosh')],
  () => [randu([13, 7], 25, 0.1, 4)],
);

refTest(
  'round is half to even on exact halves',
  (x) => x.round(),
  () => [f32([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, -3.5, 0.49, 1.51, -7.5], [11])],
);

refTest(
  'isnan, isinf and logicalNot on NaN and inf',
  (x) => [x.isnan(), x.isinf(), x.isnan().logicalNot(), x.isinf().logicalOr(x.isnan())],
  () => [f32([NaN, Infinity, -Infinity, 0, -1.5, 3, NaN], [7])],
);

refTest('a chain of pointwise ops with broadcasting', (x, y) => x.mul(2).add(1).exp().sub(y).tanh(), () => [scaled(randn([7, 13], 26), 0.5), randn([13], 27)]);

// ---- integers ------------------------------------------------------------------------------

function nonzero(a: NDArray): NDArray {
  const d = a.toTypedArraySync() as Int32Array;
  for (let i = 0; i < d.length; i++) if (d[i] === 0) d[i] = 3;
  return a;
}

refTest(
  'int32 arithmetic stays int32; int/int division is float',
  (a, b) => [a.add(b), a.sub(b), a.mul(b), a.maximum(b), a.minimum(b), a.remainder(b), a.fmod(b), a.neg(), a.abs(), a.sign(), a.pow(2), a.add(3), a.mul(-2), a.div(b), a.add(0.5)],
  () => [randInt([7, 13], -50, 50, 28), nonzero(randInt([7, 13], -9, 10, 29))],
  { names: ['add', 'sub', 'mul', 'maximum', 'minimum', 'remainder', 'fmod', 'neg', 'abs', 'sign', 'pow 2', 'add 3', 'mul -2', 'div', 'add 0.5'] },
);

refTest(
  'int32 comparisons give bool, with broadcasting [7,13] with [7,1]',
  (a, b) => [a.eq(b), a.ne(b), a.lt(b), a.le(b), a.gt(b), a.ge(b), a.eq(0)],
  () => [randInt([7, 13], -3, 3, 30), randInt([7, 1], -3, 3, 31)],
);

refTest(
  'int64 arithmetic and comparisons',
  (a, b) => [a.add(b), a.sub(b), a.mul(b), a.maximum(b), a.minimum(b), a.remainder(b), a.neg(), a.abs(), a.lt(b), a.eq(b), a.mul(1000)],
  () => [randInt([5, 7], -1000, 1000, 32, 'int64'), NDArray.from(BigInt64Array.from([1n, -2n, 3n, -4n, 5n, -6n, 7n]), [7])],
);

refTest(
  'mixed dtypes promote: int32+float32, int32+int64, bool with int and float',
  (i, f, l, b) => [i.add(f), f.mul(i), i.add(l), l.sub(i), b.add(i), i.mul(b), b.add(f), b.mul(b.logicalNot())],
  () => [randInt([3, 5], -9, 9, 33), randn([3, 5], 34), randInt([5], -9, 9, 35, 'int64'), randBool([3, 5], 36)],
);

// ---- bool and where ------------------------------------------------------------------------

refTest(
  'bool logic, maximum/minimum of bools, broadcast [7,13] with [1,13]',
  (a, b) => [a.logicalAnd(b), a.logicalOr(b), a.logicalXor(b), a.logicalNot(), a.maximum(b), a.minimum(b), a.eq(b), a.ne(b)],
  () => [randBool([7, 13], 37), randBool([1, 13], 38, 0.3)],
);

refTest(
  'where with bool cond broadcasting [7,1] / [1,13] / [13]',
  (c, a, b) => [where(c, a, b), where(c, b, a), where(c.logicalNot(), a, 0), where(a.gt(0), a, b.mul(2))],
  () => [randBool([7, 1], 39), randn([1, 13], 40), randn([13], 41)],
);

refTest(
  'where with int and mixed operands',
  (c, i, f) => [where(c, i, 7), where(c, i, f), where(c, -1, i)],
  () => [randBool([3, 5], 42), randInt([3, 5], -9, 9, 43), randn([5], 44)],
);

// ---- casts ---------------------------------------------------------------------------------

function floatWithZeros(): NDArray {
  const a = scaled(randn([5, 7], 45), 4);
  const d = a.toTypedArraySync() as Float32Array;
  for (let i = 0; i < d.length; i += 4) d[i] = 0;
  return a;
}
const castSources: Record<string, () => NDArray> = {
  float32: floatWithZeros,
  int32: () => randInt([5, 7], -3, 4, 46),
  int64: () => randInt([5, 7], -3, 4, 47, 'int64'),
  bool: () => randBool([5, 7], 48),
};
for (const [from, make] of Object.entries(castSources)) {
  refTest(`casts from ${from} to every dtype`, (x) => DTYPES.map((to) => x.to(to)), () => [make()], { names: DTYPES.map((to) => `${from}→${to}`) });
}
refTest('cast round trips and cast then compute', (x) => [x.to('int32').to('float32'), x.to('bool').to('int32').add(1), x.to('int64').mul(2).to('float32').add(x)], () => [floatWithZeros()]);
