// Cross-process compile markers (src/cache/compile_lock.ts): one owner at a time, waiters see
// 'busy' while the owner lives, a marker left by a dead process or older than the deadline is
// taken over at once, and release lets the next one in.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { selfIdentity, tryCompileLock } from '../src/cache/compile_lock.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-lock-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const key = 'a'.repeat(64);
const lockFile = path.join(dir, 'locks', `${key}.lock`);

test('one owner; others busy while it lives; release admits the next', () => {
  const first = tryCompileLock(dir, key, 60_000);
  assert.equal(first.kind, 'owner');
  const marker = JSON.parse(fs.readFileSync(lockFile, 'utf8')) as { pid: number; host: string; start: string };
  assert.equal(marker.pid, process.pid);
  assert.deepEqual({ host: marker.host, start: marker.start }, { host: selfIdentity().host, start: selfIdentity().start });
  assert.equal(tryCompileLock(dir, key, 60_000).kind, 'busy');
  if (first.kind === 'owner') first.release();
  const second = tryCompileLock(dir, key, 60_000);
  assert.equal(second.kind, 'owner');
  if (second.kind === 'owner') second.release();
  assert.equal(fs.existsSync(lockFile), false);
});

test('a marker left by a dead process is taken over at once', () => {
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  fs.writeFileSync(lockFile, dead.stdout);
  const l = tryCompileLock(dir, key, 60_000);
  assert.equal(l.kind, 'owner');
  if (l.kind === 'owner') l.release();
});

test('a pid-only marker (older kiln) whose heartbeat is older than the bound is stale even if its pid is alive', () => {
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  fs.writeFileSync(lockFile, String(process.pid));
  const old = new Date(Date.now() - 120_000);
  fs.utimesSync(lockFile, old, old);
  const l = tryCompileLock(dir, key, 60_000);
  assert.equal(l.kind, 'owner');
  if (l.kind === 'owner') l.release();
});
