// Compile markers name their owner beyond the pid and show liveness by a heartbeat
// (src/cache/compile_lock.ts): a marker of another host (containers sharing a cache volume,
// where every pid is 1) is judged by its heartbeat alone, a reused pid on this host is seen
// through its start time, a stopped owner is taken over after a bound derived from the
// caller's deadline (not 60 s), and SIGINT / SIGTERM of an owner leave no marker behind.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compile, NDArray } from '../src/index.js';
import { selfIdentity, tryCompileLock } from '../src/cache/compile_lock.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const lockModule = path.resolve(here, '../src/cache/compile_lock.js');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-liveness-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
let n = 0;
const freshDir = () => fs.mkdtempSync(path.join(root, `d${n++}-`));
const key = (c: string) => c.repeat(64);

function plant(dir: string, k: string, marker: object, ageMs = 0): string {
  const p = path.join(dir, 'locks', `${k}.lock`);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, JSON.stringify(marker));
  const t = new Date(Date.now() - ageMs);
  fs.utimesSync(p, t, t);
  return p;
}

test('a marker of another host naming a live pid: waited for while it beats, taken over once its heartbeat stops', async () => {
  const dir = freshDir();
  const k = key('b');
  // Same pid as a live process here (this one), but another host: the pid says nothing.
  const p = plant(dir, k, { v: 1, host: 'another-host|another-boot|pid:[1]', pid: process.pid, start: selfIdentity().start, token: 't', beatMs: 50 });
  const deadlineMs = 200; // heartbeat bound: 10 × 50 ms + 2 s = 2.5 s
  const beating = Date.now() + 3500;
  while (Date.now() < beating) {
    const now = new Date();
    fs.utimesSync(p, now, now);
    assert.equal(tryCompileLock(dir, k, deadlineMs).kind, 'busy', 'a beating owner elsewhere is waited for');
    await sleep(50);
  }
  const stopped = Date.now();
  let l = tryCompileLock(dir, k, deadlineMs);
  while (l.kind === 'busy' && Date.now() - stopped < 10_000) {
    await sleep(50);
    l = tryCompileLock(dir, k, deadlineMs);
  }
  const waited = Date.now() - stopped;
  assert.equal(l.kind, 'owner');
  assert.ok(waited >= 2000 && waited < 5000, `taken over ${waited} ms after the last heartbeat (bound 2.5 s)`);
  if (l.kind === 'owner') l.release();
  assert.equal(fs.existsSync(p), false);
});

test('a dead owner on another host is taken over at once once silent past the bound, whatever its pid', () => {
  const dir = freshDir();
  const k = key('c');
  plant(dir, k, { v: 1, host: 'another-host|x|y', pid: 1, start: '1', token: 't', beatMs: 50 }, 3000);
  const l = tryCompileLock(dir, k, 200);
  assert.equal(l.kind, 'owner');
  if (l.kind === 'owner') l.release();
});

test('a marker of this host whose pid now belongs to another process (start time differs) is taken over at once', () => {
  const dir = freshDir();
  const k = key('d');
  plant(dir, k, { v: 1, host: selfIdentity().host, pid: process.pid, start: 'not-my-start-time', token: 't', beatMs: 1000 });
  const l = tryCompileLock(dir, k, 60_000);
  assert.equal(l.kind, 'owner');
  if (l.kind === 'owner') l.release();
  // The same marker with the right start time is a live owner.
  plant(dir, k, { v: 1, host: selfIdentity().host, pid: process.pid, start: selfIdentity().start, token: 't', beatMs: 1000 });
  assert.equal(tryCompileLock(dir, k, 60_000).kind, 'busy');
});

