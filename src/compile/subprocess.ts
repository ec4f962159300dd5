// How compilers (cc, nvcc) run: each in its own process group (spawned detached), so one
// kill(-pgid) takes down the driver and everything it started (cc1, as, ld, ptxas), and each
// job in its own temporary directory (also the compiler's TMPDIR, so its intermediates land
// there too). Nothing outlives the process that started it:
//  - while a compiler runs, util/exit_cleanup.ts holds a cleanup that SIGKILLs its group and
//    removes its job directory on exit, SIGINT, SIGTERM or SIGHUP (a worker retired by the
//    pool, a Ctrl-C with workers: 0);
//  - in a compile worker, job directories live under the worker's own temporary root
//    (KILN_WORKER_TMP, made by the pool), and each running compiler's group id is written
//    there as `pgid-<n>`: when the worker is SIGKILLed (deadline, crash), the pool kills those
//    groups and removes the whole root (pool.ts: cleanupWorkerFiles).
// Runs only where compilers may run: compile workers, or the main process with workers: 0.

import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setting } from '../config/read.js';
import { holdCleanup } from '../util/exit_cleanup.js';

/** The worker's temporary root (set by the pool), else undefined. */
export function workerTempRoot(): string | undefined {
  return setting('KILN_WORKER_TMP');
}

export interface JobDir {
  readonly path: string;
  /** Removes the directory (idempotent). */
  remove(): void;
  /**
   * Moves a file of the job out to a directory of its own under the system temporary
   * directory, where it survives the worker (a failed kernel's source, for a human to read),
   * removes the job directory, and returns the file's new path.
   */
  keep(file: string): string;
}

/** A fresh private (0700) temporary directory for one compile, removed on exit or signal unless removed or kept first. */
export function makeJobDir(prefix: string): JobDir {
  const path = mkdtempSync(join(workerTempRoot() ?? tmpdir(), prefix));
  let release: (() => void) | undefined;
  const remove = (): void => {
    rmSync(path, { recursive: true, force: true });
    release?.();
    release = undefined;
  };
  release = holdCleanup(() => rmSync(path, { recursive: true, force: true }));
  return {
    path,
    remove,
    keep(file: string): string {
      const dir = mkdtempSync(join(tmpdir(), `${prefix}failed-`));
      const dest = join(dir, basename(file));
      try {
        copyFileSync(file, dest);
      } finally {
        remove();
      }
      return dest;
    },
  };
}

export interface ToolOutcome {
  /** Exit status; null when killed by a signal or never started. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Set when the tool could not be started (ENOENT...) or its output passed maxBuffer. */
  error?: Error;
}

const MAX_OUTPUT = 64 * 1024 * 1024;

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // the group is gone
  }
}

/**
 * Runs a compiler in its own process group with TMPDIR = `tmpDir`; never rejects. Its group
 * is killed if this process exits or is signalled first, and is known to the pool (through
 * the worker's temporary root) in case this process is SIGKILLed.
 */
export function runTool(cmd: string, args: readonly string[], tmpDir: string): Promise<ToolOutcome> {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: tmpDir } });
    } catch (e) {
      resolve({ code: null, signal: null, stdout: '', stderr: '', error: e as Error });
      return;
    }
    const pid = child.pid;
    const root = workerTempRoot();
    const pgidFile = pid !== undefined && root !== undefined ? join(root, `pgid-${pid}`) : undefined;
    if (pgidFile !== undefined) {
      try {
        writeFileSync(pgidFile, String(pid));
      } catch {
        // the pool cannot reach it after a SIGKILL; our own cleanups still do
      }
    }
    const release = pid !== undefined ? holdCleanup(() => killGroup(pid)) : () => {};
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let error: Error | undefined;
    const collect = (into: Buffer[]) => (d: Buffer) => {
      size += d.length;
      if (size > MAX_OUTPUT) {
        error ??= new Error(`${cmd} wrote more than ${MAX_OUTPUT} bytes of output`);
        if (pid !== undefined) killGroup(pid);
        return;
      }
      into.push(d);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      release();
      if (pgidFile !== undefined) {
        try {
          unlinkSync(pgidFile);
        } catch {
          // never written
        }
      }
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ...(error !== undefined ? { error } : {}) });
    };
    child.on('error', (e) => {
      error ??= e;
      finish(null, null);
    });
    child.on('close', (code, signal) => finish(code, signal));
  });
}
