// Whole programs against the reference (MLP, softmax, layerNorm+GELU, attention, a deep stack
// of distinct layers, several outputs), plus the compile contract: a repeated signature runs
// without generating kernels, new weight values never recompile, and known patterns fuse into
// a known number of kernels.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { cat, layerNorm, where } from '../src/frontend/functions.js';
import { NDArray } from '../src/graph/ndarray.js';
import type { Tensor } from '../src/frontend/tensor.js';
import {
  checkAgainstReference,
  compileCpu,
  counters,
  randBool,
  randn,
  refTest,
  resetCounters,
  scaled,
  testDevice,
} from './helpers.js';

const tol = { atol: 1e-4, rtol: 1e-4 };

// ---- programs ------------------------------------------------------------------------------

function mlpWeights(seed: number) {
  return {
    w1: scaled(randn([24, 37], seed), 1 / Math.sqrt(24)),
    b1: randn([37], seed + 1),
    w2: scaled(randn([37, 10], seed + 2), 1 / Math.sqrt(37)),
    b2: randn([10], seed + 3),
  };
}
{
  const { w1, b1, w2, b2 } = mlpWeights(401);
  refTest('MLP with captured weights', (x) => x.matmul(w1).add(b1).relu().matmul(w2).add(b2), () => [randn([9, 24], 405)], tol);
}

refTest(
  'softmax and logSoftmax over the last and a middle dim',
  (x) => [x.softmax(-1), x.softmax(1), x.logSoftmax(-1), x.logSoftmax(1), x.softmax(0)],
  () => [scaled(randn([3, 7, 13], 406), 3)],
  tol,
);

{
  const w = randn([5, 12], 407);
  const b = randn([5, 12], 408);
  const g = randn([12], 409);
  refTest(
    'layerNorm (with and without affine, over 1 and 2 dims) then GELU',
    (x) => [layerNorm(x, 12).gelu(), layerNorm(x, 12, g).gelu('tanh'), layerNorm(x, [5, 12], w, b).gelu()],
    () => [scaled(randn([3, 5, 12], 410), 2)],
    tol,
  );
}

{
  // Attention with a causal mask: softmax(q @ kᵀ / √d + mask) @ v, batch 2, heads 3, seq 7, d 16.
  const S = 7;
  const mask = NDArray.from(Uint8Array.from({ length: S * S }, (_, i) => (i % S <= Math.floor(i / S) ? 1 : 0)), [S, S], { dtype: 'bool' });
  refTest(
    'attention: q@kᵀ/√d, causal mask via where, softmax, @v',
    (q, k, v) => {
      const scores = q.matmul(k.transpose(-1, -2)).div(Math.sqrt(16));
      return where(mask, scores, -1e9).softmax(-1).matmul(v);
    },
    () => [randn([2, 3, S, 16], 411), randn([2, 3, S, 16], 412), randn([2, 3, S, 16], 413)],
    tol,
  );
  refTest(
    'attention with heads split from a [B,S,H·D] projection and merged back',
    (x, wq, wk) => {
      const split = (t: Tensor) => t.reshape([2, S, 2, 8]).permute([0, 2, 1, 3]);
      const q = split(x.matmul(wq));
      const k = split(x.matmul(wk));
      const a = q.matmul(k.transpose(-1, -2)).mul(1 / Math.sqrt(8)).softmax(-1).matmul(split(x));
      return a.permute([0, 2, 1, 3]).reshape([2, S, 16]);
    },
    () => [randn([2, S, 16], 414), scaled(randn([16, 16], 415), 0.25), scaled(randn([16, 16], 416), 0.25)],
    tol,
  );
}

{
  // 32 layers, each distinct (its own width and activation, some with a norm or a residual),
  // so the scheduler generates many different kernels in one program.
  const widths = Array.from({ length: 33 }, (_, i) => 8 + ((i * 5) % 13));
  const acts: ((t: Tensor) => Tensor)[] = [
    (t) => t.relu(),
    (t) => t.tanh(),
    (t) => t.gelu(),
    (t) => t.sigmoid().mul(2).sub(1),
    (t) => t.silu(),
    (t) => t.softmax(-1).mul(widths[0]!),
    (t) => t.gelu('tanh'),
    (t) => t.abs().add(1).log(),
  ];
  const layers = widths.slice(0, -1).map((d, i) => ({
    w: scaled(randn([d, widths[i + 1]!], 500 + 2 * i), 1 / Math.sqrt(d)),
    b: scaled(randn([widths[i + 1]!], 501 + 2 * i), 0.1),
  }));
  refTest(
    'a 32-layer program of distinct layers',
    (x) => {
      let h = x;
      layers.forEach(({ w, b }, i) => {
        let y = acts[i % acts.length]!(h.matmul(w).add(b));
        if (i % 4 === 3) y = layerNorm(y, y.shape[1]!);
        if (h.shape[1] === y.shape[1]) y = y.add(h);
        h = y;
      });
      return h;
    },
    () => [randn([5, widths[0]!], 499)],
    { atol: 1e-3, rtol: 1e-3 },
  );
}

