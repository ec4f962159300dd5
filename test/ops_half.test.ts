// float16 and bfloat16 through compiled kernels: random data (no zeros) against the reference
// interpreter for pointwise chains, reductions, softmax, layer norm, matmul and casts, and
// the kernels' conversions checked bit for bit at the edge values (ties, subnormals,
// overflow, NaN) that src/graph/half.ts is held to.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DTYPES } from '../src/graph/dtype.js';
import { float16Bits, float16Value, bfloat16Bits } from '../src/graph/half.js';
import { layerNorm } from '../src/index.js';
import { mulberry32 } from '../src/graph/random.js';
import { numel } from '../src/graph/shape.js';
import { BF16_CASES, F16_CASES, hex } from './half_cases.js';
import { NDArray, compileCpu, randInt, randn, refTest } from './helpers.js';

const HALVES = ['float16', 'bfloat16'] as const;

/** Normal data of a half type with no value near zero (|x| >= 0.05), so relative checks mean something. */
function randHalf(shape: number[], seed: number, dtype: 'float16' | 'bfloat16', scale = 1): NDArray {
  const r = mulberry32(seed);
  const v = Array.from({ length: numel(shape) }, () => {
    const x = (r() * 2 - 1) * 2 * scale;
    return Math.abs(x) < 0.05 ? 0.05 + r() : x;
  });
  return NDArray.from(v, shape, { dtype });
}

for (const dt of HALVES) {
  refTest(
    `${dt}: pointwise chains, comparisons and rounding ops`,
    (a, b) => [a.mul(b).add(0.5).gelu(), a.exp().sub(b.tanh()).div(b.abs().add(1)), a.sigmoid().mul(3).relu().sqrt(), a.maximum(b).minimum(0.75), a.gt(b), a.mul(4).round(), a.silu().pow(2)],
    () => [randHalf([7, 33], 1, dt), randHalf([33], 2, dt)],
    // exp(a) - tanh(b) cancels: the reference rounds both terms to ${dt}, the kernel neither.
    { atol: 2e-3 },
  );

  refTest(
    `${dt}: mixed with float32 and int (promotion to float32, int scalars and tensors keep ${dt})`,
    (a, f, i) => [a.add(f), a.mul(i).sub(1), a.div(3).to('float32').mul(f)],
    () => [randHalf([5, 9], 3, dt), randn([9], 4), randInt([5, 9], -4, 5, 5)],
    { rtol: 2e-2, atol: 1e-2 },
  );

  refTest(
    `${dt}: sum, mean, max, min, argmax over rows and whole tensors; cumsum`,
    (x) => [x.sum(-1), x.mean(-1), x.max(-1), x.min(0), x.argmax(-1), x.sum(), x.mean([0, 1]), x.cumsum(1)],
    () => [randHalf([6, 257], 6, dt)],
    { rtol: dt === 'float16' ? 4e-3 : 3e-2, atol: dt === 'float16' ? 2e-2 : 2e-1 },
  );

  refTest(
    `${dt}: softmax, log-softmax and layer norm over rows`,
    (x, w) => [x.softmax(-1), x.logSoftmax(-1), layerNorm(x, [64], w)],
    () => [randHalf([9, 64], 7, dt, 2), randHalf([64], 8, dt)],
  );

  refTest(
    `${dt}: matmul (float32 accumulation) with a fused bias and activation, and batched`,
    (a, w, b, q) => [a.matmul(w).add(b).relu(), q.matmul(q.transpose(-1, -2))],
    () => [randHalf([19, 40], 9, dt), randHalf([40, 37], 10, dt, 0.25), randHalf([37], 11, dt), randHalf([3, 5, 16], 12, dt)],
    { rtol: dt === 'float16' ? 4e-3 : 3e-2, atol: dt === 'float16' ? 1e-2 : 1e-1 },
  );

  refTest(`casts from ${dt} to every dtype`, (x) => DTYPES.map((to) => x.to(to)), () => [randHalf([5, 7], 13, dt, 3)], { names: DTYPES.map((to) => `${dt}→${to}`) });
}

