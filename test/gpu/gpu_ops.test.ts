// GPU-only checks (npm run test:gpu on a machine with an NVIDIA GPU): row kernels at the row
// lengths that pick each reduction strategy, the vectorized pointwise path, both matmul paths,
// with outputs poisoned so an unwritten element fails. Skips with the reason where there is
// no GPU. The whole op suite also runs on the GPU under KILN_TEST_DEVICE=cuda.

import { test } from 'node:test';
import { cudaAvailable, cudaUnavailableReason } from '../../src/backends/cuda/driver.js';
import { layerNorm } from '../../src/index.js';
import type { TracedFn } from '../../src/frontend/trace.js';
import type { Tensor } from '../../src/frontend/tensor.js';
import { NDArray } from '../../src/graph/ndarray.js';
import { checkAgainstReference, randBool, randInt, randn } from '../helpers.js';
import { optional } from '../prereq.js';

process.env.KILN_POISON_OUTPUTS = '1';
// A GPU is the one prerequisite CI lacks: these tests skip without one, in CI too.
const skip = optional('a CUDA device', cudaAvailable(), `no CUDA device: ${cudaUnavailableReason() ?? 'unknown reason'}`);
const onGpu = (fn: TracedFn, inputs: NDArray[], opts: { rtol?: number; atol?: number } = {}) =>
  checkAgainstReference(fn, inputs, { device: 'cuda', ...opts } as never);

for (const cols of [1, 7, 1024, 50257]) {
  test(`softmax, log-softmax and layer norm over rows of ${cols}`, { skip }, async () => {
    const rows = cols > 10000 ? 3 : 37;
    await onGpu((x) => x.softmax(-1), [randn([rows, cols], cols)]);
    await onGpu((x) => x.logSoftmax(-1), [randn([rows, cols], cols + 1)], { atol: 1e-4 });
    await onGpu((x) => layerNorm(x, [cols]), [randn([rows, cols], cols + 2)], { atol: 1e-4 });
  });
}

test('pointwise chains on the vectorized path and at odd sizes', { skip }, async () => {
  await onGpu((a, b) => a.mul(1.5).add(b).gelu().sigmoid(), [randn([512, 1024], 1), randn([1024], 2)]);
  await onGpu((a) => a.exp().sub(1).tanh(), [randn([1000, 1001], 3)]);
  await onGpu((a) => a.transpose(0, 1).mul(2), [randn([333, 517], 4)]);
});

// Sizes above DEFAULT_CUBLAS_MIN_MACS (4M multiply-adds), so these go through cuBLAS.
test('matmul: cuBLAS path with epilogue, transposed and batched operands, odd sizes', { skip }, async () => {
  await onGpu((a, w, b) => a.matmul(w).add(b).relu(), [randn([333, 257], 5), randn([257, 65], 6), randn([65], 7)], { atol: 1e-4 });
  await onGpu((q, k) => q.matmul(k.transpose(-1, -2)).softmax(-1), [randn([4, 130, 64], 8), randn([4, 190, 64], 9)], { atol: 1e-4 });
  await onGpu((a, b) => a.matmul(b), [randn([2, 1, 100, 130], 10), randn([3, 130, 70], 11)], { atol: 1e-4 });
});

test('matmul: small products on the generated GEMM with fused epilogues', { skip }, async () => {
  await onGpu((a, w, b) => a.matmul(w).add(b).gelu(), [randn([129, 57], 25), randn([57, 65], 26), randn([65], 27)], { atol: 1e-4 });
  await onGpu((q, k) => q.matmul(k.transpose(-1, -2)).softmax(-1), [randn([4, 33, 16], 28), randn([4, 47, 16], 29)], { atol: 1e-4 });
  await onGpu((a, b) => a.matmul(b), [randn([2, 1, 5, 7], 30), randn([3, 7, 4], 31)], { atol: 1e-4 });
});

test('matmul: generated tiled kernel (int operands, non-BLAS strides)', { skip }, async () => {
  await onGpu((a, b) => a.matmul(b), [randInt([65, 33], -5, 5, 12), randInt([33, 70], -5, 5, 13)]);
  await onGpu((a, b) => a.slice(1, 0, 40, 2).matmul(b.slice(0, 0, 20)), [randn([31, 80], 14), randn([40, 17], 15)], { atol: 1e-4 });
});

