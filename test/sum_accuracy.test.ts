// Issue 14 item 9: float32 sums accumulate in blocks (partial sums over a few thousand
// points, combined at the end), so a sum of many ones does not stop at 2^24 (16777216) on
// the CPU and the GPU. Broadcast views give long rows without the memory; one case reads a real buffer.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NDArray } from '../src/graph/ndarray.js';
import { compile } from '../src/index.js';
import { testDevice } from './helpers.js';

// On the CPU by default; on CUDA under KILN_TEST_DEVICE=cuda (npm run test:gpu).
const opts = { device: testDevice };

const one = (shape: number[] = [1]) => NDArray.from(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1), shape);

test('float32 whole-tensor sum of a [4096, 8192] buffer of ones is 2^25', async () => {
  const y = await compile((x) => [x.sum(), x.mean()], opts)(one([4096, 8192]));
  assert.deepEqual(await y[0]!.toArray(), [2 ** 25]);
  assert.deepEqual(await y[1]!.toArray(), [1]);
});

test('float32 sums of broadcast ones: 2^31-point rows (vector lanes pass 2^24), [8192, 8192], columns of 2^25', async () => {
  const f = compile((x) => [
    x.expand([2 ** 31]).sum(),
    x.reshape([1, 1]).expand([3, 2 ** 25]).sum(1),
    x.reshape([1, 1]).expand([8192, 8192]).sum(),
    x.reshape([1, 1, 1]).expand([2 ** 23, 4, 2]).sum(),
    x.reshape([1, 1]).expand([2 ** 25, 16]).sum(0),
    x.to('float16').reshape([1, 1]).expand([4096, 8192]).mean(),
  ], opts);
  const ys = await f(one());
  const got = await Promise.all(ys.map((y) => y.toArray()));
  assert.deepEqual(got[0], [2 ** 31]);
  assert.deepEqual(got[1], [2 ** 25, 2 ** 25, 2 ** 25]);
  assert.deepEqual(got[2], [2 ** 26]);
  assert.deepEqual(got[3], [2 ** 26]);
  assert.deepEqual(got[4], new Array(16).fill(2 ** 25));
  assert.deepEqual(got[5], [1]); // a float16 mean sums in float32: 2^25 / 2^25
});

test('blocked sums keep their omp simd reductions (row, whole-tensor) and short sums keep their source', async () => {
  const { generateC } = await import('../src/backends/cpu/codegen.js');
  const { trace } = await import('../src/frontend/trace.js');
  const { realize } = await import('../src/schedule/realize.js');
  const { finalize } = await import('../src/schedule/finalize.js');
  const { formKernels } = await import('../src/schedule/fuse.js');
  const sources = (fn: Parameters<typeof trace>[0], shape: number[]) => {
    const t = trace(fn, [{ shape, dtype: 'float32' }]);
    const r = realize(t.graph);
    return finalize(t.graph, r, formKernels(t.graph, r)).kernels.map((k) => generateC(k).body);
  };
  const [row] = sources((x) => x.sum(-1), [8, 100_000]);
  assert.match(row!, /#pragma omp simd reduction\(\+:bacc\d+\)\n\s*for \(int64_t r0 = r0b;/);
  assert.match(row!, /acc\d+ \+= bacc\d+;/);
  const [whole] = sources((x) => x.sum(), [64, 100_000]);
  assert.match(whole!, /#pragma omp simd reduction\(\+:bacc\d+\)\n\s*for \(int64_t r1 = r1b;/);
  const [short] = sources((x) => x.sum(-1), [8, 4096]);
  assert.doesNotMatch(short!, /bacc/);
  assert.match(short!, /#pragma omp simd reduction\(\+:acc\d+\)/);
});
