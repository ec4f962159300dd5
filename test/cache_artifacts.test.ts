// export → clear → import restores identical entries; export by label ships one model.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { CompiledKernel } from '../src/cache/compiled_kernel.js';
import { cacheStats, clearCache, exportArtifacts, importArtifacts } from '../src/cache/artifacts.js';
import { graphKey } from '../src/cache/graph_store.js';
import { listEntryFiles } from '../src/cache/layout.js';
import { openCache } from '../src/cache/open_cache.js';


// These tests are about the default behaviour; the environment running them must not change it.
delete process.env.KILN_NO_CACHE;
delete process.env.KILN_CACHE_MAX_MB;
const root = mkdtempSync(join(tmpdir(), 'kiln-cache-art-'));
after(() => rmSync(root, { recursive: true, force: true }));
// Artifacts are signed with this machine's key (generated on first use): one of the test's own.
process.env.XDG_CONFIG_HOME = join(root, 'config');
delete process.env.KILN_CONFIG_DIR;
delete process.env.KILN_SIGNING_KEY;

function kernel(name: string): CompiledKernel {
  return {
    key: createHash('sha256').update(name).digest('hex'),
    backend: 'cuda',
    kernelName: name,
    binary: new Uint8Array(randomBytes(3000)),
    meta: { params: 2, launch: { grid: [2, 1, 1], block: [128, 1, 1], shared: 0 } },
    log: '',
    compileMs: 2,
  };
}

/** A cache with kernels k1..k4, bundle A (label a.onnx: k1, k2) and bundle B (label b.onnx: k3). k4 is in no bundle. */
function populate(dir: string) {
  const { kernels, graphs } = openCache({ cacheDir: dir });
  const ks = ['k1', 'k2', 'k3', 'k4'].map(kernel);
  for (const k of ks) kernels.put(k);
  const a = { key: graphKey(['A']), bundle: { plan: { steps: [1, 2] }, kernels: [ks[0]!, ks[1]!] } };
  const b = { key: graphKey(['B']), bundle: { plan: { steps: [3] }, kernels: [ks[2]!] } };
  graphs.putBundle(a.key, a.bundle, 'a.onnx');
  graphs.putBundle(b.key, b.bundle, 'b.onnx');
  return { ks, a, b };
}

/** Every entry file's bytes, by kind and key. */
function snapshot(dir: string): Map<string, Buffer> {
  return new Map(listEntryFiles(dir).map((e) => [`${e.kind}:${e.key}`, readFileSync(e.path)]));
}

test('export, clear, import: every entry comes back byte-identical', () => {
  const dir = join(root, 'all');
  const { ks, a, b } = populate(dir);
  const stats = cacheStats(dir);
  assert.deepEqual({ kernels: stats.kernels, graphs: stats.graphs, dir: stats.dir }, { kernels: 4, graphs: 2, dir });
  const before = snapshot(dir);

  const file = join(root, 'all.kiln');
  const exported = exportArtifacts(dir, file);
  assert.deepEqual({ kernels: exported.kernels, graphs: exported.graphs }, { kernels: 4, graphs: 2 });
  assert.equal(exported.bytes, readFileSync(file).byteLength);

  assert.equal(clearCache(dir).kernels, 4);
  assert.deepEqual(cacheStats(dir), { dir, kernels: 0, graphs: 0, bytes: 0 });
  const { kernels, graphs } = openCache({ cacheDir: dir });
  assert.equal(kernels.get(ks[0]!.key), undefined);

  assert.deepEqual(importArtifacts(dir, file), { kernels: 4, graphs: 2, skipped: 0, signer: exported.signer });
  assert.deepEqual(snapshot(dir), before);
  for (const k of ks) assert.deepEqual(kernels.get(k.key), k);
  assert.deepEqual(graphs.getBundle(a.key), { ...a.bundle, label: 'a.onnx' });
  assert.deepEqual(graphs.getBundle(b.key), { ...b.bundle, label: 'b.onnx' });
  assert.deepEqual(cacheStats(dir), stats);
});

test('export by label ships that model\'s bundles and only the kernels they reference', () => {
  const dir = join(root, 'label-src');
  const { ks, a } = populate(dir);
  const file = join(root, 'a.kiln');
  const exported = exportArtifacts(dir, file, { label: 'a.onnx' });
  assert.deepEqual({ kernels: exported.kernels, graphs: exported.graphs }, { kernels: 2, graphs: 1 });

  const fresh = join(root, 'label-dst');
  assert.deepEqual(importArtifacts(fresh, file), { kernels: 2, graphs: 1, skipped: 0, signer: exported.signer });
  const { kernels, graphs } = openCache({ cacheDir: fresh });
  assert.deepEqual(graphs.getBundle(a.key), { ...a.bundle, label: 'a.onnx' });
  assert.deepEqual(kernels.get(ks[0]!.key), ks[0]);
  assert.deepEqual(kernels.get(ks[1]!.key), ks[1]);
  assert.equal(kernels.get(ks[2]!.key), undefined);
  assert.equal(kernels.get(ks[3]!.key), undefined);
  assert.equal(graphs.getBundle(graphKey(['B'])), undefined);

  assert.deepEqual(exportArtifacts(dir, join(root, 'none.kiln'), { label: 'nope.onnx' }).kernels, 0);
});

test('a damaged or foreign artifact file is refused and writes nothing', () => {
  const dir = join(root, 'damage-src');
  populate(dir);
  const file = join(root, 'damaged.kiln');
  exportArtifacts(dir, file);
  const bytes = readFileSync(file);
  bytes[bytes.byteLength - 10] = bytes[bytes.byteLength - 10]! ^ 0xff;
  writeFileSync(file, bytes);
  const fresh = join(root, 'damage-dst');
  assert.throws(() => importArtifacts(fresh, file), /corrupt/);
  assert.throws(() => importArtifacts(fresh, join(root, 'missing.kiln')), /no such file/);
  assert.equal(cacheStats(fresh).kernels + cacheStats(fresh).graphs, 0);
});
