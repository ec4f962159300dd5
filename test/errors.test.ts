// User errors get clear messages that name the op, the shapes and the dims. Each traced-program
// error is checked at trace time and, once the compiler exists, through a compiled call (where
// tracing happens on the first call, so the promise rejects with the same message).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { cat, layerNorm, where } from '../src/frontend/functions.js';
import { NDArray } from '../src/graph/ndarray.js';
import type { Tensor } from '../src/frontend/tensor.js';
import { type TracedFn, trace } from '../src/frontend/trace.js';
import { compileCpu, randBool, randInt, randn, specsOf } from './helpers.js';

function errorCase(name: string, fn: TracedFn, inputs: () => NDArray[], message: RegExp): void {
  test(name, async () => {
    const xs = inputs();
    assert.throws(() => trace(fn, specsOf(xs)), message);
    const f = compileCpu(fn);
    await assert.rejects(async () => await f(...xs), message);
  });
}

errorCase('add of [3,5] and [4,4]', (a, b) => a.add(b), () => [randn([3, 5]), randn([4, 4])], /add: cannot broadcast \[3,5\] with \[4,4\]/);
errorCase('broadcast error names the op (mul)', (a, b) => a.mul(b.transpose(0, 1)), () => [randn([3, 5]), randn([3, 5])], /mul: cannot broadcast \[3,5\] with \[5,3\]/);
errorCase('matmul inner-dim mismatch', (a, b) => a.matmul(b), () => [randn([3, 5]), randn([4, 2])], /matmul: inner dims differ: \[3,5\] @ \[4,2\] \(5 vs 4\)/);
errorCase('matmul batch dims that do not broadcast', (a, b) => a.matmul(b), () => [randn([2, 3, 5]), randn([4, 5, 2])], /matmul: cannot broadcast \[2\] with \[4\]/);
errorCase('reshape to an impossible shape', (a) => a.reshape([4, 4]), () => [randn([3, 5])], /reshape: cannot reshape \[3,5\] \(15 elements\) into \[4,4\]/);
errorCase('reshape with -1 that does not divide', (a) => a.reshape([4, -1]), () => [randn([3, 5])], /reshape: cannot reshape \[3,5\] into \[4,-1\]/);
errorCase('reshape with two -1', (a) => a.reshape([-1, -1]), () => [randn([3, 5])], /reshape: more than one -1/);
errorCase('permute with the wrong number of dims', (a) => a.permute([1, 0]), () => [randn([2, 3, 4])], /permute: 2 dims \[1,0\] for rank 3 tensor \[2,3,4\]/);
errorCase('permute with a repeated dim', (a) => a.permute([0, 0, 1]), () => [randn([2, 3, 4])], /permute: repeated dim in \[0,0,1\]/);
errorCase('reduction over an out-of-range dim', (a) => a.sum(2), () => [randn([3, 5])], /sum: dim 2 out of range for rank 2/);
errorCase('softmax over an out-of-range negative dim', (a) => a.softmax(-3), () => [randn([3, 5])], /dim -3 out of range for rank 2/);
errorCase('transpose with an out-of-range dim', (a) => a.transpose(0, 2), () => [randn([3, 5])], /transpose: dim 2 out of range for rank 2/);
errorCase('slice of an out-of-range dim', (a) => a.slice(3, 0, 1), () => [randn([3, 5])], /slice: dim 3 out of range for rank 2/);
errorCase('slice with step 0', (a) => a.slice(0, 0, 2, 0), () => [randn([3, 5])], /slice: step must be a nonzero integer, got 0/);
errorCase('squeeze of a non-1 dim', (a) => a.squeeze(0), () => [randn([3, 1, 5])], /squeeze: dim 0 of \[3,1,5\] has size 3, not 1/);
errorCase('unsqueeze out of range', (a) => a.unsqueeze(4), () => [randn([3, 5])], /unsqueeze: dim 4 out of range for rank 2 \(\+1\)/);
errorCase('expand to an incompatible shape', (a) => a.expand([3, 4]), () => [randn([3, 5])], /expand: cannot expand \[3,5\] to \[3,4\] \(dim 1\)/);
errorCase('cat shape mismatch', (a, b) => cat([a, b], 1), () => [randn([2, 3]), randn([3, 3])], /cat: shapes \[2,3\], \[3,3\] differ outside dim 1/);
errorCase('cat rank mismatch', (a, b) => cat([a, b], 0), () => [randn([2, 3]), randn([3])], /cat: shapes \[2,3\], \[3\] differ outside dim 0/);
errorCase('where with a non-bool condition', (c, a) => where(c, a, 0), () => [randn([3]), randn([3])], /where: condition must be bool, got float32/);
errorCase('where with shapes that do not broadcast', (c, a) => where(c, a, 0), () => [randBool([3]), randn([4])], /where: cannot broadcast \[3\] with \[4\]/);
errorCase('gather with float indices', (a, i) => a.gather(0, i), () => [randn([3, 5]), randn([2])], /gather: indices must be int32 or int64, got float32/);
errorCase('logical ops need bool', (a, b) => a.logicalAnd(b), () => [randn([3]), randBool([3])], /and: expected bool operands, got float32 and bool/);
errorCase('logicalNot needs bool', (a) => a.logicalNot(), () => [randInt([3], 0, 2)], /not: expected bool, got int32/);
errorCase('arithmetic on bools', (a, b) => a.sub(b), () => [randBool([3]), randBool([3])], /sub: not defined for bool operands/);
errorCase(
  'argmax over several dims',
  // @ts-expect-error: argmax takes one dim (the runtime check is for untyped callers)
  (a) => a.argmax([0, 1]),
  () => [randn([3, 5])],
  /argmax: expects exactly one dim, got \[0,1\]/,
);
errorCase('layerNorm shape that does not match the trailing dims', (a) => layerNorm(a, [4]), () => [randn([3, 5])], /layerNorm: normalizedShape \[4\] does not match the trailing dims of \[3,5\]/);
errorCase('matmul of bools', (a, b) => a.matmul(b), () => [randBool([2, 2]), randBool([2, 2])], /matmul: not defined for bool/);

