// Cross-process "I am compiling this kernel" markers, so processes that share a cache
// directory and miss the same kernel at the same moment compile it once: the first creates
// <dir>/locks/<key>.lock (O_EXCL); the others wait for the kernel entry to appear.
//
// A marker names its owner beyond the pid, since pids repeat across containers sharing a
// cache volume (every container's first process is pid 1) and across reboots: a host id
// (hostname, kernel boot id, pid namespace) and the process's start time (/proc/self/stat),
// plus a random token that tells the owner its own marker from one that replaced it.
// While it holds markers, the owner rewrites their mtime every `heartbeat interval` (a tenth
// of the compile deadline, 50 ms to 1 s): that is its liveness. A waiter takes a marker over
//  - at once when the owner is on this host (same host id) and its process is gone (no such
//    pid, or one with another start time: the pid was reused);
//  - when its heartbeat is older than staleAfterMs(deadline) = 10 intervals + 2 s, whatever
//    the host: an owner that is stopped (SIGSTOP), hung, or dead on another host or in
//    another pid namespace, where its pid means nothing here.
// Markers are removed on release and, through util/exit_cleanup.ts, when the process exits or
// dies of SIGINT, SIGTERM or SIGHUP. Best effort: when locking fails for any other reason,
// the caller simply compiles (a duplicate compile wastes time, never correctness: entries
// are written atomically).

import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readlinkSync, statSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { holdCleanup } from '../util/exit_cleanup.js';

export type CompileLock = { kind: 'owner'; release(): void } | { kind: 'busy' };

const NO_LOCK: CompileLock = { kind: 'owner', release: () => {} };

/** What a marker holds (JSON). */
export interface MarkerInfo {
  v: 1;
  /** hostname | boot id | pid namespace: processes with one host id share pids. */
  host: string;
  pid: number;
  /** The owner's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), '' if unknown. */
  start: string;
  /** Random: tells the owner its own marker from a successor's. */
  token: string;
  /** The owner's heartbeat interval (ms), so a waiter never judges it by a shorter one. */
  beatMs: number;
}

/** Heartbeat interval for a compile deadline: a tenth of it, 50 ms to 1 s. */
export function heartbeatMs(deadlineMs: number): number {
  return Math.min(1000, Math.max(50, Math.round(deadlineMs / 10)));
}

/** How long a marker's heartbeat may be silent before it is stale: 10 intervals + 2 s. */
export function staleAfterMs(deadlineMs: number): number {
  return 10 * heartbeatMs(deadlineMs) + 2000;
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
}

function linkOr(path: string, fallback: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return fallback;
  }
}

/** Field 22 (starttime) of /proc/<pid>/stat; '' where there is no /proc. The comm field may hold spaces and ')'. */
export function processStartTime(pid: number | 'self'): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : '';
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? '';
}

let self: { host: string; start: string } | undefined;

/** This process's host id and start time (computed once). */
export function selfIdentity(): { host: string; pid: number; start: string } {
  self ??= {
    host: [hostname(), readOr('/proc/sys/kernel/random/boot_id', 'no-boot-id'), linkOr('/proc/self/ns/pid', 'no-pidns')].join('|'),
    start: processStartTime('self') ?? '',
  };
  return { host: self.host, pid: process.pid, start: self.start };
}

/** Whether the process a marker of this host names still runs (the same process, not a reused pid). */
function sameHostOwnerAlive(pid: number, start: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  let foreign = false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
    foreign = true;
  }
  if (start === '') return true;
  const now = processStartTime(pid);
  // No /proc entry: gone since kill(), or hidden from us (hidepid) when it is another user's.
  if (now === undefined) return foreign;
  // Unreadable stat: cannot tell, so alive. Another start time: the pid was reused.
  return now === '' || now === start;
}

function parseMarker(text: string): MarkerInfo | { legacyPid: number } | undefined {
  if (text === '') return undefined;
  if (/^\d+$/.test(text)) return { legacyPid: Number(text) };
  try {
    const m = JSON.parse(text) as Partial<MarkerInfo>;
    if (m.v === 1 && typeof m.host === 'string' && Number.isInteger(m.pid) && typeof m.start === 'string' && typeof m.token === 'string' && typeof m.beatMs === 'number') return m as MarkerInfo;
  } catch {
    // torn or foreign: judged by its age alone
  }
  return undefined;
}

// ---- the owner's side: held markers, their heartbeat and their cleanup ----

