// End-to-end tests of the caches (DESIGN.md invariant 4 and the cache invariants), each run
// in child processes (test/fixtures/child.mjs) over temporary cache directories: a warm start
// never compiles; corrupt or torn entries of either kind are misses, never wrong answers;
// processes share one directory; export → clear → import gives a warm start; a kernel shared
// by two graphs compiles once; an unusable directory warns once and still works; KILN_NO_CACHE
// writes nothing.

import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { schedule } from '../src/schedule/schedule.js';
import { CpuBackend } from '../src/backends/cpu/backend.js';
import { cacheStats, clearCache, exportArtifacts, importArtifacts } from '../src/cache/artifacts.js';
import { listEntryFiles } from '../src/cache/layout.js';
import { trace } from '../src/frontend/trace.js';
import { type ChildResult, type ProgramSpec, buildProgram, resultOf, runChild } from './fixtures/programs.js';

const tmp = mkdtempSync(join(tmpdir(), 'kiln-warm-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
process.env.XDG_CONFIG_HOME = join(tmp, 'config'); // export signs with a key of the test's own
let dirN = 0;
const newDir = (name: string): string => join(tmp, `${name}-${dirN++}`);

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);
const WORKERS = 2;
const NO_COMPILE = { KILN_ASSERT_NO_COMPILE: '1' };

function assertCorrect(r: ChildResult): void {
  for (const p of r.programs ?? []) {
    assert.equal(p.correct, true, `${p.name}: result differs from the reference (worst excess ${p.worstExcess})`);
    assert.ok(p.nonzero! > 0, `${p.name}: all outputs are zero`);
  }
}

async function compileIn(dir: string, programs: ProgramSpec[], env: Record<string, string> = {}, workers = WORKERS): Promise<ChildResult> {
  const r = resultOf(await runChild({ programs, workers, cacheDir: dir }, env));
  assertCorrect(r);
  return r;
}

function assertWarm(r: ChildResult): void {
  const c = r.counters;
  assert.equal(c.graph_cache_hits, 1, 'graph_cache_hits');
  for (const k of ['kernels_generated', 'compile_submitted', 'workers_spawned', 'compile_inline'] as const) assert.equal(c[k], 0, k);
}

// One cold compile fills `golden`; the other tests work on copies of it.
const P: ProgramSpec = { kind: 'layers', indices: range(500, 16) };
const golden = newDir('golden');
before(async () => {
  const r = await compileIn(golden, [P]);
  assert.equal(r.counters.compile_submitted, 16);
  assert.equal(r.counters.graph_cache_misses, 1);
});

function copyOfGolden(name: string): string {
  const d = newDir(name);
  cpSync(golden, d, { recursive: true });
  return d;
}

test('a second process starts warm: no codegen, no compile, no worker; correct', async () => {
  const r = await compileIn(golden, [P], NO_COMPILE);
  assertWarm(r);
  assert.equal(r.counters.cache_corrupt, 0);
});

type Damage = 'flip' | 'truncate';
function damage(path: string, how: Damage): void {
  const size = statSync(path).size;
  if (how === 'truncate') truncateSync(path, Math.floor(size / 2));
  else {
    const b = readFileSync(path);
    b[Math.floor(size / 2)]! ^= 0x5a;
    writeFileSync(path, b);
  }
}

for (const how of ['flip', 'truncate'] as const) {
  test(`${how} a graph entry: a miss counted as corrupt, kernels come from the kernel cache, correct`, async () => {
    const d = copyOfGolden(`graph-${how}`);
    const graphs = listEntryFiles(d).filter((e) => e.kind === 'graph');
    assert.equal(graphs.length, 1);
    damage(graphs[0]!.path, how);
    const r = await compileIn(d, [P]);
    assert.ok(r.counters.cache_corrupt! >= 1, `cache_corrupt ${r.counters.cache_corrupt}`);
    assert.equal(r.counters.graph_cache_hits, 0);
    assert.equal(r.counters.kernel_cache_hits, 16);
    assert.equal(r.counters.compile_submitted, 0);
    // The entry was rewritten: the next process is warm again.
    assertWarm(await compileIn(d, [P], NO_COMPILE));
  });

  test(`${how} a kernel entry: a miss counted as corrupt, that one kernel recompiles, correct`, async () => {
    const d = copyOfGolden(`kernel-${how}`);
    // Without the graph entry the kernels are read from their own entries.
    for (const e of listEntryFiles(d).filter((e) => e.kind === 'graph')) rmSync(e.path);
    // 16 kernels' entries and the compile groups' (2 workers: groups of at most 8, fewer where
    // their sources reach the C backend's budget), which hold the binaries; a member is damaged
    // (the smallest entries: members name their group's binary).
    const kernels = listEntryFiles(d).filter((e) => e.kind === 'kernel').sort((a, b) => a.size - b.size);
    assert.ok(kernels.length >= 18 && kernels.length <= 16 + 8, `${kernels.length} kernel entries: 16 kernels and 2 to 8 groups`);
    damage(kernels[0]!.path, how);
    const r = await compileIn(d, [P]);
    assert.equal(r.counters.cache_corrupt, 1);
    assert.equal(r.counters.kernel_cache_hits, 15);
    assert.equal(r.counters.compile_submitted, 1);
    assertWarm(await compileIn(d, [P], NO_COMPILE));
  });
}

test('three processes fill one empty cache dir at once: all correct, each kernel compiled once in all; a fourth starts warm', async (t) => {
  const d = newDir('shared3');
  const Q: ProgramSpec = { kind: 'layers', indices: range(600, 10) };
  const rs = await Promise.all([0, 1, 2].map(() => compileIn(d, [Q], {}, 1)));
  const compiled = rs.map((r) => r.counters.compile_submitted ?? 0);
  t.diagnostic(`compiles per process: ${compiled.join(', ')} (10 distinct kernels)`);
  for (const r of rs) assert.ok(r.counters.cache_corrupt === 0, 'a process saw a corrupt entry');
  // Compile markers in the shared directory: each kernel is compiled by one process only.
  assert.equal(compiled.reduce((a, b) => a + b, 0), 10, 'each distinct kernel compiled once across the three processes');
  assertWarm(await compileIn(d, [Q], NO_COMPILE));
});

test('export → clear → import → warm start with no compile', async () => {
  const d = copyOfGolden('export');
  const file = join(tmp, 'artifacts.kiln');
  const entries = listEntryFiles(d).filter((e) => e.kind === 'kernel').length;
  assert.ok(entries >= 18, `${entries} kernel entries: 16 kernels and their compile groups`);
  const ex = exportArtifacts(d, file);
  assert.deepEqual([ex.kernels, ex.graphs], [entries, 1], 'every kernel and group entry, and the graph');
  clearCache(d);
  assert.deepEqual([cacheStats(d).kernels, cacheStats(d).graphs], [0, 0]);
  const im = importArtifacts(d, file);
  assert.deepEqual([im.kernels, im.graphs, im.skipped], [entries, 1, 0]);
  assertWarm(await compileIn(d, [P], NO_COMPILE));
});

/** Kernel keys of a program, from the scheduler (in this process; nothing is compiled). */
async function kernelKeys(spec: ProgramSpec): Promise<Set<string>> {
  const p = buildProgram(spec);
  const t = trace(p.fn, p.inputs().map((x) => ({ shape: x.shape, dtype: x.dtype })));
  return new Set((await schedule(t.graph, new CpuBackend(), undefined, t.returnsArray)).plan.kernels.map((k) => k.key));
}

test('a kernel shared by two different graphs compiles once', async () => {
  const d = newDir('sharedkernels');
  const A: ProgramSpec = { kind: 'layers', indices: range(700, 6) };
  // B reuses layers 700..703 (same kernels) and adds two of its own.
  const B: ProgramSpec = { kind: 'layers', indices: [703, 701, 702, 700, 800, 801] };
  const ka = await kernelKeys(A);
  const kb = await kernelKeys(B);
  const shared = [...kb].filter((k) => ka.has(k)).length;
  assert.equal(shared, 4, 'test set-up: B should share exactly 4 kernels with A');
  const ra = await compileIn(d, [A]);
  assert.equal(ra.counters.compile_submitted, 6);
  const rb = await compileIn(d, [B]);
  assert.equal(rb.counters.graph_cache_misses, 1, 'B is a different graph');
  assert.equal(rb.counters.kernel_cache_hits, 4);
  assert.equal(rb.counters.compile_submitted, 2);
});

test('a cache dir that cannot be created (under a regular file): one-line warning, correct results', async () => {
  const file = join(tmp, 'not-a-dir');
  writeFileSync(file, 'kiln');
  const d = join(file, 'cache');
  const run = await runChild({ programs: [{ kind: 'layers', indices: range(900, 3) }], workers: WORKERS, cacheDir: d });
  const r = resultOf(run);
  assertCorrect(r);
  const lines = run.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one warning line, got:\n${run.stderr}`);
  assert.match(lines[0]!, /warning/i);
  assert.ok(lines[0]!.includes(d), 'the warning names the directory');
  assert.equal(r.counters.compile_submitted, 3);
});

function filesUnder(dir: string): string[] {
  let out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  for (const n of names) {
    const p = join(dir, n);
    out = statSync(p).isDirectory() ? out.concat(filesUnder(p)) : out.concat(p);
  }
  return out;
}

test('KILN_NO_CACHE=1: works and writes nothing (neither the given dir nor ~/.cache)', async () => {
  const home = newDir('home');
  const d = newDir('nocache');
  mkdirSync(home);
  mkdirSync(d);
  const spec: ProgramSpec = { kind: 'layers', indices: range(950, 3) };
  const r = resultOf(await runChild({ programs: [spec, spec], workers: WORKERS, cacheDir: d }, { KILN_NO_CACHE: '1', HOME: home, KILN_CACHE_DIR: d }));
  assertCorrect(r);
  assert.equal(r.counters.compile_submitted, 3);
  assert.equal(r.counters.graph_cache_hits, 0);
  assert.deepEqual(filesUnder(d), []);
  assert.deepEqual(filesUnder(home), []);
});

// Issue 14 item 10: CPU binaries are built with -march=native, so the CPU they were built for
// is part of their identity. A cache filled (or exported) on one CPU is never used on a CPU
// with other features: here the second process plays an AVX2-only host (KILN_CPUINFO_FILE),
// and every kernel and the graph are misses, compiled afresh, never loaded.
test('a cache made on one CPU is not used on a CPU with other features (AVX-512 vs AVX2): every kernel recompiles', async () => {
  const d = copyOfGolden('other-cpu');
  const fake = join(tmp, 'cpuinfo-avx2');
  writeFileSync(
    fake,
    'processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n' +
      'flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma bmi1 bmi2 f16c\n\nprocessor\t: 1\n',
  );
  const r = await compileIn(d, [P], { KILN_CPUINFO_FILE: fake });
  assert.equal(r.counters.graph_cache_hits, 0, 'graph entry of the other CPU used');
  assert.equal(r.counters.kernel_cache_hits, 0, 'kernel entries of the other CPU used');
  assert.equal(r.counters.compile_submitted, 16);
  // The golden CPU's entries are still there and still its own: a warm start there.
  assertWarm(await compileIn(d, [P], NO_COMPILE));
});
