// CUDA codegen without a GPU (as in CI): whole programs are scheduled, generated as CUDA C and
// compiled to cubin for sm_90 in the workers (nvcc here, NVRTC where present), and every
// kernel of the plan comes back as a CUDA ELF image. Running them needs the GPU suite.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { compileGraph } from '../src/api/program.js';
import { findNvcc } from '../src/backends/cuda/nvcc.js';
import { findNvrtc } from '../src/backends/cuda/nvrtc.js';
import { openCache } from '../src/cache/open_cache.js';
import { trace, type TracedFn } from '../src/frontend/trace.js';
import { NDArray } from '../src/frontend/ndarray.js';
import { layerNorm } from '../src/index.js';
import { counters, resetCounters } from '../src/observe/counters.js';
import { randn } from './helpers.js';

const skip = findNvcc() === undefined && findNvrtc() === undefined ? 'no CUDA compiler (nvcc or NVRTC) on this machine' : false;
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-cuda-codegen-'));
process.on('exit', () => fs.rmSync(cacheDir, { recursive: true, force: true }));

const w = randn([24, 16], 3);
/** Normal data stored as a half type (values rounded to it). */
const randHalf = (shape: number[], seed: number, dtype: 'float16' | 'bfloat16') => NDArray.from(randn(shape, seed).toTypedArraySync(), shape, { dtype });
const programs: [string, TracedFn, NDArray[]][] = [
  ['pointwise chain with broadcasting (vectorized path)', (a, b) => a.mul(1.5).add(b!).gelu().sigmoid(), [randn([64, 256], 1), randn([256], 2)]],
  ['row softmax, log-softmax and layer norm', (a) => [a.softmax(-1), a.logSoftmax(-1), layerNorm(a, [256])], [randn([64, 256], 4)]],
  ['long rows (strided reduction loop)', (a) => a.softmax(-1), [randn([2, 50257], 5)]],
  ['matmul + bias + relu (cuBLAS epilogue or tiled GEMM)', (a) => a.matmul(w).add(1).relu(), [randn([33, 24], 6)]],
  ['batched attention scores, argmax, cumsum, float64', (q, k) => [q.matmul(k!.transpose(-1, -2)).softmax(-1), q.argmax(-1), q.cumsum(1), q.to('float64').exp()], [randn([2, 9, 24], 7), randn([2, 11, 24], 8)]],
  [
    'float16 and bfloat16: pointwise and casts, row softmax and sums, cumsum, argmax, tiled GEMM',
    (h, b, hw) => [h.mul(b!.to('float16')).gelu(), h.softmax(-1), b!.sum(-1), h.cumsum(1), b!.argmax(-1), h.matmul(hw!).relu(), h.to('float64').add(b!), b!.to('float16')],
    [randHalf([64, 256], 9, 'float16'), randHalf([64, 256], 10, 'bfloat16'), randHalf([256, 32], 11, 'float16')],
  ],
];

for (const [name, fn, inputs] of programs) {
  test(`CUDA compile-only: ${name}`, { skip }, async () => {
    resetCounters();
    const traced = trace(fn, inputs.map((x) => ({ shape: x.shape, dtype: x.dtype })));
    const program = await compileGraph(traced, { device: 'cuda', arch: 'sm_90', compileOnly: true, cacheDir, workers: 2 });
    assert.ok(program.kernelCount > 0);
    assert.equal(counters().kernels_generated, program.kernelCount);
    const store = openCache({ cacheDir }).kernels;
    for (const k of program.plan.kernels) {
      const bin = store.get(k.key);
      assert.ok(bin, `kernel ${k.name} is in the kernel cache after a compile-only run`);
      assert.deepEqual([...bin.binary.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], `${k.name} is an ELF image`);
      assert.equal(bin.binary[18] | (bin.binary[19]! << 8), 190, `${k.name} is a CUDA (EM_CUDA = 190) binary`);
      assert.equal(bin.backend, 'cuda');
    }
    await assert.rejects(() => program.run(inputs), /compileOnly: it cannot run/);
  });
}
