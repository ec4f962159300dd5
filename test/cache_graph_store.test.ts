// GraphStore: bundles round-trip (plan with typed arrays, kernels, label), corruption is a
// counted miss, plans that cannot round-trip are refused, graphKey is canonical.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { CompiledKernel } from '../src/cache/compiled_kernel.js';
import { openCache } from '../src/cache/open_cache.js';
import { graphKey, type GraphBundle } from '../src/cache/graph_store.js';
import { kilnBuildId } from '../src/cache/build_id.js';
import { counters } from '../src/observe/counters.js';
import { canonicalJson, canonicalText } from '../src/cache/canonical_json.js';


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
    meta: { params: 7 },
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

test('a plan of plain JSON (stored without tags, read back without decoding) round-trips too', () => {
  const { graphs } = openCache({ cacheDir: join(root, 'plain') });
  const key = graphKey(['plain']);
  const bundle = { plan: { buffers: [{ id: 0, shape: [4, 24], dtype: 'float32' }], steps: [{ kernel: 0, args: [0] }], note: null, big: 1e300 }, kernels: [randomKernel('p')] };
  graphs.putBundle(key, bundle);
  assert.deepEqual(graphs.getBundle(key), bundle);
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

// canonicalJson writes plain JSON through JSON.stringify (fast) and everything else through
// its own writer; both must give the one text, or equal graphs would get different keys.
test('canonicalJson: the native path writes exactly what the full writer writes, on random plain values', () => {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const keyNames = ['a', 'b', 'B', '0', '10', '2', 'op', 'shape', 'é', 'k"q', 'inputs', ''];
  const value = (depth: number): unknown => {
    const r = rand();
    if (depth > 3 || r < 0.3) {
      const leaves = [() => rand() * 1e6 - 5e5, () => Math.floor(rand() * 100), () => 'text' + Math.floor(rand() * 9), () => '\u2028\n"', () => rand() < 0.5, () => null, () => 1e-300];
      return leaves[Math.floor(rand() * leaves.length)]!();
    }
    if (r < 0.6) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = Math.floor(rand() * 5); i > 0; i--) o[keyNames[Math.floor(rand() * keyNames.length)]!] = value(depth + 1);
    return o;
  };
  for (let i = 0; i < 500; i++) {
    const v = value(0);
    assert.equal(canonicalJson(v), canonicalText(v));
  }
  // Values only the full writer can tell apart, nested inside otherwise plain ones.
  for (const odd of [NaN, -0, Infinity, undefined, new Float32Array([1]), new Map([[1, 2]]), 3n]) {
    const v = { nodes: [{ op: 'const', data: [1, odd] }] };
    assert.equal(canonicalJson(v), canonicalText(v));
    assert.match(canonicalJson(v), /!/);
  }
  const holes = [1, , 2]; // eslint-disable-line no-sparse-arrays
  assert.equal(canonicalJson(holes), canonicalText(holes));
  assert.notEqual(canonicalJson(holes), canonicalJson([1, null, 2]));
});

test("the graph key covers kiln's build id: a plan cached by another build of the scheduler is never loaded", () => {
  const written = JSON.parse(readFileSync(new URL('../src/build_id.json', import.meta.url), 'utf8')) as { buildId: string };
  assert.match(written.buildId, /^[0-9a-f]{32}$/, 'npm run build writes dist/src/build_id.json');
  assert.equal(kilnBuildId(), written.buildId);
  const parts = [{ nodes: [1, 2, 3] }, 'cpu'];
  assert.equal(graphKey(parts), graphKey(parts, written.buildId));
  assert.notEqual(graphKey(parts, 'another-build'), graphKey(parts, written.buildId));
});