test('NDArray.from with a data length that does not match the shape', () => {
  assert.throws(() => NDArray.from(new Float32Array(5), [2, 3]), /NDArray.from: 5 values do not match shape \[2,3\] \(6 elements\)/);
  assert.throws(() => NDArray.from([1, 2, 3], [2, 2], { dtype: 'int32' }), /NDArray.from: 3 values do not match shape \[2,2\] \(4 elements\)/);
});

test('NDArray.from with an unknown dtype or a bad shape', () => {
  assert.throws(() => NDArray.from([1, 2], [2], { dtype: 'float8' as never }), /NDArray.from: unsupported dtype float8/);
  assert.throws(() => NDArray.from([1, 2], [2, -1]), /NDArray.from: invalid shape \[2,-1\]/);
  assert.throws(() => NDArray.from([1, 2], [1.5]), /NDArray.from: invalid shape \[1.5\]/);
});

test('tensor functions outside a traced function', () => {
  assert.throws(() => where(true, 1, 2), /where: tensors can only be used inside a function traced by compile\(\)/);
});

test('a traced function that returns nothing usable', () => {
  assert.throws(() => trace(() => [], []), /compile: the traced function returned no tensors/);
  // @ts-expect-error: a traced function returns tensors (the runtime check is for untyped callers)
  assert.throws(() => trace(() => 'x', []), /compile: output 0 of the traced function is not a Tensor \(got string\)/);
});

test('compiled fn called with the wrong number of inputs', async () => {
  const f = compileCpu((a: Tensor, b: Tensor) => a.add(b));
  const x = randn([3, 5]);
  // The message must say what was expected and what was given.
  const countMessage = (expected: number, got: number) => (e: unknown) => {
    const m = e instanceof Error ? e.message : String(e);
    assert.match(m, /input/i);
    assert.match(m, new RegExp(`\\b${expected}\\b`));
    assert.match(m, new RegExp(`\\b${got}\\b`));
    return true;
  };
  await assert.rejects(async () => await f(x), countMessage(2, 1));
  await assert.rejects(async () => await f(x, x, x), countMessage(2, 3));
});

test('compiled fn called with something that is not an NDArray', async () => {
  const f = compileCpu((a: Tensor) => a.exp());
  // @ts-expect-error: a compiled fn takes NDArrays (the runtime check is for untyped callers)
  await assert.rejects(async () => await f(new Float32Array(3)), /NDArray/);
});