/** A process that claims `keys` under `dir` with a `deadlineMs` deadline, says "held", and waits. */
function holder(dir: string, keys: string[], deadlineMs: number, extra = ''): Promise<ChildProcess> {
  const script = `
    import { tryCompileLock } from ${JSON.stringify(lockModule)};
    for (const k of ${JSON.stringify(keys)}) if (tryCompileLock(${JSON.stringify(dir)}, k, ${deadlineMs}).kind !== 'owner') process.exit(5);
    ${extra}
    setInterval(() => {}, 1000);
    process.stdout.write('held\\n');
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('held')) resolve(child);
    });
    child.on('exit', (code, signal) => reject(new Error(`holder exited early: ${code ?? signal}`)));
  });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

const markers = (dir: string) => (fs.existsSync(path.join(dir, 'locks')) ? fs.readdirSync(path.join(dir, 'locks')) : []);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} of a process holding markers removes them, and it still dies of ${signal}`, async () => {
    const dir = freshDir();
    const child = await holder(dir, [key('e'), key('f')], 60_000);
    assert.equal(markers(dir).length, 2);
    const done = exited(child);
    child.kill(signal);
    const how = await done;
    child.removeAllListeners('exit');
    assert.deepEqual(how, { code: null, signal }, 'the default signal behaviour is kept');
    assert.deepEqual(markers(dir), []);
  });
}

test("a program's own SIGTERM handler still runs and decides the exit; the markers are gone", async () => {
  const dir = freshDir();
  const child = await holder(dir, [key('g')], 60_000, `process.on('SIGTERM', () => process.exit(7));`);
  const done = exited(child);
  child.kill('SIGTERM');
  const how = await done;
  child.removeAllListeners('exit');
  assert.deepEqual(how, { code: 7, signal: null });
  assert.deepEqual(markers(dir), []);
});

function kernelKeys(cacheDir: string): string[] {
  const top = path.join(cacheDir, 'kernels');
  return fs.readdirSync(top).flatMap((d) => fs.readdirSync(path.join(top, d)).map((f) => f.replace(/\..*$/, '')));
}

test('a SIGSTOPped owner is taken over after the bound of the configured compileTimeoutMs, not 60 s', { timeout: 120_000 }, async () => {
  const fn = (x: import('../src/index.js').Tensor) => x.mul(3).add(1);
  const x = NDArray.from(Float32Array.from([1, 2, 3, 4]), [4]);
  // Learn the kernel keys (content-addressed: the same in any cache directory).
  const warmDir = freshDir();
  await compile(fn, { cacheDir: warmDir, workers: 1 })(x);
  const keys = kernelKeys(warmDir);
  assert.ok(keys.length >= 1);

  const dir = freshDir();
  const deadlineMs = 3000; // heartbeat 300 ms; stale after 10 × 300 ms + 2 s = 5 s of silence
  const child = await holder(dir, keys, deadlineMs);
  try {
    child.kill('SIGSTOP');
    const t0 = Date.now();
    const y = await compile(fn, { cacheDir: dir, workers: 1, compileTimeoutMs: deadlineMs })(x);
    const waited = Date.now() - t0;
    assert.deepEqual(Array.from(y.toTypedArraySync() as Float32Array), [4, 7, 10, 13]);
    assert.ok(waited < 25_000, `waited ${waited} ms for a stopped owner (bound 5 s; 60 s before)`);
  } finally {
    child.removeAllListeners('exit');
    child.kill('SIGKILL');
    await exited(child);
  }
});

test("an owner's heartbeat keeps its marker fresh; release never removes a successor's marker", async () => {
  const dir = freshDir();
  const k = key('h');
  const l = tryCompileLock(dir, k, 200); // heartbeat every 50 ms
  assert.equal(l.kind, 'owner');
  const p = path.join(dir, 'locks', `${k}.lock`);
  const old = new Date(Date.now() - 60_000);
  fs.utimesSync(p, old, old);
  await sleep(400);
  assert.ok(Date.now() - fs.statSync(p).mtimeMs < 300, 'the heartbeat rewrote the mtime');
  // Taken over while we could not beat (as after a SIGSTOP): the successor's marker stays.
  fs.unlinkSync(p);
  plant(dir, k, { v: 1, host: 'successor|x|y', pid: 1, start: '1', token: 'theirs', beatMs: 50 });
  await sleep(200);
  if (l.kind === 'owner') l.release();
  assert.equal(JSON.parse(fs.readFileSync(p, 'utf8')).token, 'theirs');
});