refTest(
  'multiple outputs of different shapes and dtypes, including an input and a view',
  (x, y) => [x.add(y).exp(), x.sum(-1), x.gt(y), x, x.transpose(0, 1), cat([x, y.expand([4, 6])], 0).argmax(0)],
  () => [randn([4, 6], 417), randn([6], 418)],
  tol,
);

// ---- the compile contract ------------------------------------------------------------------

test('a second call with the same signature generates no kernel and is correct', async () => {
  const { w1, b1, w2, b2 } = mlpWeights(420);
  const fn = (x: Tensor) => x.matmul(w1).add(b1).relu().matmul(w2).add(b2).softmax(-1);
  const { compiled } = await checkAgainstReference(fn, [randn([3, 24], 424)], tol);
  const before = counters()['kernels_generated'];
  await checkAgainstReference(fn, [randn([3, 24], 425)], { ...tol, compiled });
  assert.equal(counters()['kernels_generated'], before, 'the second call generated kernels');
});

// On CUDA, captured host arrays are uploaded once per NDArray (docs/architecture.md, known limits).
test('new weight values do not recompile and change the result', { skip: testDevice === 'cuda' ? 'CUDA uploads captured host arrays once' : false }, async () => {
  const { w1, b1, w2, b2 } = mlpWeights(430);
  const fn = (x: Tensor) => x.matmul(w1).add(b1).relu().matmul(w2).add(b2);
  const x = randn([5, 24], 434);
  const first = await checkAgainstReference(fn, [x], tol);
  const before = counters()['kernels_generated'];
  // Mutate the captured arrays in place: same shapes and dtypes, new values.
  for (const a of [w1, b1, w2, b2]) {
    const d = a.toTypedArraySync() as Float32Array;
    for (let i = 0; i < d.length; i++) d[i] = -0.5 * d[i]! + 0.01 * (i % 7);
  }
  const second = await checkAgainstReference(fn, [x], { ...tol, compiled: first.compiled });
  assert.equal(counters()['kernels_generated'], before, 'new weight values generated kernels');
  assert.notDeepEqual(Array.from(second.refs[0]!.data), Array.from(first.refs[0]!.data), 'the reference did not change (test set-up)');
});

test('a chain of 5 pointwise ops over one shape is exactly 1 kernel', async () => {
  resetCounters();
  await checkAgainstReference((x, y) => x.mul(y).add(1.5).exp().neg().maximum(y), [randn([37, 41], 440), randn([37, 41], 441)], tol);
  assert.equal(counters()['kernels_generated'], 1);
});

test('a row softmax on [64,100] is at most 2 kernels', async () => {
  resetCounters();
  await checkAgainstReference((x) => x.softmax(-1), [scaled(randn([64, 100], 442), 2)], tol);
  const k = counters()['kernels_generated']!;
  assert.ok(k >= 1 && k <= 2, `softmax generated ${k} kernels`);
});

test('different signatures of one compiled function each match the reference', async () => {
  const fn = (x: Tensor, m: Tensor) => where(m, x.exp(), x.neg()).sum(-1);
  const compiled = compileCpu(fn);
  for (const [shape, seed] of [[[3, 5], 450], [[2, 7, 3], 451], [[11], 452]] as const) {
    await checkAgainstReference(fn, [randn(shape, seed), randBool(shape, seed + 10)], { ...tol, compiled });
  }
});

// Real decoders' RMSNorm (x.pow(2).mean(-1)) and GPT-2's tanh GELU (x + 0.044715·x³) read
// their input through registers on CUDA (preloaded row elements, float4 lanes); those values
// must stay typed as the float loads they replace (pow of negative floats, NaN checks, Python
// remainders, NaN-propagating max), not as indices: LLaMA, Qwen2, Mistral and T5 gave wrong
// answers on the GPU when `pow` became the integer power there.
refTest(
  'RMSNorm and tanh GELU through row registers and vector lanes: pow, isnan, remainder, maximum of negative values',
  (x, g) => {
    const rms = x.mul(x.pow(2).mean(-1, true).add(1e-6).rsqrt()).mul(g!);
    const gelu = x.mul(0.5).mul(x.add(x.pow(3).mul(0.044715)).mul(0.7978845608).tanh().add(1));
    return [rms, gelu, x.pow(2).sum(-1), x.remainder(0.75).add(x.isnan().to('float32')), x.maximum(x.mul(-0.5)).sum(-1)];
  },
  () => [scaled(randn([6, 64], 431), 2), randn([64], 432)],
  tol,
);
