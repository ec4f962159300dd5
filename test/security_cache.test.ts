// Issue 14, items 2, 4 and 7: cache entries are bound to their key, keys never become paths,
// non-regular files at entry paths never hang, bloat or keep recompiling, and nothing another
// user can write is loaded from.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { encodeBundle } from '../src/cache/graph_bundle.js';
import { graphKey } from '../src/cache/graph_store.js';
import { entryRelPath, listEntryFiles } from '../src/cache/layout.js';
import { openCache } from '../src/cache/open_cache.js';
import { writeEntryAtomic } from '../src/cache/entry_file.js';
import type { CompiledKernel } from '../src/compile/types.js';
import { counters } from '../src/observe/counters.js';
import { type ChildResult, type ProgramSpec, resultOf, runChild } from './fixtures/programs.js';

delete process.env.KILN_NO_CACHE;
delete process.env.KILN_CACHE_MAX_MB;
const root = mkdtempSync(join(tmpdir(), 'kiln-sec-cache-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const newDir = (name: string): string => join(root, `${name}-${n++}`);

function kernel(name: string): CompiledKernel {
  return { key: createHash('sha256').update(name).digest('hex'), backend: 'c', kernelName: name, binary: new Uint8Array(randomBytes(512)), meta: {}, log: '', compileMs: 1 };
}

const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);

function assertCorrect(r: ChildResult): void {
  for (const p of r.programs ?? []) assert.equal(p.correct, true, `${p.name}: wrong answer (worst excess ${p.worstExcess})`);
}

// ---- item 4: graph entries are bound to their key

test('two swapped graph entries are corrupt, not each other\'s plan (store)', () => {
  const dir = newDir('swap-store');
  const { graphs } = openCache({ cacheDir: dir });
  const a = graphKey(['swap-A']);
  const b = graphKey(['swap-B']);
  graphs.putBundle(a, { plan: { which: 'A' }, kernels: [kernel('ka')] });
  graphs.putBundle(b, { plan: { which: 'B' }, kernels: [kernel('kb')] });
  const pa = join(dir, entryRelPath('graph', a));
  const pb = join(dir, entryRelPath('graph', b));
  const tmp = `${pa}.swap`;
  renameSync(pa, tmp);
  renameSync(pb, pa);
  renameSync(tmp, pb);
  const before = counters().cache_corrupt;
  assert.equal(graphs.getBundle(a), undefined);
  assert.equal(graphs.getBundle(b), undefined);
  assert.equal(counters().cache_corrupt - before, 2);
  assert.ok(!existsSync(pa) && !existsSync(pb), 'mismatched entries are removed');
});

test('two swapped graph entries on disk: right answers, counted corrupt, recompiled (end to end)', async () => {
  const dir = newDir('swap-e2e');
  const A: ProgramSpec = { kind: 'layers', indices: range(610, 3) };
  const B: ProgramSpec = { kind: 'layers', indices: range(620, 3) };
  resultOf(await runChild({ programs: [A], workers: 1, cacheDir: dir }));
  const [ga] = listEntryFiles(dir).filter((e) => e.kind === 'graph');
  resultOf(await runChild({ programs: [B], workers: 1, cacheDir: dir }));
  const gb = listEntryFiles(dir).find((e) => e.kind === 'graph' && e.path !== ga!.path)!;
  const bytesA = readFileSync(ga!.path);
  writeFileSync(ga!.path, readFileSync(gb.path));
  writeFileSync(gb.path, bytesA);
  const r = resultOf(await runChild({ programs: [A, B], workers: 1, cacheDir: dir }));
  assertCorrect(r);
  assert.equal(r.counters.cache_corrupt, 2);
  assert.equal(r.counters.graph_cache_misses, 2);
});

test('a bundle naming a kernel key like ../../x is corrupt, and writes nothing outside the cache', () => {
  const dir = newDir('badkey');
  const { graphs } = openCache({ cacheDir: dir });
  const key = graphKey(['bad-kernel-key']);
  const evil = { ...kernel('evil'), key: '../../x' };
  writeEntryAtomic(join(dir, entryRelPath('graph', key)), encodeBundle(key, { plan: {}, kernels: [evil] }));
  const before = counters().cache_corrupt;
  assert.equal(graphs.getBundle(key), undefined);
  assert.equal(counters().cache_corrupt - before, 1);
  assert.ok(!existsSync(join(dir, '..', 'x.kentry')) && !existsSync(join(dir, '..', '..', 'x')));
  assert.throws(() => entryRelPath('kernel', '../../x'), /not a kiln cache key/);
});

test('a checksum-valid bundle whose binary is not a shared object: recompiled, never loaded (end to end)', async () => {
  const dir = newDir('badelf');
  const A: ProgramSpec = { kind: 'layers', indices: range(630, 2) };
  resultOf(await runChild({ programs: [A], workers: 1, cacheDir: dir }));
  const g = listEntryFiles(dir).find((e) => e.kind === 'graph')!;
  const key = g.key;
  const { graphs } = openCache({ cacheDir: dir });
  const bundle = graphs.getBundle(key)!;
  // Same length, same framing, checksums fixed: only the code is garbage.
  const garbage = bundle.kernels.map((k) => ({ ...k, binary: new Uint8Array(k.binary.byteLength).fill(0xff) }));
  writeEntryAtomic(g.path, encodeBundle(key, { ...bundle, kernels: garbage }));
  // And the kernel entries too, so the recompile path cannot be fed from them.
  for (const e of listEntryFiles(dir).filter((e) => e.kind === 'kernel')) rmSync(e.path);
  const r = resultOf(await runChild({ programs: [A], workers: 1, cacheDir: dir }));
  assertCorrect(r);
  assert.equal(r.counters.cache_corrupt, 1);
  assert.equal(r.counters.graph_cache_misses, 1);
});
