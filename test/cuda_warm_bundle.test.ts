// The build bundles the CUDA backend's warm-path modules into one ES module (scripts/
// bundle_warm_path.mjs) and turns each original file into a re-export of it. What must hold:
// every member is such a shim, importing a member directly gives the bundle's own objects
// (one instance, never two), and the backend still loads without a GPU.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const MEMBERS = ['backend', 'loader', 'runtime', 'allocator', 'launch'];
const dir = new URL('../src/backends/cuda/', import.meta.url);

test('each warm-path module is a re-export of the one bundle; the toolchain, which compile workers import, is not in it', () => {
  for (const m of MEMBERS) {
    const text = readFileSync(new URL(`${m}.js`, dir), 'utf8');
    assert.match(text, /^\/\/ re-exports from warm_path\.bundle\.js/, `${m}.js`);
    assert.match(text, /from '\.\/warm_path\.bundle\.js';\n$/, `${m}.js`);
  }
  assert.doesNotMatch(readFileSync(new URL('toolchain.js', dir), 'utf8'), /warm_path\.bundle/);
  assert.doesNotMatch(readFileSync(new URL('warm_path.bundle.js', dir), 'utf8'), /function findNvrtc/);
});

test('a member imported directly is the bundle instance: one class, one allocator', async () => {
  const bundle = (await import(new URL('warm_path.bundle.js', dir).href)) as Record<string, unknown>;
  const runtime = (await import(new URL('runtime.js', dir).href)) as Record<string, unknown>;
  const allocator = (await import(new URL('allocator.js', dir).href)) as Record<string, unknown>;
  const backend = (await import(new URL('backend.js', dir).href)) as Record<string, unknown>;
  assert.equal(runtime.CudaExecutable, bundle.CudaExecutable);
  assert.equal(backend.CudaBackend, bundle.CudaBackend);
  assert.equal(typeof allocator.deviceAllocator, 'function');
  assert.equal(allocator.deviceAllocator, bundle.deviceAllocator);
  // A name each shim re-exports exists in the bundle (a renamed export would be undefined).
  for (const m of MEMBERS) {
    const mod = (await import(new URL(`${m}.js`, dir).href)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(mod)) assert.equal(value, bundle[name], `${m}.js: ${name}`);
  }
});
