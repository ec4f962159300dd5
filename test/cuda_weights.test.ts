// CUDA weight uploads (src/backends/cuda/weights.ts) without a GPU: the driver is a stand-in
// library (test/fixtures/fake_libcuda.c) whose device memory is host memory and whose async
// copies run only when something waits for them, as a copy engine's may. Every parameter read
// back must hold its bytes: a staging slot rewritten before its copy completed, a wrong offset
// or a lost tail would show. Also: one device copy per NDArray however many uploads name it,
// copies still in flight when the upload returns (they overlap what follows), concurrent
// uploads, and ordinary (pageable) staging when page-locked memory is off.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';
import koffi from 'koffi';

import { NDArray } from '../src/graph/ndarray.js';
import { needs } from './prereq.js';

const cc = ['/usr/bin/cc', '/usr/bin/gcc'].find((p) => fs.existsSync(p));
const skip = needs('cc', cc !== undefined, 'builds the stand-in libcuda');
const here = path.dirname(fileURLToPath(import.meta.url));
const source = [path.join(here, 'fixtures/fake_libcuda.c'), path.join(here, '../../test/fixtures/fake_libcuda.c')].find((p) => fs.existsSync(p))!;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-cuda-weights-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));

let weights: typeof import('../src/backends/cuda/weights.js');
let driver: typeof import('../src/backends/cuda/driver.js');
let pendingCopies: () => number;
let hostAllocs: () => number;

before(async () => {
  if (skip) return;
  const lib = path.join(work, 'libcuda.so');
  execFileSync(cc!, ['-shared', '-fPIC', '-O1', '-o', lib, source]);
  // Read when the driver is first used, which nothing in this process did yet.
  process.env.KILN_LIBCUDA = lib;
  driver = await import('../src/backends/cuda/driver.js');
  weights = await import('../src/backends/cuda/weights.js');
  driver.initCuda();
  const fake = koffi.load(lib);
  pendingCopies = fake.func('long fake_pending_copies(void)') as () => number;
  hostAllocs = fake.func('long fake_host_allocs(void)') as () => number;
});

/** Parameters of the given float32 lengths, each of distinct values. */
function params(lengths: number[], seed: number): NDArray[] {
  return lengths.map((n, j) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = ((i * 2654435761 + j * 40503 + seed) >>> 0) / 4294967296 - 0.5;
    return NDArray.from(a, [n]);
  });
}

/** Reads each parameter's device copy back (which completes every queued copy) and compares. */
function assertOnDevice(list: NDArray[]): void {
  for (const [i, a] of list.entries()) {
    const ptr = weights.deviceCopyOf(a);
    assert.ok(ptr !== undefined, `parameter ${i} has no device copy`);
    const want = a.toTypedArraySync() as Float32Array;
    const got = new Float32Array(want.length);
    if (want.length > 0) driver.memcpyDtoH(got, ptr, want.byteLength);
    assert.ok(Buffer.from(got.buffer).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength)), `parameter ${i} (${want.length} floats) differs on the device`);
  }
}

test('without page-locked memory (KILN_CUDA_PINNED=0), parameters upload through ordinary staging', { skip }, async () => {
  process.env.KILN_CUDA_PINNED = '0';
  try {
    const list = params([1, 3, 1000, 70_001, 0, 5], 1);
    await weights.uploadParams(list);
    assert.equal(hostAllocs(), 0, 'no page-locked memory');
    assert.equal(pendingCopies(), 0, 'synchronous copies');
    assertOnDevice(list);
  } finally {
    delete process.env.KILN_CUDA_PINNED;
  }
});

test('80 MB of parameters go through two page-locked slots, in order, each byte where it belongs', { skip }, async () => {
  // 2 × 32 MiB slots, refilled: params straddle slots, and odd sizes leave padding.
  const lengths = [3, 4_000_001, 7, 9_000_000, 1, 2_500_000, 12, 4_500_013];
  const list = params(lengths, 2);
  await weights.uploadParams(list);
  assert.equal(hostAllocs(), 2, 'two page-locked slots');
  // The last slot's copy is still queued: the upload returned without waiting for it.
  assert.ok(pendingCopies() > 0, 'copies in flight after the upload returned');
  assertOnDevice(list);
  assert.equal(pendingCopies(), 0);
});

test('an NDArray uploaded once is never uploaded again, whichever upload names it', { skip }, async () => {
  const list = params([100, 200_000], 3);
  await weights.uploadParams(list);
  const ptrs = list.map((a) => weights.deviceCopyOf(a));
  driver.ctxSynchronize();
  await weights.uploadParams([...list, ...list]);
  weights.uploadParamsNow(list);
  assert.equal(pendingCopies(), 0, 'nothing copied again');
  assert.deepEqual(list.map((a) => weights.deviceCopyOf(a)), ptrs);
  assertOnDevice(list);
});

test('an upload started ahead and one made at run time share parameters and both land', { skip }, async () => {
  const a = params([3_000_000, 17, 6_000_000], 4);
  const b = [a[1]!, ...params([8_000_000, 9], 5)];
  const ahead = weights.uploadParams([...a, ...b.slice(1)]);
  assert.ok(weights.uploadsInFlight());
  // A run does this: wait for uploads started ahead, then upload what is still missing.
  const run = (async () => {
    await weights.weightsEnqueued();
    weights.uploadParamsNow(b);
  })();
  await Promise.all([ahead, run]);
  assert.equal(weights.uploadsInFlight(), false);
  assertOnDevice([...a, ...b]);
});

test('two uploads started together share the slots one after the other; a run-time upload meanwhile copies directly', { skip }, async () => {
  // Each big enough that its slots are filled on the thread pool (host_copy.ts), so the first
  // is still filling a slot when the others start.
  const a = params([9_000_000, 5, 7_000_003], 6);
  const b = [a[0]!, ...params([8_000_000, 11, 6_500_000], 7)];
  const c = params([2_000_000, 3], 8);
  const first = weights.uploadParams(a);
  const second = weights.uploadParams(b);
  assert.ok(weights.uploadsInFlight());
  // A run that did not wait for them (its own parameters): must not write into their slots.
  weights.uploadParamsNow(c);
  await Promise.all([first, second]);
  assert.equal(weights.deviceCopyOf(b[0]!), weights.deviceCopyOf(a[0]!), 'a shared parameter has one device copy');
  assertOnDevice([...a, ...b, ...c]);
});
