// Size bound for a cache directory (KILN_CACHE_MAX_MB): least-recently-used eviction by
// mtime (stores touch an entry's mtime on every hit) across kernels/ and graphs/.
// A full scan per put would make every compile pay for the whole cache, so each process
// keeps a running estimate (one scan at its first put, then + bytes written) and scans only
// when the estimate passes the bound. Other processes' writes are not in the estimate; they
// pay for their own scans, so the bound holds up to what a process wrote since its last scan.

import { unlinkSync } from 'node:fs';
import { listEntryFiles } from './layout.js';
import { setting } from '../config/read.js';
import { warnOnce } from '../observe/log.js';

/** After an eviction, total size is at most this fraction of the bound, so scans stay rare. */
const LOW_WATER = 0.9;
/** Temporary files older than this are from a crashed writer and are deleted during scans. */
const STALE_TEMP_MS = 10 * 60 * 1000;

/** KILN_CACHE_MAX_MB in bytes (fractions allowed), or undefined when unset (unbounded). */
export function maxBytesFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const mb = setting('KILN_CACHE_MAX_MB', env);
  return mb === undefined ? undefined : Math.floor(mb * 1024 * 1024);
}

export interface EvictionResult {
  removedFiles: number;
  removedBytes: number;
  remainingBytes: number;
}

/** Deletes least recently used entries until the total is at most `targetBytes`; never deletes `protect`. */
export function evictLeastRecentlyUsed(dir: string, targetBytes: number, protect?: string): EvictionResult {
  const entries = listEntryFiles(dir, STALE_TEMP_MS);
  let total = entries.reduce((s, e) => s + e.size, 0);
  const result: EvictionResult = { removedFiles: 0, removedBytes: 0, remainingBytes: total };
  if (total <= targetBytes) return result;
  entries.sort((a, b) => a.mtimeMs - b.mtimeMs);
  for (const e of entries) {
    if (total <= targetBytes) break;
    if (e.path === protect) continue;
    try {
      unlinkSync(e.path);
      result.removedFiles++;
      result.removedBytes += e.size;
    } catch {
      // already evicted by another process: its bytes are gone either way
    }
    total -= e.size;
  }
  result.remainingBytes = total;
  return result;
}

export class SizeBoundEvictor {
  /** Bytes this process believes the directory holds; undefined until the first scan. */
  private estimate: number | undefined;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  /** Called after each successful write of `bytes` to `path`. Never throws. */
  noteWrite(path: string, bytes: number): void {
    try {
      if (this.estimate === undefined) {
        // First write of this process: learn the real size (the scan includes `path`).
        this.estimate = evictLeastRecentlyUsed(this.dir, Infinity).remainingBytes;
      } else {
        this.estimate += bytes;
      }
      if (this.estimate > this.maxBytes) {
        this.estimate = evictLeastRecentlyUsed(this.dir, Math.floor(this.maxBytes * LOW_WATER), path).remainingBytes;
      }
    } catch (e) {
      warnOnce(`cache-evict:${this.dir}`, `cache eviction in ${this.dir} failed: ${(e as Error).message}`);
    }
  }
}
