// src/backends/cuda/host_copy.ts: the staging slots' host copies, split over libuv's thread
// pool. Every byte must land where it belongs whether a batch is copied here (small) or in
// pieces on the pool (parts cut at piece boundaries, small parts copied here meanwhile).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { type CopyPart, copyParts } from '../src/backends/cuda/host_copy.js';

function random(n: number, seed: number): Uint8Array {
  const a = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    a[i] = x & 255;
  }
  return a;
}

/** Parts of the given sizes laid end to end into one destination, with a guard byte region after it. */
function batch(sizes: number[], seed: number): { parts: CopyPart[]; dst: Uint8Array; want: Uint8Array } {
  const total = sizes.reduce((a, b) => a + b, 0);
  const dst = new Uint8Array(total + 64).fill(0xee);
  const want = new Uint8Array(total + 64).fill(0xee);
  let at = 0;
  const parts = sizes.map((n, i) => {
    const src = random(n, seed + i);
    want.set(src, at);
    const p = { src, dst: dst.subarray(at, at + n) };
    at += n;
    return p;
  });
  return { parts, dst, want };
}

test('a small batch is copied at once, on this thread', () => {
  const { parts, dst, want } = batch([1, 1000, 70_001, 0], 1);
  assert.equal(copyParts(parts), undefined);
  assert.ok(Buffer.from(dst).equals(Buffer.from(want)));
});

test('a big batch goes to the thread pool in pieces; every byte lands, nothing past the end is written', async () => {
  // Parts bigger than a piece (cut), parts below the piece size (copied here), odd sizes.
  const { parts, dst, want } = batch([5_000_003, 17, 300_000, 9_000_001, 3, 2_000_000], 2);
  const p = copyParts(parts);
  assert.ok(p instanceof Promise, 'copied on the pool');
  await p;
  assert.ok(Buffer.from(dst).equals(Buffer.from(want)));
});

test('a part whose destination has another length is refused before anything is copied', () => {
  const src = random(100, 3);
  const dst = new Uint8Array(99);
  assert.throws(() => copyParts([{ src, dst }]), /100 bytes into 99/);
  assert.ok(dst.every((v) => v === 0));
});
