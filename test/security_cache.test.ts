// Issue 14, items 2, 4 and 7: cache entries are bound to their key, keys never become paths,
// non-regular files at entry paths never hang, bloat or keep recompiling, and nothing another
// user can write is loaded from.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { encodeBundle } from '../src/cache/graph_bundle.js';
import { decodeKernel, encodeKernel } from '../src/cache/kernel_codec.js';
import { graphKey } from '../src/cache/graph_store.js';
import { entryRelPath, listEntryFiles } from '../src/cache/layout.js';
import { openCache } from '../src/cache/open_cache.js';
import { ownershipProblem, readEntryVerified, writeEntryAtomic } from '../src/cache/entry_file.js';
import { importArtifacts } from '../src/cache/artifacts.js';
import type { CompiledKernel } from '../src/cache/compiled_kernel.js';
import { counters } from '../src/observe/counters.js';
import { type ChildResult, type ProgramSpec, resultOf, runChild } from './fixtures/programs.js';

delete process.env.KILN_NO_CACHE;
delete process.env.KILN_CACHE_MAX_MB;
const root = mkdtempSync(join(tmpdir(), 'kiln-sec-cache-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const newDir = (name: string): string => join(root, `${name}-${n++}`);

function kernel(name: string): CompiledKernel {
  return { key: createHash('sha256').update(name).digest('hex'), backend: 'c', kernelName: name, binary: new Uint8Array(randomBytes(512)), meta: { params: 1 }, log: '', compileMs: 1 };
}

function captureStderr<T>(fn: () => T): { value: T; text: string } {
  const original = process.stderr.write.bind(process.stderr);
  let text = '';
  process.stderr.write = ((chunk: string | Uint8Array) => ((text += String(chunk)), true)) as typeof process.stderr.write;
  try {
    return { value: fn(), text };
  } finally {
    process.stderr.write = original;
  }
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

test('a checksum-valid kernel entry whose binary is not a shared object: recompiled, never loaded (end to end)', async () => {
  const dir = newDir('badelf-kernel');
  const A: ProgramSpec = { kind: 'layers', indices: range(635, 2) };
  // No compile group: each kernel's entry holds its own binary (a group's members name the group's entry).
  resultOf(await runChild({ programs: [A], workers: 1, cacheDir: dir }, { KILN_COMPILE_GROUP_MAX: '1' }));
  for (const e of listEntryFiles(dir).filter((e) => e.kind === 'graph')) rmSync(e.path);
  const e = listEntryFiles(dir).find((e) => e.kind === 'kernel')!;
  const k = decodeKernel(readEntryVerified(e.path) as Uint8Array);
  writeEntryAtomic(e.path, encodeKernel({ ...k, binary: new Uint8Array(k.binary.byteLength).fill(0xcc) }));
  const r = resultOf(await runChild({ programs: [A], workers: 1, cacheDir: dir }));
  assertCorrect(r);
  assert.equal(r.counters.cache_corrupt, 1, 'cache_corrupt');
  assert.equal(r.counters.compile_submitted, 1, 'compile_submitted');
});

// ---- item 7: non-regular files at entry paths

test('a FIFO at a graph entry path: no hang, one warning, removed, then cached normally', { timeout: 20_000 }, () => {
  const dir = newDir('fifo');
  const { graphs } = openCache({ cacheDir: dir });
  const key = graphKey(['fifo']);
  const path = join(dir, entryRelPath('graph', key));
  mkdirSync(join(path, '..'), { recursive: true });
  execFileSync('mkfifo', [path]);
  const { value, text } = captureStderr(() => graphs.getBundle(key));
  assert.equal(value, undefined);
  assert.match(text, /is a FIFO; not loaded, removed/);
  assert.equal(text.trim().split('\n').length, 1);
  assert.ok(!existsSync(path));
  graphs.putBundle(key, { plan: { ok: 1 }, kernels: [] });
  assert.deepEqual(graphs.getBundle(key)?.plan, { ok: 1 });
});

test('a symlink to /dev/zero at a kernel entry path is never followed (no memory growth), and removed', { timeout: 20_000 }, () => {
  const dir = newDir('devzero');
  const { kernels } = openCache({ cacheDir: dir });
  const k = kernel('zero');
  const path = join(dir, entryRelPath('kernel', k.key));
  mkdirSync(join(path, '..'), { recursive: true });
  symlinkSync('/dev/zero', path);
  const rss = process.memoryUsage().rss;
  const { value, text } = captureStderr(() => kernels.get(k.key));
  assert.equal(value, undefined);
  assert.match(text, /symbolic link/);
  assert.ok(process.memoryUsage().rss - rss < 64 << 20);
  assert.throws(() => lstatSync(path), /ENOENT/);
  kernels.put(k);
  assert.deepEqual(kernels.get(k.key), k);
});

test('a directory at an entry path is removed once, not "corrupt" on every run', () => {
  const dir = newDir('isdir');
  const { kernels } = openCache({ cacheDir: dir });
  const k = kernel('dir');
  const path = join(dir, entryRelPath('kernel', k.key));
  mkdirSync(join(path, 'inner'), { recursive: true });
  const before = counters().cache_corrupt;
  captureStderr(() => assert.equal(kernels.get(k.key), undefined));
  assert.ok(!existsSync(path));
  kernels.put(k);
  assert.deepEqual(kernels.get(k.key), k);
  assert.equal(counters().cache_corrupt, before);
});

test('an entry file over the size bound is not read (a sparse 2 GiB file)', () => {
  const dir = newDir('huge');
  const { kernels } = openCache({ cacheDir: dir });
  const k = kernel('huge');
  kernels.put(k);
  const path = join(dir, entryRelPath('kernel', k.key));
  truncateSync(path, 2 * 1024 * 1024 * 1024);
  const rss = process.memoryUsage().rss;
  assert.equal(kernels.get(k.key), undefined);
  assert.ok(process.memoryUsage().rss - rss < 64 << 20);
  assert.ok(!existsSync(path));
});

test('importing a FIFO or a device fails with a message, never hangs', { timeout: 20_000 }, () => {
  const dir = newDir('import-fifo');
  const fifo = join(root, `import-${n++}.fifo`);
  execFileSync('mkfifo', [fifo]);
  assert.throws(() => importArtifacts(dir, fifo), /is a FIFO, not a kiln artifact file/);
  assert.throws(() => importArtifacts(dir, '/dev/zero'), /is a device, not a kiln artifact file/);
  assert.equal(readEntryVerified('/dev/null', { followSymlinks: true }).constructor, Object);
});

// ---- item 2: a private cache directory; nothing another user could write is loaded

test('the cache directory, its subdirectories and entries are created private (0700 / 0600)', () => {
  const dir = newDir('private');
  const { kernels, graphs } = openCache({ cacheDir: dir });
  const k = kernel('private');
  kernels.put(k);
  graphs.putBundle(graphKey(['private']), { plan: {}, kernels: [k] });
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  const entry = join(dir, entryRelPath('kernel', k.key));
  assert.equal(statSync(join(entry, '..')).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, 'kernels')).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, 'graphs')).mode & 0o777, 0o700);
  assert.equal(statSync(entry).mode & 0o077, 0);
});

