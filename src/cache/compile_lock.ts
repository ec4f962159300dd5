// Cross-process "I am compiling this kernel" markers, so processes that share a cache
// directory and miss the same kernel at the same moment compile it once: the first creates
// <dir>/locks/<key>.lock (O_EXCL) holding its pid; the others wait for the kernel entry to
// appear. A marker whose process is gone (crashed, killed) is taken over at once; one older
// than the compile deadline is stale. Best effort: when locking fails for any other reason,
// the caller simply compiles.

import { closeSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export type CompileLock = { kind: 'owner'; release(): void } | { kind: 'busy' };

const NO_LOCK: CompileLock = { kind: 'owner', release: () => {} };

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function tryCompileLock(dir: string, key: string, staleMs: number): CompileLock {
  const locks = join(dir, 'locks');
  const path = join(locks, `${key}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      mkdirSync(locks, { recursive: true });
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, String(process.pid));
      } finally {
        closeSync(fd);
      }
      return {
        kind: 'owner',
        release: () => {
          try {
            unlinkSync(path);
          } catch {
            // already gone
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return NO_LOCK;
    }
    // Someone holds it: wait for them, unless they are gone or the marker is stale.
    let pid = NaN;
    let ageMs = 0;
    try {
      const text = readFileSync(path, 'utf8');
      pid = text === '' ? NaN : Number(text);
      ageMs = Date.now() - statSync(path).mtimeMs;
    } catch {
      continue; // released between our open and read: try again
    }
    // An empty marker is one whose owner is between creating it and writing its pid.
    const creating = !(pid > 0) && ageMs < 1000;
    if ((creating || alive(pid)) && ageMs < staleMs) return { kind: 'busy' };
    try {
      unlinkSync(path);
    } catch {
      // another waiter took it over first
    }
  }
  return NO_LOCK;
}
