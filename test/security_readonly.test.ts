// Issue 14, item 8: a warm cache that this process cannot write (a read-only mount, a tree
// without write permission) still gives warm starts: entries are read, nothing is written,
// touched or locked there, and what the process compiles stays in memory.
//
// As root, permission bits do not stop writes and access(W_OK) says "writable" on a 0555
// directory (checked below), so chmod alone would test nothing. The permission test therefore
// runs its child process as an unprivileged user (uid 65534, the tree chowned to it) when the
// suite runs as root, and as ourselves otherwise; KILN_CACHE_READONLY=1 (what a container image
// with a baked-in cache would set) is tested directly.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { accessSync, chmodSync, chownSync, constants, cpSync, lstatSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CHILD_SCRIPT, type ChildConfig, type ChildResult, type ProgramSpec, childEnv, resultOf, runChild } from './fixtures/programs.js';

const root = mkdtempSync(join(tmpdir(), 'kiln-sec-ro-'));
chmodSync(root, 0o755); // the unprivileged child must reach the copies below
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const newDir = (name: string): string => join(root, `${name}-${n++}`);
const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);
const P: ProgramSpec = { kind: 'layers', indices: range(640, 4) };
const Q: ProgramSpec = { kind: 'layers', indices: range(650, 2) };
const golden = newDir('golden');
const isRoot = process.getuid?.() === 0;

before(async () => {
  const r = resultOf(await runChild({ programs: [P], workers: 1, cacheDir: golden }));
  assert.equal(r.counters.graph_cache_misses, 1);
});

/** Every path under `dir` with its size and mtime: what "nothing was written" compares. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      out.push(`${p} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

function assertWarm(r: ChildResult): void {
  assert.equal(r.counters.graph_cache_hits, 1, 'graph_cache_hits');
  for (const k of ['kernels_generated', 'compile_submitted', 'workers_spawned', 'compile_inline'] as const) assert.equal(r.counters[k], 0, k);
  for (const p of r.programs ?? []) assert.equal(p.correct, true, p.name);
}

function runAs(cfg: ChildConfig, uid: number | undefined): Promise<{ result: ChildResult; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD_SCRIPT, JSON.stringify(cfg)], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'], ...(uid !== undefined ? { uid, gid: uid } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const last = stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
      if (last === undefined) return reject(new Error(`child exited ${code}; stderr:\n${stderr}`));
      const result = JSON.parse(last) as ChildResult;
      if (!result.ok) return reject(new Error(`child failed: ${result.error}\n${stderr}`));
      resolve({ result, stderr });
    });
  });
}

test('KILN_CACHE_READONLY=1: a warm start from the cache, and nothing in it changes', async () => {
  const dir = newDir('forced');
  cpSync(golden, dir, { recursive: true });
  const before = snapshot(dir);
  const r = resultOf(await runChild({ programs: [P], workers: 1, cacheDir: dir }, { KILN_CACHE_READONLY: '1' }));
  assertWarm(r);
  // A graph it does not hold compiles and runs, kept in memory only.
  const r2 = resultOf(await runChild({ programs: [Q], workers: 1, cacheDir: dir }, { KILN_CACHE_READONLY: '1' }));
  assert.equal(r2.programs![0]!.correct, true);
  assert.equal(r2.counters.graph_cache_misses, 1);
  assert.deepEqual(snapshot(dir), before); // no entry, temp file or lock marker written, no mtime touched
});

test('a cache tree without write permission still gives a warm start (as an unprivileged user when root)', async () => {
  const dir = newDir('chmod');
  cpSync(golden, dir, { recursive: true });
  const uid = isRoot ? 65534 : undefined;
  const walk = (p: string, fn: (p: string) => void): void => {
    fn(p);
    if (statSync(p).isDirectory()) for (const c of readdirSync(p)) walk(join(p, c), fn);
  };
  if (uid !== undefined) walk(dir, (p) => chownSync(p, uid, uid));
  walk(dir, (p) => chmodSync(p, statSync(p).isDirectory() ? 0o555 : 0o444));
  if (isRoot) {
    // Why the child must not run as root: root's access(W_OK) ignores the mode bits.
    assert.doesNotThrow(() => accessSync(dir, constants.W_OK));
  }
  const before = snapshot(dir);
  const { result, stderr } = await runAs({ programs: [P], workers: 1, cacheDir: dir }, uid);
  assertWarm(result);
  assert.match(stderr, /is not writable \(EACCES\); reading its entries/);
  assert.equal(stderr.trim().split('\n').length, 1, stderr);
  const cold = await runAs({ programs: [Q], workers: 1, cacheDir: dir }, uid);
  assert.equal(cold.result.programs![0]!.correct, true);
  assert.deepEqual(snapshot(dir), before);
  walk(dir, (p) => chmodSync(p, 0o700));
});
