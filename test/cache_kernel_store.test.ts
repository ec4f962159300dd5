// KernelStore: round trip, corruption handling, and that it never counts hits or misses.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import type { CompiledKernel } from '../src/cache/compiled_kernel.js';
import { openCache } from '../src/cache/open_cache.js';
import { counters } from '../src/observe/counters.js';


// These tests are about the default behaviour; the environment running them must not change it.
delete process.env.KILN_NO_CACHE;
delete process.env.KILN_CACHE_MAX_MB;
const root = mkdtempSync(join(tmpdir(), 'kiln-cache-kernel-'));
after(() => rmSync(root, { recursive: true, force: true }));

function randomKernel(name: string, size = 4096): CompiledKernel {
  return {
    key: createHash('sha256').update(name).digest('hex'),
    backend: 'cuda',
    kernelName: `k_${name}`,
    binary: new Uint8Array(randomBytes(size)),
    meta: { params: 3, launch: { grid: [4, 1, 1], block: [128, 1, 1], shared: 0 }, gemm: { batch: 1, M: 8, N: 16, K: 4, a: { param: 0, offset: 0, ld: 4, trans: false, batchStride: 0 }, b: { param: 1, offset: 0, ld: 16, trans: true, batchStride: 0 } } },
    log: 'warning: something ✓',
    compileMs: 12.5,
  };
}

function entryPath(dir: string, key: string): string {
  return join(dir, 'kernels', key.slice(0, 2), `${key}.kentry`);
}

test('put then get returns an identical kernel, and does not count hits or misses', () => {
  const dir = join(root, 'rt');
  const { kernels, location } = openCache({ cacheDir: dir });
  assert.equal(location.kind, 'disk');
  const k = randomKernel('rt', 100_000);
  const before = counters();
  assert.equal(kernels.get(k.key), undefined);
  kernels.put(k);
  assert.deepEqual(kernels.get(k.key), k);
  assert.ok(existsSync(entryPath(dir, k.key)));
  const after = counters();
  assert.equal(after.kernel_cache_hits, before.kernel_cache_hits);
  assert.equal(after.kernel_cache_misses, before.kernel_cache_misses);
  assert.equal(after.cache_corrupt, before.cache_corrupt);
});

test('flipping any byte or truncating a kernel entry is a miss that removes the file and counts cache_corrupt', () => {
  const dir = join(root, 'corrupt');
  const { kernels } = openCache({ cacheDir: dir });
  const k = randomKernel('corrupt', 2000);
  kernels.put(k);
  const path = entryPath(dir, k.key);
  const good = readFileSync(path);
  const n = good.byteLength;
  // Header fields, the JSON half, the blob table, the binary, the last byte, plus random spots.
  const spots = [0, 3, 4, 8, 15, 16, 47, 48, 52, 60, 100, Math.floor(n / 2), n - 1];
  for (let i = 0; i < 20; i++) spots.push(Math.floor(Math.random() * n));
  const damage: [string, () => void][] = [];
  for (const i of spots) {
    damage.push([`flip ${i}`, () => writeFileSync(path, Buffer.from(good).fill(good[i]! ^ 0xa5, i, i + 1))]);
  }
  for (const len of [0, 10, 47, 48, 200, n - 1]) {
    damage.push([`truncate ${len}`, () => (writeFileSync(path, good), truncateSync(path, len))]);
  }
  for (const [what, harm] of damage) {
    harm();
    const before = counters().cache_corrupt;
    assert.equal(kernels.get(k.key), undefined, what);
    assert.ok(counters().cache_corrupt >= before + 1, `${what}: cache_corrupt`);
    assert.ok(!existsSync(path), `${what}: file removed`);
  }
  kernels.put(k); // and a fresh put heals it
  assert.deepEqual(kernels.get(k.key), k);
});

test('a valid entry filed under another key is not served', () => {
  const dir = join(root, 'mismatch');
  const { kernels } = openCache({ cacheDir: dir });
  const a = randomKernel('a');
  const b = randomKernel('b');
  kernels.put(a);
  const bPath = entryPath(dir, b.key);
  mkdirSync(dirname(bPath), { recursive: true });
  writeFileSync(bPath, readFileSync(entryPath(dir, a.key)));
  const before = counters().cache_corrupt;
  assert.equal(kernels.get(b.key), undefined);
  assert.equal(counters().cache_corrupt, before + 1);
  assert.ok(!existsSync(bPath));
});

test('unusable keys are refused without throwing', () => {
  const { kernels } = openCache({ cacheDir: join(root, 'badkey') });
  assert.equal(kernels.get('../../etc/passwd'), undefined);
  assert.doesNotThrow(() => kernels.put({ ...randomKernel('x'), key: '../escape' }));
  assert.ok(!existsSync(join(root, 'escape.kentry')));
});