// ---- conversions inside kernels, bit for bit ------------------------------------------------


async function bits(a: NDArray): Promise<string[]> {
  return [...((await a.toTypedArray()) as Uint16Array)].map(hex);
}

test('kernels round float32 to float16 and bfloat16 like the host: ties, subnormals, overflow, NaN', async () => {
  // Cases a float32 holds exactly (the float64-only ones are checked from float64 below).
  const f16 = F16_CASES.filter(([v]) => Number.isNaN(v) || Math.fround(v) === v);
  const bf16 = BF16_CASES.filter(([v]) => Number.isNaN(v) || Math.fround(v) === v);
  const f = compileCpu((x, y) => [x.to('float16'), y.to('bfloat16')]);
  const [h, b] = (await f(NDArray.from(f16.map(([v]) => v), [f16.length]), NDArray.from(bf16.map(([v]) => v), [bf16.length]))) as NDArray[];
  assert.deepEqual(await bits(h!), f16.map(([, e]) => hex(e)), f16.map(([, , why]) => why).join('; '));
  assert.deepEqual(await bits(b!), bf16.map(([, e]) => hex(e)));
});

test('kernels round float64 and int values to half types once, from the full value', async () => {
  const f = compileCpu((x, i) => [x.to('float16'), x.to('bfloat16'), i.to('float16'), i.to('bfloat16')]);
  const doubles = [...F16_CASES.map(([v]) => v), ...BF16_CASES.map(([v]) => v)];
  const ints = [2049, 2051, -2051, 65504, 65519, 65520, 70000, -70000, 16777217, 257, 259];
  const [h, b, ih, ib] = (await f(NDArray.from(doubles, [doubles.length], { dtype: 'float64' }), NDArray.from(ints, [ints.length], { dtype: 'int32' }))) as NDArray[];
  assert.deepEqual(await bits(h!), doubles.map((v) => hex(float16Bits(v))));
  assert.deepEqual(await bits(b!), doubles.map((v) => hex(bfloat16Bits(v))));
  assert.deepEqual(await bits(ih!), ['0x6800', '0x6802', '0xe802', '0x7bff', '0x7bff', '0x7c00', '0x7c00', '0xfc00', '0x7c00', '0x5c04', '0x5c0c']);
  assert.deepEqual(await bits(ib!), ints.map((v) => hex(bfloat16Bits(v))));
});

test('kernels widen every float16 pattern exactly, and a cast to float16 rounds even inside a kernel', async () => {
  const all = new Uint16Array(0x10000).map((_, i) => i);
  const f = compileCpu((x) => [x.to('float32'), x.to('float64')]);
  const [a, d] = (await f(NDArray.from(all, [all.length], { dtype: 'float16' }))) as NDArray[];
  const fa = (await a!.toTypedArray()) as Float32Array;
  const fd = (await d!.toTypedArray()) as Float64Array;
  for (let i = 0; i < all.length; i++) {
    const want = float16Value(i);
    if (Number.isNaN(want)) assert.ok(Number.isNaN(fa[i]!) && Number.isNaN(fd[i]!), `${hex(i)} stays NaN`);
    else assert.ok(Object.is(fa[i], want) && Object.is(fd[i], want), `${hex(i)}: ${fa[i]}, ${fd[i]}, expected ${want}`);
  }
  // x.to(float16).to(float32) never stores the float16: the kernel must still round it.
  const vals = [0.1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65520, 2 ** -25, 3.14159, -1e-6, 12345.678];
  const g = compileCpu((x) => [x.to('float16').to('float32'), x.to('bfloat16').mul(1).to('float32')]);
  const [r16, rbf] = (await g(NDArray.from(vals, [vals.length]))) as NDArray[];
  assert.deepEqual([...((await r16!.toTypedArray()) as Float32Array)], vals.map((v) => float16Value(float16Bits(v))));
  assert.deepEqual([...((await rbf!.toTypedArray()) as Float32Array)], vals.map((v) => Math.fround(NDArray.from([v], [1], { dtype: 'bfloat16' }).toArraySync()[0]!)));
});
