// The build bundles kiln's compiled modules (scripts/bundle_modules.mjs): the library (what
// `import kiln` loads) into dist/src/bundle/kiln.bundle.js, the CUDA warm path's runtime into
// warm_path.bundle.js, and turns each member file into a re-export of its bundle. What must
// hold: members are such shims, importing a member directly gives the bundle's own objects
// (one instance, never two), and the toolchain, which compile workers import, stays out.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const SHIM = /^\/\/ re-exports from a bundle \(scripts\/bundle_modules\.mjs\)\n/;
const cuda = new URL('../src/backends/cuda/', import.meta.url);
const srcDir = new URL('../src/', import.meta.url);
const CUDA_MEMBERS = ['backend', 'loader', 'runtime', 'allocator', 'launch', 'step_profile', 'driver', 'weights'];

test('the CUDA warm path: each member re-exports the one bundle, which takes library modules from the library bundle', () => {
  for (const m of CUDA_MEMBERS) {
    const text = readFileSync(new URL(`${m}.js`, cuda), 'utf8');
    assert.match(text, SHIM, `${m}.js`);
    assert.match(text, /from '\.\/warm_path\.bundle\.js';/, `${m}.js`);
  }
  const bundle = readFileSync(new URL('warm_path.bundle.js', cuda), 'utf8');
  // No library module (graph/, frontend/, observe/, config/, the toolchain...) is imported
  // through its shim: the only local module the bundle imports is the library bundle.
  const imports = [...bundle.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]!);
  assert.deepEqual([...new Set(imports.filter((p) => p.startsWith('.')))], ['../../bundle/kiln.bundle.js']);
  // The toolchain (imported by compile workers) lives in the library bundle, not in the runtime's.
  assert.match(readFileSync(new URL('toolchain.js', cuda), 'utf8'), /kiln\.bundle\.js/);
  assert.doesNotMatch(bundle, /function findNvrtc/);
});

test('a CUDA member imported directly is the bundle instance: one class, one allocator', async () => {
  const runtime = (await import(new URL('runtime.js', cuda).href)) as Record<string, unknown>;
  const backend = (await import(new URL('backend.js', cuda).href)) as Record<string, unknown>;
  const allocator = (await import(new URL('allocator.js', cuda).href)) as Record<string, unknown>;
  assert.equal(typeof runtime.CudaExecutable, 'function');
  assert.equal(typeof backend.CudaBackend, 'function');
  assert.equal(typeof allocator.deviceAllocator, 'function');
  assert.equal(allocator.deviceAllocator, (await import(new URL('allocator.js', cuda).href) as Record<string, unknown>).deviceAllocator);
});

test('the library: index.js and the modules it imports are shims of one bundle; kiln and a module imported directly share objects', async () => {
  for (const m of ['index.js', 'api/compile.js', 'graph/ndarray.js', 'graph/ir.js', 'cache/graph_key.js']) {
    assert.match(readFileSync(new URL(m, srcDir), 'utf8'), SHIM, m);
  }
  // The compile worker's entry is not part of `import kiln`; it imports the shims.
  assert.doesNotMatch(readFileSync(new URL('compile/worker_main.js', srcDir), 'utf8'), SHIM);
  const kiln = (await import(new URL('index.js', srcDir).href)) as Record<string, unknown>;
  const ndarray = (await import(new URL('graph/ndarray.js', srcDir).href)) as Record<string, unknown>;
  const counters = (await import(new URL('observe/counters.js', srcDir).href)) as Record<string, unknown>;
  assert.equal(kiln.NDArray, ndarray.NDArray);
  assert.equal(kiln.counters, counters.counters);
});
