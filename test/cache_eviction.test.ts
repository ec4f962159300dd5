// KILN_CACHE_MAX_MB: least-recently-used entries (by mtime, refreshed on every hit) go first.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { CompiledKernel } from '../src/cache/compiled_kernel.js';
import { cacheStats } from '../src/cache/artifacts.js';
import { KernelStore } from '../src/cache/kernel_store.js';
import { MemoryBackend } from '../src/cache/memory_backend.js';
import { openCache } from '../src/cache/open_cache.js';

const root = mkdtempSync(join(tmpdir(), 'kiln-cache-evict-'));
after(() => rmSync(root, { recursive: true, force: true }));

function kernel(i: number): CompiledKernel {
  return {
    key: createHash('sha256').update(`evict${i}`).digest('hex'),
    backend: 'c',
    kernelName: `k${i}`,
    binary: new Uint8Array(randomBytes(40_000)),
    meta: { params: 1 },
    log: '',
    compileMs: 1,
  };
}

const pathOf = (dir: string, k: CompiledKernel): string => join(dir, 'kernels', k.key.slice(0, 2), `${k.key}.kentry`);

test('over the bound, the least recently used entries are evicted and the recently used kept', () => {
  const dir = join(root, 'disk');
  const maxBytes = 0.25 * 1024 * 1024; // room for six 40 KB entries, not seven
  const { kernels } = openCache({ cacheDir: dir, env: { ...process.env, KILN_CACHE_MAX_MB: '0.25', KILN_NO_CACHE: '' } });
  const ks = Array.from({ length: 7 }, (_, i) => kernel(i));
  for (const k of ks.slice(0, 5)) kernels.put(k);
  // Give the first five distinct, old use times (k0 oldest), then use k0 now.
  const old = Date.now() / 1000 - 1000;
  ks.slice(0, 5).forEach((k, i) => utimesSync(pathOf(dir, k), old + i, old + i));
  assert.deepEqual(kernels.get(ks[0]!.key), ks[0]);
  kernels.put(ks[5]!);
  kernels.put(ks[6]!); // now over the bound: evict down to 90% of it
  assert.ok(existsSync(pathOf(dir, ks[0]!)), 'recently used k0 kept');
  assert.ok(!existsSync(pathOf(dir, ks[1]!)), 'least recently used k1 evicted');
  assert.ok(!existsSync(pathOf(dir, ks[2]!)), 'next least recently used k2 evicted');
  for (const i of [3, 4, 5, 6]) assert.deepEqual(kernels.get(ks[i]!.key), ks[i], `k${i} kept`);
  assert.ok(cacheStats(dir).bytes <= maxBytes);
});

test('without a bound nothing is evicted', () => {
  const dir = join(root, 'unbounded');
  const { kernels } = openCache({ cacheDir: dir, env: { ...process.env, KILN_CACHE_MAX_MB: '', KILN_NO_CACHE: '' } });
  const ks = Array.from({ length: 7 }, (_, i) => kernel(i));
  for (const k of ks) kernels.put(k);
  assert.equal(cacheStats(dir).kernels, 7);
});

test('the in-memory fallback honours the same bound, least recently used first', () => {
  const kernels = new KernelStore(new MemoryBackend(130_000)); // room for three
  const ks = Array.from({ length: 4 }, (_, i) => kernel(i));
  for (const k of ks.slice(0, 3)) kernels.put(k);
  assert.deepEqual(kernels.get(ks[0]!.key), ks[0]);
  kernels.put(ks[3]!);
  assert.equal(kernels.get(ks[1]!.key), undefined);
  for (const i of [0, 2, 3]) assert.deepEqual(kernels.get(ks[i]!.key), ks[i]);
});
