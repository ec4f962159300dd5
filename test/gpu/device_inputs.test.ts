// Inputs kept on the GPU (toDevice): a program reads them where they are, every call, with the
// same results as host inputs (checked against the float64 reference interpreter), and a run
// neither frees nor changes them. Skips with the reason where there is no GPU.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { cudaAvailable, cudaUnavailableReason } from '../../src/backends/cuda/driver.js';
import { deviceAllocator } from '../../src/backends/cuda/allocator.js';
import { compile, toDevice } from '../../src/index.js';
import { trace } from '../../src/frontend/trace.js';
import type { Tensor } from '../../src/frontend/tensor.js';
import { interpret } from '../../src/graph/interpret.js';
import { assertMatches, randn } from '../helpers.js';
import { optional } from '../prereq.js';

const skip = optional('a CUDA device', cudaAvailable(), `no CUDA device: ${cudaUnavailableReason() ?? 'unknown reason'}`);

test('a device-resident input is read in place on every call, results as with host inputs', { skip }, async () => {
  const fn = (x: Tensor, w: Tensor) => x.matmul(w).gelu().softmax(-1);
  const x = randn([300, 257], 1);
  const w = randn([257, 129], 2);
  const f = compile(fn, { device: 'cuda' });
  const ref = interpret(trace(fn, [x, w]).graph, [x, w])[0]!;
  const xd = await toDevice(x, 'cuda');
  const allocs = () => {
    const s = deviceAllocator().stats();
    return s.driverAllocs + s.cacheHits;
  };
  /** Device blocks one call takes: its output, and a copy of each host input. */
  const perCall = async (input: typeof x, label: string) => {
    const before = allocs();
    const y = await f(input, w);
    const taken = allocs() - before;
    await assertMatches(y as never, ref, { label, atol: 1e-4 });
    (y as { deviceData(): { release(): void } }).deviceData().release();
    return taken;
  };
  await perCall(xd, 'first call');
  const host = await perCall(x, 'host input');
  for (let i = 0; i < 3; i++) assert.equal(await perCall(xd, `call ${i}`), host - 1, 'the device input is not copied');
  assert.deepEqual(await xd.toTypedArray(), x.toTypedArraySync(), 'the input is unchanged and still on the device');
});
