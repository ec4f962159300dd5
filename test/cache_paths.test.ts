// Where the cache lives, and that an unusable or disabled cache never breaks a run.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import type { CompiledKernel } from '../src/cache/compiled_kernel.js';
import { DiskBackend } from '../src/cache/disk_backend.js';
import { graphKey } from '../src/cache/graph_store.js';
import { KernelStore } from '../src/cache/kernel_store.js';
import { openCache } from '../src/cache/open_cache.js';
import { configuredCacheDir } from '../src/cache/paths.js';


// These tests are about the default behaviour; the environment running them must not change it.
delete process.env.KILN_NO_CACHE;
delete process.env.KILN_CACHE_MAX_MB;
const root = mkdtempSync(join(tmpdir(), 'kiln-cache-paths-'));
after(() => rmSync(root, { recursive: true, force: true }));

const kernel: CompiledKernel = {
  key: createHash('sha256').update('paths').digest('hex'),
  backend: 'c',
  kernelName: 'k',
  binary: new Uint8Array(randomBytes(2048)),
  meta: { params: 1 },
  log: '',
  compileMs: 1,
};

function captureStderr(fn: () => void): string {
  const original = process.stderr.write.bind(process.stderr);
  let text = '';
  process.stderr.write = ((chunk: string | Uint8Array) => ((text += String(chunk)), true)) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stderr.write = original;
  }
  return text;
}

test('option cacheDir beats KILN_CACHE_DIR beats ~/.cache/kiln', () => {
  assert.equal(configuredCacheDir({ cacheDir: 'opt', env: { KILN_CACHE_DIR: '/env' } }), resolve('opt'));
  assert.equal(configuredCacheDir({ env: { KILN_CACHE_DIR: '/env' } }), '/env');
  assert.equal(configuredCacheDir({ env: {} }), join(homedir(), '.cache', 'kiln'));
  assert.equal(configuredCacheDir({ cacheDir: '', env: { KILN_CACHE_DIR: '' } }), join(homedir(), '.cache', 'kiln'));
});

test('a directory under a regular file: one warning, in-memory operation, no throw', () => {
  const file = join(root, 'a-file');
  writeFileSync(file, 'not a directory');
  const dir = join(file, 'cache');
  let cache: ReturnType<typeof openCache> | undefined;
  const text = captureStderr(() => {
    cache = openCache({ cacheDir: dir });
    cache.kernels.put(kernel);
    assert.deepEqual(cache.kernels.get(kernel.key), kernel);
    cache.graphs.putBundle(graphKey(['g']), { plan: { a: 1 }, kernels: [kernel] }, 'm');
    assert.deepEqual(cache.graphs.getBundle(graphKey(['g'])), { plan: { a: 1 }, kernels: [kernel], label: 'm' });
    openCache({ cacheDir: dir }); // the same location again: no second warning
  });
  assert.equal(cache!.location.kind, 'memory');
  assert.equal(text.trim().split('\n').length, 1, text);
  assert.match(text, /not usable.*memory/);
});

test('a disk store whose directory breaks later warns once and never throws', () => {
  const file = join(root, 'another-file');
  writeFileSync(file, 'x');
  const store = new KernelStore(new DiskBackend(join(file, 'cache')));
  const text = captureStderr(() => {
    assert.doesNotThrow(() => store.put(kernel));
    assert.doesNotThrow(() => store.put(kernel));
    assert.equal(store.get(kernel.key), undefined);
  });
  assert.equal(text.trim().split('\n').length, 1, text);
});

test('KILN_NO_CACHE=1: nothing is stored, nothing is found, the directory is not created', () => {
  const dir = join(root, 'disabled');
  const cache = openCache({ cacheDir: dir, env: { ...process.env, KILN_NO_CACHE: '1' } });
  assert.equal(cache.location.kind, 'disabled');
  cache.kernels.put(kernel);
  assert.equal(cache.kernels.get(kernel.key), undefined);
  cache.graphs.putBundle(graphKey(['x']), { plan: {}, kernels: [] });
  assert.equal(cache.graphs.getBundle(graphKey(['x'])), undefined);
  assert.ok(!existsSync(dir));
});
