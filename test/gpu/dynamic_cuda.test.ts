// compile(fn, { dynamic }) on CUDA: kernels over symbolic sizes are CPU-only (CudaBackend
// refuses them), so every shape gets a static program, with right results and no symbolic
// program. Skips with the reason where there is no GPU (npm run test:gpu).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { cudaAvailable, cudaUnavailableReason } from '../../src/backends/cuda/driver.js';
import type { Tensor } from '../../src/frontend/tensor.js';
import { compile, counters } from '../../src/index.js';
import { assertMatches, randn, reference } from '../helpers.js';
import { optional } from '../prereq.js';

const skip = optional('a CUDA device', cudaAvailable(), `no CUDA device: ${cudaUnavailableReason() ?? 'unknown reason'}`);
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-dynamic-cuda-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

const W1 = randn([32, 48], 1);
const W2 = randn([48, 16], 2);
const mlp = (x: Tensor) => x.matmul(W1).relu().matmul(W2).softmax(-1);

for (const dynamic of [true, 'auto'] as const) {
  test(`dynamic: ${String(dynamic)} on CUDA specialises each batch (1, 7, 63, 1000), results right, no symbolic program`, { skip }, async () => {
    const f = compile(mlp, { device: 'cuda', dynamic, cacheDir, workers: 2 });
    const before = counters().symbolic_programs;
    for (const [i, b] of [1, 7, 63, 1000].entries()) {
      const x = randn([b, 32], 10 + i);
      await assertMatches(await f(x), reference(mlp, [x])[0]!, { rtol: 1e-4, atol: 1e-4, label: `batch ${b}` });
    }
    assert.equal(counters().symbolic_programs, before, 'CUDA programs are static');
  });
}
