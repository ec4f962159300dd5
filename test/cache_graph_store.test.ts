// GraphStore: bundles round-trip (plan with typed arrays, kernels, label), corruption is a
// counted miss, plans that cannot round-trip are refused, graphKey is canonical.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { CompiledKernel } from '../src/compile/types.js';
import { openCache } from '../src/cache/open_cache.js';
import { graphKey, type GraphBundle } from '../src/cache/graph_store.js';
import { kilnBuildId } from '../src/cache/build_id.js';
import { counters } from '../src/observe/counters.js';


// These tests are about the default behaviour; the environment running them must not change it.
delete process.env.KILN_NO_CACHE;
delete process.env.KILN_CACHE_MAX_MB;
const root = mkdtempSync(join(tmpdir(), 'kiln-cache-graph-'));
after(() => rmSync(root, { recursive: true, force: true }));

function randomKernel(name: string): CompiledKernel {
  return {
    key: createHash('sha256').update(name).digest('hex'),
    backend: 'c',
    kernelName: `k_${name}`,
    binary: new Uint8Array(randomBytes(1000 + Math.floor(Math.random() * 3000))),
    meta: { params: ['a', 'b'], n: 7 },
    log: '',
    compileMs: 3,
  };
}

function randomBundle(): GraphBundle {
  return {
    plan: {
      buffers: [{ id: 0, bytes: 1024, dtype: 'float32' }, { id: 1, bytes: 64, dtype: 'int64' }],
      steps: [{ launch: 'k_a', args: [0, 1], scalar: -0.5 }, { free: 1 }],
      constants: { iota: new Int32Array([3, 1, 4, 1, 5]), table: new Float64Array([Math.PI, -1e300]) },
      outputs: [0],
      specials: [NaN, Infinity, -Infinity, -0, 0, 1e-310],
      note: null,
    },
    kernels: [randomKernel('a'), randomKernel('b'), randomKernel('c')],
  };
}

test('a bundle round-trips with its label', () => {
  const { graphs } = openCache({ cacheDir: join(root, 'rt') });
  const key = graphKey(['rt']);
  const bundle = randomBundle();
  assert.equal(graphs.getBundle(key), undefined);
  graphs.putBundle(key, bundle, 'model.onnx');
  assert.deepEqual(graphs.getBundle(key), { ...bundle, label: 'model.onnx' });
  const unlabeled = graphKey(['unlabeled']);
  graphs.putBundle(unlabeled, bundle);
  assert.deepEqual(graphs.getBundle(unlabeled), bundle);
});

test('flipping any byte or truncating a graph entry is a miss that removes it and counts cache_corrupt', () => {
  const dir = join(root, 'corrupt');
  const { graphs } = openCache({ cacheDir: dir });
  const key = graphKey(['corrupt']);
  const bundle = randomBundle();
  graphs.putBundle(key, bundle, 'm');
  const path = join(dir, 'graphs', `${key}.gentry`);
  const good = readFileSync(path);
  const n = good.byteLength;
  const spots = [0, 5, 9, 20, 47, 48, 49, 120, Math.floor(n / 3), Math.floor(n / 2), n - 2, n - 1];
  for (let i = 0; i < 20; i++) spots.push(Math.floor(Math.random() * n));
  const variants: [string, Buffer][] = spots.map((i) => [`flip ${i}`, Buffer.from(good).fill(good[i]! ^ 0x3c, i, i + 1)]);
  for (const len of [0, 30, 48, 300, n - 1]) variants.push([`truncate ${len}`, good.subarray(0, len)]);
  for (const [what, bytes] of variants) {
    writeFileSync(path, bytes);
    const before = counters().cache_corrupt;
    assert.equal(graphs.getBundle(key), undefined, what);
    assert.ok(counters().cache_corrupt >= before + 1, `${what}: cache_corrupt`);
    assert.ok(!existsSync(path), `${what}: removed`);
  }
});

test('a plan that cannot round-trip exactly is not stored, and nothing throws', () => {
  const { graphs } = openCache({ cacheDir: join(root, 'unstorable') });
  const original = process.stderr.write.bind(process.stderr);
  let text = '';
  process.stderr.write = ((chunk: string | Uint8Array) => ((text += String(chunk)), true)) as typeof process.stderr.write;
  try {
    for (const plan of [{ m: new Map() }, { f: () => 1 }, [1, undefined], { $kilnNumber: 'x' }, 10n]) {
      const key = graphKey(['unstorable', String(plan)]);
      assert.doesNotThrow(() => graphs.putBundle(key, { plan, kernels: [] }));
      assert.equal(graphs.getBundle(key), undefined);
    }
  } finally {
    process.stderr.write = original;
  }
  assert.match(text, /not caching/);
});

test('graphKey: equal parts give equal keys regardless of key order; different parts differ', () => {
  const k = graphKey([{ a: 1, b: [2, 3] }, 'cpu']);
  assert.match(k, /^[0-9a-f]{64}$/);
  assert.equal(graphKey([{ b: [2, 3], a: 1 }, 'cpu']), k);
  const different = [
    graphKey([{ a: 1, b: [2, 3] }, 'cuda']),
    graphKey([{ a: 1, b: [3, 2] }, 'cpu']),
    graphKey([{ a: NaN }]),
    graphKey([{ a: null }]),
    graphKey([new Float32Array([1, 2])]),
    graphKey([{ 0: 1, 1: 2 }]),
    graphKey([0]),
    graphKey([-0]),
  ];
  assert.equal(new Set([k, ...different]).size, different.length + 1);
});

test("the graph key covers kiln's build id: a plan cached by another build of the scheduler is never loaded", () => {
  const written = JSON.parse(readFileSync(new URL('../src/build_id.json', import.meta.url), 'utf8')) as { buildId: string };
  assert.match(written.buildId, /^[0-9a-f]{32}$/, 'npm run build writes dist/src/build_id.json');
  assert.equal(kilnBuildId(), written.buildId);
  const parts = [{ nodes: [1, 2, 3] }, 'cpu'];
  assert.equal(graphKey(parts), graphKey(parts, written.buildId));
  assert.notEqual(graphKey(parts, 'another-build'), graphKey(parts, written.buildId));
});