interface Held {
  path: string;
  token: string;
}

const heldMarkers = new Set<Held>();
let beat: NodeJS.Timeout | undefined;
let beatEvery = Infinity;
let dropCleanup: (() => void) | undefined;

function ours(h: Held): boolean {
  try {
    const m = parseMarker(readFileSync(h.path, 'utf8'));
    return m !== undefined && 'token' in m && m.token === h.token;
  } catch {
    return false;
  }
}

function removeIfOurs(h: Held): void {
  if (!ours(h)) return;
  try {
    unlinkSync(h.path);
  } catch {
    // already gone
  }
}

function heartbeat(): void {
  const now = new Date();
  for (const h of heldMarkers) {
    // A marker taken over while we could not beat (we were stopped) is no longer ours: leave it.
    if (!ours(h)) {
      heldMarkers.delete(h);
      continue;
    }
    try {
      utimesSync(h.path, now, now);
    } catch {
      heldMarkers.delete(h);
    }
  }
  if (heldMarkers.size === 0) stopHeartbeat();
}

function stopHeartbeat(): void {
  clearInterval(beat);
  beat = undefined;
  beatEvery = Infinity;
  dropCleanup?.();
  dropCleanup = undefined;
}

function hold(h: Held, beatMs: number): void {
  heldMarkers.add(h);
  dropCleanup ??= holdCleanup(() => {
    for (const m of heldMarkers) removeIfOurs(m);
    heldMarkers.clear();
    // Already dropped by exit_cleanup: the next marker registers afresh.
    dropCleanup = undefined;
    stopHeartbeat();
  });
  if (beatMs < beatEvery) {
    clearInterval(beat);
    beatEvery = beatMs;
    beat = setInterval(heartbeat, beatMs);
    // The heartbeat never keeps the process alive: the compile it guards does.
    beat.unref();
  }
}

function unhold(h: Held): void {
  if (!heldMarkers.delete(h)) return;
  removeIfOurs(h);
  if (heldMarkers.size === 0) stopHeartbeat();
}

/** Paths of the markers this process holds now (tests, diagnostics). */
export function heldMarkerPaths(): string[] {
  return [...heldMarkers].map((h) => h.path);
}

/**
 * Claims `key`'s compile under `dir`. `deadlineMs` is the compile deadline of the caller:
 * it sets the owner's heartbeat interval and the staleness bound a waiter applies.
 */
export function tryCompileLock(dir: string, key: string, deadlineMs: number): CompileLock {
  const locks = join(dir, 'locks');
  const path = join(locks, `${key}.lock`);
  const me = selfIdentity();
  const beatMs = heartbeatMs(deadlineMs);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      mkdirSync(locks, { recursive: true });
      const fd = openSync(path, 'wx', 0o644);
      const marker: MarkerInfo = { v: 1, host: me.host, pid: me.pid, start: me.start, token: randomBytes(12).toString('hex'), beatMs };
      try {
        writeSync(fd, JSON.stringify(marker));
      } finally {
        closeSync(fd);
      }
      const h: Held = { path, token: marker.token };
      hold(h, beatMs);
      return { kind: 'owner', release: () => unhold(h) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return NO_LOCK;
    }
    // Someone holds it: wait for them, unless they are gone or their heartbeat stopped.
    let text: string;
    let silentMs: number;
    try {
      text = readFileSync(path, 'utf8');
      silentMs = Date.now() - statSync(path).mtimeMs;
    } catch {
      continue; // released between our open and read: try again
    }
    const m = parseMarker(text);
    let stale: boolean;
    if (m === undefined) {
      // Empty: its owner is between creating it and writing it. Unreadable: a foreign or torn
      // file, judged by its age.
      stale = silentMs > (text === '' ? 1000 : staleAfterMs(deadlineMs));
    } else if ('legacyPid' in m) {
      // A marker of an older kiln (pid only): its pid is meaningful on this host at best.
      stale = !sameHostOwnerAlive(m.legacyPid, '') || silentMs > staleAfterMs(deadlineMs);
    } else {
      const bound = Math.max(staleAfterMs(deadlineMs), 10 * m.beatMs + 2000);
      stale = (m.host === me.host && !sameHostOwnerAlive(m.pid, m.start)) || silentMs > bound;
    }
    if (!stale) return { kind: 'busy' };
    try {
      unlinkSync(path);
    } catch {
      // another waiter took it over first
    }
  }
  return NO_LOCK;
}