test('reductions over all elements and over leading dims; argmax, cumsum, gather, cat', { skip }, async () => {
  await onGpu((x) => x.sum(), [randn([1 << 20], 16)], { rtol: 1e-3, atol: 1e-2 });
  await onGpu((x) => [x.sum(0), x.max(0), x.mean([0, 2])], [randn([64, 33, 9], 17)], { atol: 1e-4 });
  await onGpu((x) => [x.argmax(-1), x.argmin(0), x.cumsum(1)], [randn([45, 61], 18)], { atol: 1e-4 });
});

test('split reductions (few long rows): whole-tensor and 3-row sum/max/mean/argmax/argmin, twice per program', { skip }, async () => {
  // Each block reduces a chunk; the last block of a row combines. The second call with new
  // data checks that the per-row counters were left at zero.
  const whole = (x: Tensor) => [x.sum(), x.max(), x.argmax(), x.mean()];
  const rows = (x: Tensor) => [x.sum(-1), x.min(-1), x.argmin(-1), x.mean(-1), x.argmax(-1)];
  for (const [fn, shape, seed] of [[whole, [1 << 22], 40], [rows, [3, 300_001], 50], [(x: Tensor) => x.sum(0), [200_000, 3], 60]] as const) {
    const first = await onGpu(fn, [randn([...shape], seed)], { rtol: 1e-3, atol: 1e-2 });
    await checkAgainstReference(fn, [randn([...shape], seed + 1)], { device: 'cuda', rtol: 1e-3, atol: 1e-2, compiled: first.compiled } as never);
  }
});

test('column reductions (over a leading axis): one block per 32 outputs, split with partials when outputs are few, twice per program', { skip }, async () => {
  const cols = (x: Tensor) => [x.sum(0), x.max(0), x.argmin(0), x.mean(0)];
  // [4096, 1000]: 32 tiles of outputs, the reduced axis split over blocks; [5000, 37]: the
  // last tile has 5 live lanes; [300, 2048]: many tiles, few steps.
  for (const [shape, seed] of [[[4096, 1000], 70], [[5000, 37], 80], [[300, 2048], 90]] as const) {
    const first = await onGpu(cols, [randn([...shape], seed)], { rtol: 1e-3, atol: 1e-3 });
    await checkAgainstReference(cols, [randn([...shape], seed + 1)], { device: 'cuda', rtol: 1e-3, atol: 1e-3, compiled: first.compiled } as never);
  }
});

test('block scans (one block per long row): cumsum inclusive, exclusive, reverse; float32, int32, int64, bool', { skip }, async () => {
  await onGpu((x) => [x.cumsum(-1), x.cumsum(-1, true), x.cumsum(-1, false, true), x.cumsum(-1, true, true)], [randn([3, 50257], 100)], { rtol: 1e-3, atol: 2e-2 });
  await onGpu((x) => [x.cumsum(1), x.cumsum(1, true, true)], [randn([33, 1000], 101)], { rtol: 1e-4, atol: 1e-3 });
  await onGpu((i, b) => [i.cumsum(1), i.to('int64').cumsum(1, true), b.cumsum(-1)], [randInt([5, 777], -9, 10, 102), randBool([5, 777], 103)]);
  // 64 (the smallest block scan, 2 warps) and a transposed scan axis.
  await onGpu((x) => [x.cumsum(-1), x.transpose(0, 1).cumsum(-1)], [randn([64, 64], 104)], { rtol: 1e-4, atol: 1e-4 });
});

test('float16 and bfloat16: long-row softmax, row sums, tiled GEMM, casts (outputs poisoned as NaN halves)', { skip }, async () => {
  for (const dt of ['float16', 'bfloat16'] as const) {
    const half = (a: NDArray) => NDArray.from(a.toTypedArraySync(), a.shape, { dtype: dt });
    await onGpu((x) => [x.softmax(-1), x.sum(-1), x.to('float32').mul(2)], [half(randn([3, 50257], 19))], { rtol: 2e-2, atol: 1e-2 });
    await onGpu((a, b) => a.matmul(b).relu(), [half(randn([65, 33], 20)), half(randn([33, 70], 21))], { rtol: 3e-2, atol: 5e-2 });
    await onGpu((x) => [x.mul(1.5).gelu(), x.cumsum(1)], [half(randn([37, 129], 22))], { rtol: 3e-2, atol: 5e-2 });
  }
});
