// toDevice: an array moved to where a program reads it. Without a GPU, asking for CUDA is a
// clear error carrying the driver's reason; with one, the copy round-trips exactly (the GPU
// half of this runs under npm run test:gpu, test/gpu/device_inputs.test.ts).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { cudaAvailable } from '../src/backends/cuda/driver.js';
import { NDArray, toDevice } from '../src/index.js';
import { randn } from './helpers.js';

test('toDevice to the host returns the array itself; bad arguments are TypeErrors naming what was wrong', async () => {
  const x = randn([3, 5], 1);
  assert.equal(await toDevice(x, 'cpu'), x);
  await assert.rejects(toDevice(x, 'tpu' as never), /toDevice: unknown device 'tpu' \(cpu or cuda\)/);
  await assert.rejects(toDevice(new Float32Array(4) as never, 'cuda'), /toDevice: expected an NDArray, got \[object Float32Array\]/);
});

test('toDevice to CUDA: a copy that reads back exactly, or where there is no GPU an error saying why', async () => {
  const x = NDArray.from(Float32Array.from({ length: 37 }, (_, i) => Math.sin(i) * 1e3), [37]);
  if (!cudaAvailable()) {
    await assert.rejects(toDevice(x, 'cuda'), /CUDA unavailable/);
    return;
  }
  const d = await toDevice(x, 'cuda');
  assert.equal(d.device, 'cuda');
  assert.deepEqual(d.shape, [37]);
  assert.deepEqual(await d.toTypedArray(), x.toTypedArraySync());
  const back = await toDevice(d, 'cpu');
  assert.equal(back.device, 'cpu');
  assert.deepEqual(back.toTypedArraySync(), x.toTypedArraySync());
});
