// The reference interpreter checked on small hand-computed cases: the oracle needs its own
// oracle, and these values come from NumPy/PyTorch semantics worked out by hand.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { cat, layerNorm, where } from '../src/frontend/functions.js';
import { NDArray } from '../src/graph/ndarray.js';
import type { Tensor } from '../src/frontend/tensor.js';
import { type TracedFn, trace } from '../src/frontend/trace.js';
import { GraphBuilder } from '../src/graph/builder.js';
import type { DType } from '../src/graph/dtype.js';
import { Graph } from '../src/graph/ir.js';
import { erf } from '../src/graph/elementwise_ref.js';
import { interpret } from '../src/graph/interpret.js';

const f32 = (data: number[], shape: number[]) => NDArray.from(Float32Array.from(data), shape);
const i32 = (data: number[], shape: number[]) => NDArray.from(Int32Array.from(data), shape);
const i64 = (data: number[], shape: number[]) => NDArray.from(BigInt64Array.from(data.map(BigInt)), shape);
const bool = (data: number[], shape: number[]) => NDArray.from(Uint8Array.from(data), shape, { dtype: 'bool' });

function run(fn: TracedFn, ...inputs: NDArray[]) {
  const t = trace(fn, inputs.map((a) => ({ shape: a.shape, dtype: a.dtype })));
  return interpret(t.graph, [...inputs, ...t.params]);
}
function one(fn: TracedFn, ...inputs: NDArray[]) {
  return run(fn, ...inputs)[0]!;
}
function close(actual: ArrayLike<number>, expected: number[], tol = 1e-9) {
  assert.equal(actual.length, expected.length, `length ${actual.length} vs ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const ok = Number.isNaN(expected[i]!) ? Number.isNaN(actual[i]!) : Math.abs(actual[i]! - expected[i]!) <= tol * (1 + Math.abs(expected[i]!));
    assert.ok(ok, `index ${i}: got ${actual[i]}, expected ${expected[i]} (all: ${Array.from(actual).join(', ')})`);
  }
}
function expectT(r: { shape: number[]; dtype: DType; data: Float64Array }, shape: number[], dtype: DType, data: number[], tol = 1e-9) {
  assert.deepEqual(r.shape, shape);
  assert.equal(r.dtype, dtype);
  close(r.data, data, tol);
}

test('erf matches known values to ~1e-15', () => {
  // Values from high-precision tables (Abramowitz & Stegun / mpmath).
  const cases: [number, number][] = [
    [0, 0],
    [0.1, 0.1124629160182849],
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [1.5, 0.9661051464753108],
    [2, 0.9953222650189527],
    [3, 0.9999779095030014],
    [4, 0.9999999845827421],
    [-1, -0.8427007929497149],
    [7, 1],
  ];
  for (const [x, want] of cases) assert.ok(Math.abs(erf(x) - want) < 1e-14, `erf(${x}) = ${erf(x)}, want ${want}`);
});

test('softmax of [1,2,3] and logSoftmax', () => {
  const x = f32([1, 2, 3], [3]);
  const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
  const s = e[0]! + e[1]! + e[2]!;
  expectT(one((t) => t.softmax(-1), x), [3], 'float32', e.map((v) => v / s));
  expectT(one((t) => t.logSoftmax(0), x), [3], 'float32', e.map((v) => Math.log(v / s)));
});

test('matmul 2x3 @ 3x2, 1-D operands and batch broadcasting', () => {
  const a = f32([1, 2, 3, 4, 5, 6], [2, 3]);
  const b = f32([7, 8, 9, 10, 11, 12], [3, 2]);
  expectT(one((x, y) => x.matmul(y), a, b), [2, 2], 'float32', [58, 64, 139, 154]);
  const v = f32([1, 0, -1], [3]);
  expectT(one((x, y) => x.matmul(y), a, v), [2], 'float32', [-2, -2]);
  expectT(one((x, y) => x.matmul(y), v, b), [2], 'float32', [-4, -4]);
  // [2,1,2,3] @ [3,3,2]: batch broadcasts to [2,3]; batch (i,j) = a[i] @ b[j].
  const a4 = f32([1, 2, 3, 4, 5, 6, 0, 1, 0, 1, 0, 1], [2, 1, 2, 3]);
  const b3 = f32([7, 8, 9, 10, 11, 12, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1], [3, 3, 2]);
  const r = one((x, y) => x.matmul(y), a4, b3);
  assert.deepEqual(r.shape, [2, 3, 2, 2]);
  close(r.data, [58, 64, 139, 154, 1, 2, 4, 5, 3, 3, 6, 6, 9, 10, 18, 20, 0, 1, 1, 0, 0, 0, 1, 1]);
  // int matmul stays int
  expectT(one((x, y) => x.matmul(y), i32([1, 2, 3, 4], [2, 2]), i32([1, 1, 1, 1], [2, 2])), [2, 2], 'int32', [3, 3, 7, 7]);
});

test('gather with negative indices wraps', () => {
  const d = f32([10, 11, 12, 20, 21, 22], [2, 3]);
  const idx = i64([-1, 0, 2, -3], [2, 2]);
  // axis 1: out[i, j, k] = d[i, idx[j,k]]
  expectT(one((x) => x.gather(1, idx), d), [2, 2, 2], 'float32', [12, 10, 12, 10, 22, 20, 22, 20]);
  // axis 0 with int32 indices: out[j, c] = d[idx[j], c]
  expectT(one((x) => x.gather(0, i32([-1, 0], [2])), d), [2, 3], 'float32', [20, 21, 22, 10, 11, 12]);
  assert.throws(() => one((x) => x.gather(1, i32([3], [1])), d), /gather index 3 out of range/);
});

test('slice with steps and negative indices', () => {
  const x = f32([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [10]);
  expectT(one((t) => t.slice(0, undefined, undefined, -1), x), [10], 'float32', [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
  expectT(one((t) => t.slice(0, -2, 1, -3), x), [3], 'float32', [8, 5, 2]);
  expectT(one((t) => t.slice(0, 1, -1, 3), x), [3], 'float32', [1, 4, 7]);
  expectT(one((t) => t.slice(0, -3), x), [3], 'float32', [7, 8, 9]);
  expectT(one((t) => t.slice(0, 5, 100), x), [5], 'float32', [5, 6, 7, 8, 9]);
  const m = f32([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [3, 4]);
  expectT(one((t) => t.slice(1, 3, 0, -2), m), [3, 2], 'float32', [3, 1, 7, 5, 11, 9]);
  expectT(one((t) => t.slice(-2, 1, 3).slice(-1, 1, 3), m), [2, 2], 'float32', [5, 6, 9, 10]);
});

test('argmax/argmin ties pick the first index, or the last with selectLast', () => {
  const x = f32([1, 3, 3, 0, 2, 2, 0, 0], [2, 4]);
  expectT(one((t) => t.argmax(1), x), [2], 'int64', [1, 0]);
  expectT(one((t) => t.argmax(1, false, true), x), [2], 'int64', [2, 1]);
  expectT(one((t) => t.argmin(-1, true), x), [2, 1], 'int64', [3, 2]);
  expectT(one((t) => t.argmin(-1, false, true), x), [2], 'int64', [3, 3]);
  expectT(one((t) => t.argmax(0), x), [4], 'int64', [1, 0, 0, 0]);
});

test('cumsum inclusive, exclusive, reverse', () => {
  const x = f32([1, 2, 3, 4, 10, 20, 30, 40], [2, 4]);
  expectT(one((t) => t.cumsum(1), x), [2, 4], 'float32', [1, 3, 6, 10, 10, 30, 60, 100]);
  expectT(one((t) => t.cumsum(1, true), x), [2, 4], 'float32', [0, 1, 3, 6, 0, 10, 30, 60]);
  expectT(one((t) => t.cumsum(-1, false, true), x), [2, 4], 'float32', [10, 9, 7, 4, 100, 90, 70, 40]);
  expectT(one((t) => t.cumsum(1, true, true), x), [2, 4], 'float32', [9, 7, 4, 0, 90, 70, 40, 0]);
  expectT(one((t) => t.cumsum(0), x), [2, 4], 'float32', [1, 2, 3, 4, 11, 22, 33, 44]);
  expectT(one((t) => t.cumsum(0), bool([1, 0, 1], [3])), [3], 'int64', [1, 1, 2]);
});

test('reductions over axes with keepdim, sum of bool, prod', () => {
  const x = f32([1, 2, 3, 4, 5, 6], [2, 3]);
  expectT(one((t) => t.sum(), x), [], 'float32', [21]);
  expectT(one((t) => t.sum(0), x), [3], 'float32', [5, 7, 9]);
  expectT(one((t) => t.sum(-1, true), x), [2, 1], 'float32', [6, 15]);
  expectT(one((t) => t.max([0, 1], true), x), [1, 1], 'float32', [6]);
  expectT(one((t) => t.min(1), x), [2], 'float32', [1, 4]);
  expectT(one((t) => t.prod(1), x), [2], 'float32', [6, 120]);
  expectT(one((t) => t.mean(0), x), [3], 'float32', [2.5, 3.5, 4.5]);
  expectT(one((t) => t.sum(), bool([1, 0, 1, 1], [4])), [], 'int64', [3]);
  const y = f32([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23], [2, 3, 4]);
  expectT(one((t) => t.sum([0, 2]), y), [3], 'float32', [60, 92, 124]);
  expectT(one((t) => t.max(1), y), [2, 4], 'float32', [8, 9, 10, 11, 20, 21, 22, 23]);
});

test('broadcasting binary ops and where', () => {
  const a = f32([1, 2, 3], [3, 1]);
  const b = f32([10, 20], [1, 2]);
  expectT(one((x, y) => x.add(y), a, b), [3, 2], 'float32', [11, 21, 12, 22, 13, 23]);
  expectT(one((x, y) => y.sub(x), a, b), [3, 2], 'float32', [9, 19, 8, 18, 7, 17]);
  expectT(one((x) => x.mul(2).add(1), a), [3, 1], 'float32', [3, 5, 7]);
  expectT(one((x, y) => x.lt(y.div(10)), a, b), [3, 2], 'bool', [0, 1, 0, 0, 0, 0]);
  const c = bool([1, 0, 1], [3, 1]);
  expectT(one((k, x, y) => where(k, x, y), c, a, b), [3, 2], 'float32', [1, 1, 10, 20, 3, 3]);
  expectT(one((k) => where(k, 1, 0), c), [3, 1], 'float32', [1, 0, 1]);
});

test('integer ops: promotion, true division, mod vs fmod, pow', () => {
  const a = i32([7, -7, 7, -7], [4]);
  const b = i32([3, 3, -3, -3], [4]);
  expectT(one((x, y) => x.remainder(y), a, b), [4], 'int32', [1, 2, -2, -1]);
  expectT(one((x, y) => x.fmod(y), a, b), [4], 'int32', [1, -1, 1, -1]);
  expectT(one((x, y) => x.div(y), a, b), [4], 'float32', [7 / 3, -7 / 3, -7 / 3, 7 / 3]);
  expectT(one((x, y) => x.add(y).mul(2), a, b), [4], 'int32', [20, -8, 8, -20]);
  expectT(one((x) => x.pow(2), a), [4], 'int32', [49, 49, 49, 49]);
  expectT(one((x) => x.add(0.5), a), [4], 'float32', [7.5, -6.5, 7.5, -6.5]);
  expectT(one((x, y) => x.maximum(y), a, i64([0, 0, 9, 0], [4])), [4], 'int64', [7, 0, 9, 0]);
  const fa = f32([5.5, -5.5, 5.5, -5.5], [4]);
  const fb = f32([2, 2, -2, -2], [4]);
  expectT(one((x, y) => x.remainder(y), fa, fb), [4], 'float32', [1.5, 0.5, -0.5, -1.5]);
  expectT(one((x, y) => x.fmod(y), fa, fb), [4], 'float32', [1.5, -1.5, 1.5, -1.5]);
  expectT(one((x) => x.abs().neg(), a), [4], 'int32', [-7, -7, -7, -7]);
});

test('casts: float→int truncates toward zero, →bool is != 0, bool→0/1', () => {
  const x = f32([1.7, -1.7, 0, 0.2, -2.5], [5]);
  expectT(one((t) => t.to('int32'), x), [5], 'int32', [1, -1, 0, 0, -2]);
  expectT(one((t) => t.to('int64'), x), [5], 'int64', [1, -1, 0, 0, -2]);
  expectT(one((t) => t.to('bool'), x), [5], 'bool', [1, 1, 0, 1, 1]);
  expectT(one((t) => t.to('bool').to('float32'), x), [5], 'float32', [1, 1, 0, 1, 1]);
  expectT(one((t) => t.to('int32').to('bool').to('int64'), x), [5], 'int64', [1, 1, 0, 0, 1]);
});

test('unary functions', () => {
  const x = f32([-2, -0.5, 0, 0.5, 2.5], [5]);
  const xs = [-2, -0.5, 0, 0.5, 2.5];
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  expectT(one((t) => t.relu(), x), [5], 'float32', [0, 0, 0, 0.5, 2.5]);
  expectT(one((t) => t.sigmoid(), x), [5], 'float32', xs.map(sig));
  expectT(one((t) => t.silu(), x), [5], 'float32', xs.map((v) => v * sig(v)));
  expectT(one((t) => t.softplus(), x), [5], 'float32', xs.map((v) => Math.log(1 + Math.exp(v))));
  // gelu(x) = x·Φ(x); Φ(1) = 0.8413447460685429, Φ(-0.5) = 0.3085375387259869
  expectT(one((t) => t.gelu(), f32([1, -0.5], [2])), [2], 'float32', [0.8413447460685429, -0.5 * 0.3085375387259869], 1e-13);
  const gt = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  expectT(one((t) => t.gelu('tanh'), x), [5], 'float32', xs.map(gt));
  expectT(one((t) => t.round(), f32([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6], [7])), [7], 'float32', [0, 2, 2, -0, -2, 2, -3]);
  expectT(one((t) => t.sign(), x), [5], 'float32', [-1, -1, 0, 1, 1]);
  expectT(one((t) => t.rsqrt(), f32([4, 0.25], [2])), [2], 'float32', [0.5, 2]);
  expectT(one((t) => t.floor(), x), [5], 'float32', [-2, -1, 0, 0, 2]);
  expectT(one((t) => t.ceil(), x), [5], 'float32', [-2, -0, 0, 1, 3]);
  expectT(one((t) => t.reciprocal(), f32([4, -0.5], [2])), [2], 'float32', [0.25, -2]);
  const special = f32([NaN, Infinity, -Infinity, 1], [4]);
  expectT(one((t) => t.isnan(), special), [4], 'bool', [1, 0, 0, 0]);
  expectT(one((t) => t.isinf(), special), [4], 'bool', [0, 1, 1, 0]);
  expectT(one((t) => t.isnan().logicalNot(), special), [4], 'bool', [0, 1, 1, 1]);
  expectT(one((t) => t.exp().log(), x), [5], 'float32', xs);
  expectT(one((t) => t.sign(), i32([-3, 0, 4], [3])), [3], 'int32', [-1, 0, 1]);
  expectT(one((t) => t.sqrt(), i32([4, 9], [2])), [2], 'float32', [2, 3]);
});

test('movement: reshape, permute, transpose, expand, squeeze, flatten, cat', () => {
  const x = f32([0, 1, 2, 3, 4, 5], [2, 3]);
  expectT(one((t) => t.transpose(0, 1), x), [3, 2], 'float32', [0, 3, 1, 4, 2, 5]);
  expectT(one((t) => t.reshape([3, -1]), x), [3, 2], 'float32', [0, 1, 2, 3, 4, 5]);
  const y = f32([...Array(24).keys()], [2, 3, 4]);
  const p = one((t) => t.permute([2, 0, 1]), y);
  assert.deepEqual(p.shape, [4, 2, 3]);
  // p[k,i,j] = y[i,j,k] = 12i + 4j + k
  for (let k = 0; k < 4; k++) for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) assert.equal(p.data[k * 6 + i * 3 + j], 12 * i + 4 * j + k);
  expectT(one((t) => t.expand([2, 2, 3]), x), [2, 2, 3], 'float32', [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]);
  expectT(one((t) => t.reshape([2, 1, 3]).expand([-1, 2, -1]), x), [2, 2, 3], 'float32', [0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5]);
  expectT(one((t) => t.unsqueeze(0).unsqueeze(-1).squeeze(), x), [2, 3], 'float32', [0, 1, 2, 3, 4, 5]);
  expectT(one((t) => t.unsqueeze(1).squeeze(1), x), [2, 3], 'float32', [0, 1, 2, 3, 4, 5]);
  expectT(one((t) => t.flatten(1), y), [2, 12], 'float32', [...Array(24).keys()]);
  const z = f32([100, 101], [2, 1]);
  expectT(one((a, b) => cat([a, b, a], 1), x, z), [2, 7], 'float32', [0, 1, 2, 100, 0, 1, 2, 3, 4, 5, 101, 3, 4, 5]);
  expectT(one((a) => cat([a, a.neg()], 0), x), [4, 3], 'float32', [0, 1, 2, 3, 4, 5, -0, -1, -2, -3, -4, -5]);
  // cat promotes: int32 with float32 gives float32
  expectT(one((a, b) => cat([a, b], 0), i32([1, 2], [1, 2]), f32([0.5, 1.5], [1, 2])), [2, 2], 'float32', [1, 2, 0.5, 1.5]);
});

test('layerNorm', () => {
  const x = f32([1, 2, 3, 4, 2, 2, 2, 6], [2, 4]);
  const w = f32([1, 2, 1, 1], [4]);
  const b = f32([0, 0, 0, 1], [4]);
  const ln = (row: number[]) => {
    const m = row.reduce((p, v) => p + v, 0) / row.length;
    const v = row.reduce((p, u) => p + (u - m) ** 2, 0) / row.length;
    return row.map((u) => (u - m) / Math.sqrt(v + 1e-5));
  };
  const want = [...ln([1, 2, 3, 4]), ...ln([2, 2, 2, 6])].map((v, i) => v * [1, 2, 1, 1][i % 4]! + [0, 0, 0, 1][i % 4]!);
  expectT(one((t) => layerNorm(t, 4, w, b), x), [2, 4], 'float32', want, 1e-12);
});

test('iota and constants via the builder, multiple outputs', () => {
  const g = new Graph();
  const b = new GraphBuilder(g);
  const io = b.iota([2, 3], 1, 5, -2, 'int32');
  const io0 = b.iota([2, 3], 0, 0.5, 1, 'float32');
  const c = b.constant([1, 2, 3], [3], 'float32');
  g.outputs = [io, io0, b.binary('add', io0, c)];
  const [r1, r2, r3] = interpret(g, []);
  expectT(r1!, [2, 3], 'int32', [5, 3, 1, 5, 3, 1]);
  expectT(r2!, [2, 3], 'float32', [0.5, 0.5, 0.5, 1.5, 1.5, 1.5]);
  expectT(r3!, [2, 3], 'float32', [1.5, 2.5, 3.5, 2.5, 3.5, 4.5]);
});

test('captured NDArrays are parameters after the user inputs', () => {
  const w = f32([1, 2, 3], [3]);
  const r = run((x: Tensor) => [x.mul(w), x.add(1)], f32([1, 1, 1], [3]));
  expectT(r[0]!, [3], 'float32', [1, 2, 3]);
  expectT(r[1]!, [3], 'float32', [2, 2, 2]);
});

test('interpret checks the input count, shapes and dtypes', () => {
  const t = trace((x: Tensor) => x.exp(), [{ shape: [2, 3], dtype: 'float32' }]);
  assert.throws(() => interpret(t.graph, []), /graph has 1 inputs, got 0/);
  assert.throws(() => interpret(t.graph, [f32([1, 2, 3], [3])]), /input 0 \(input0\) expects shape \[2,3\], got \[3\]/);
  assert.throws(() => interpret(t.graph, [i32([1, 2, 3, 4, 5, 6], [2, 3])]), /input 0 \(input0\) expects dtype float32, got int32/);
});