test('an entry file writable by group or others is not loaded: one warning, removed, rewritten privately', () => {
  const dir = newDir('gw-file');
  const { kernels } = openCache({ cacheDir: dir });
  const k = kernel('gw');
  kernels.put(k);
  const path = join(dir, entryRelPath('kernel', k.key));
  chmodSync(path, 0o664);
  const { value, text } = captureStderr(() => kernels.get(k.key));
  assert.equal(value, undefined);
  assert.match(text, /writable by its group \(mode 664\); not loaded, removed/);
  assert.ok(!existsSync(path));
  kernels.put(k);
  assert.deepEqual(kernels.get(k.key), k);
});

test('an entry in a world-writable shard directory is not loaded', () => {
  const dir = newDir('ow-shard');
  const { kernels } = openCache({ cacheDir: dir });
  const k = kernel('shard');
  kernels.put(k);
  const shard = join(dir, entryRelPath('kernel', k.key), '..');
  chmodSync(shard, 0o777);
  const { value, text } = captureStderr(() => kernels.get(k.key));
  assert.equal(value, undefined);
  assert.match(text, /not loading cache entries from .*writable by its group and others \(mode 777\)/);
});

test('a cache directory writable by others is not loaded from: memory cache, one warning', () => {
  const other = newDir('ow-root-copy');
  mkdirSync(other, { mode: 0o777 });
  chmodSync(other, 0o777);
  const { value: cache, text } = captureStderr(() => openCache({ cacheDir: other }));
  assert.equal(cache.location.kind, 'memory');
  assert.match(text, /writable by its group and others \(mode 777\).*caching in memory only/);
});

test('an entry not owned by us is not loaded (a real chown as root; otherwise the check on fstat results)', () => {
  const uid = process.getuid!();
  if (uid !== 0) {
    // Only root can give a file away: check the rule the reader applies to fstat's result.
    assert.match(ownershipProblem({ uid: uid + 1, mode: 0o100600 } as Stats) ?? '', /owned by uid \d+, not by this user/);
    assert.equal(ownershipProblem({ uid, mode: 0o100644 } as Stats), undefined);
    return;
  }
  const dir = newDir('chown');
  const { kernels } = openCache({ cacheDir: dir });
  const k = kernel('chown');
  kernels.put(k);
  const path = join(dir, entryRelPath('kernel', k.key));
  chownSync(path, 65534, 65534);
  const { value, text } = captureStderr(() => kernels.get(k.key));
  assert.equal(value, undefined);
  assert.match(text, /owned by uid 65534/);
});
