// Entries as files under one directory, shared safely by any number of processes:
// atomic temp-then-rename writes (entry_file.ts), checksummed reads, mtime as LRU clock.
//
// The directory is code kiln loads into the process, so it is read only where no one else
// could have written: the cache directory itself is checked when opened (paths.ts), each
// subdirectory an entry is read from once per process (a real directory, ours, not writable
// by group or others), and each entry file when read (entry_file.ts: a regular file of ours,
// not writable by others, within the size bound). What fails is never read: a one-line
// warning, the offending file removed where we can (a FIFO, a symlink, a directory at an
// entry path, an entry someone else could have written), and the entry is a miss, so it is
// compiled again and rewritten privately.
//
// Read-only (a cache on a read-only mount, a directory we may not write, KILN_CACHE_READONLY=1):
// entries are read as above; nothing is written, touched or removed there, and no compile
// locks are taken (a read needs none). Entries this process compiles live in memory.

import { lstatSync, rmSync, unlinkSync, utimesSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { warnOnce } from '../observe/log.js';
import type { EntryBackend } from './backend.js';
import { ENTRY_HEADER_BYTES, ownershipProblem, readEntryVerified, writeEntryAtomic } from './entry_file.js';
import { SizeBoundEvictor } from './eviction.js';
import { MemoryBackend } from './memory_backend.js';

export class DiskBackend implements EntryBackend {
  readonly description: string;
  private readonly evictor: SizeBoundEvictor | undefined;
  /** Subdirectories checked so far: undefined if fine, else why not. */
  private readonly dirs = new Map<string, string | undefined>();
  /** Read-only mode: what this process compiled (the directory itself is never written). */
  private readonly overlay: MemoryBackend | undefined;

  /** `maxBytes` undefined = unbounded. */
  constructor(
    readonly dir: string,
    maxBytes?: number,
    readonly readOnly = false,
  ) {
    this.description = readOnly ? `${dir} (read-only)` : dir;
    this.evictor = maxBytes === undefined || readOnly ? undefined : new SizeBoundEvictor(dir, maxBytes);
    this.overlay = readOnly ? new MemoryBackend(maxBytes) : undefined;
  }

  /** Why entries in directory `d` (below the cache directory) must not be loaded, or undefined. */
  private dirProblem(d: string): string | undefined {
    // The cache directory itself was checked when the cache was opened; nothing above it is ours to judge.
    if (d === this.dir || !d.startsWith(this.dir) || dirname(d) === d) return undefined;
    if (this.dirs.has(d)) return this.dirs.get(d);
    let problem: string | undefined;
    try {
      const st = lstatSync(d);
      problem = st.isDirectory() ? ownershipProblem(st) : 'not a directory';
    } catch {
      problem = undefined; // missing: the read finds nothing
    }
    if (problem === undefined) problem = this.dirProblem(dirname(d));
    this.dirs.set(d, problem);
    return problem;
  }

  read(relPath: string): Uint8Array | 'missing' | 'corrupt' {
    if (this.overlay !== undefined) {
      const mine = this.overlay.read(relPath);
      if (mine !== 'missing') return mine;
    }
    const path = join(this.dir, relPath);
    const dirProblem = this.dirProblem(dirname(path));
    if (dirProblem !== undefined) {
      warnOnce(`cache-untrusted-dir:${dirname(path)}`, `not loading cache entries from ${dirname(path)}: ${dirProblem}; compiling instead (if only you can have written there: chmod -R go-w ${this.dir})`);
      return 'missing';
    }
    const r = readEntryVerified(path, { requireOwned: true });
    // A corrupt entry is removed by the caller (in read-only mode: from the overlay only).
    if (r instanceof Uint8Array || typeof r === 'string') return r;
    const fix = this.readOnly ? 'left in place (read-only cache)' : 'removed';
    if (!this.readOnly) {
      try {
        rmSync(path, { recursive: r.isDirectory, force: true });
      } catch {
        // another process removed it, or we may not: the next read refuses it again
      }
    }
    warnOnce(`cache-refused:${this.dir}:${r.refused}`, `cache entry ${path} is ${r.refused}; not loaded, ${fix}, compiling instead`);
    return 'missing';
  }

  write(relPath: string, payload: Uint8Array): void {
    if (this.overlay !== undefined) return this.overlay.write(relPath, payload);
    const path = join(this.dir, relPath);
    writeEntryAtomic(path, payload);
    this.evictor?.noteWrite(path, ENTRY_HEADER_BYTES + payload.byteLength);
  }

  remove(relPath: string): void {
    if (this.overlay !== undefined) return this.overlay.remove(relPath);
    try {
      unlinkSync(join(this.dir, relPath));
    } catch {
      // gone already (another process removed or replaced it)
    }
  }

  touch(relPath: string): void {
    if (this.readOnly) return;
    const now = new Date();
    try {
      utimesSync(join(this.dir, relPath), now, now);
    } catch {
      // evicted meanwhile; the caller already holds the payload
    }
  }
}
