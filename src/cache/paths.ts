// Which directory the cache lives in, and whether it can be used at all. Resolution order:
// option `cacheDir` > KILN_CACHE_DIR > ~/.cache/kiln; KILN_NO_CACHE=1 turns disk caching off.
// A directory that cannot be created or written is not an error: kiln warns once and keeps
// its cache in memory, because a read-only home or a full disk must not stop a model running.

import { accessSync, constants, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { warnOnce } from '../observe/log.js';

export interface CacheDirOptions {
  /** Overrides KILN_CACHE_DIR. */
  cacheDir?: string;
  /** For tests; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

export type CacheLocation =
  | { kind: 'disk'; dir: string }
  /** The configured directory is unusable; entries live in this process's memory. */
  | { kind: 'memory'; dir: string; reason: string }
  /** KILN_NO_CACHE=1. */
  | { kind: 'disabled' };

function nonEmpty(s: string | undefined): string | undefined {
  return s !== undefined && s.trim() !== '' ? s : undefined;
}

/** The configured cache directory (absolute), whether or not it is usable. For the CLI and messages. */
export function configuredCacheDir(opts: CacheDirOptions = {}): string {
  const env = opts.env ?? process.env;
  return resolve(nonEmpty(opts.cacheDir) ?? nonEmpty(env.KILN_CACHE_DIR) ?? join(homedir(), '.cache', 'kiln'));
}

export function diskCacheDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.KILN_NO_CACHE?.trim().toLowerCase();
  return v === '1' || v === 'true' || v === 'yes';
}

// Probed once per directory per process.
const probed = new Map<string, string | undefined>();

/**
 * Creates `dir` and asks whether this process may write there (access W_OK: permissions and
 * read-only mounts); returns why not, or undefined. Writing and removing a probe file said
 * the same for ~1 ms of every warm start; a write that still fails later (a full disk)
 * warns once and is skipped (store_io.ts).
 */
function probeWritable(dir: string): string | undefined {
  if (probed.has(dir)) return probed.get(dir);
  let reason: string | undefined;
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (e) {
    reason = (e as Error).message;
  }
  probed.set(dir, reason);
  return reason;
}

export function resolveCacheLocation(opts: CacheDirOptions = {}): CacheLocation {
  if (diskCacheDisabled(opts.env ?? process.env)) return { kind: 'disabled' };
  const dir = configuredCacheDir(opts);
  const reason = probeWritable(dir);
  if (reason === undefined) return { kind: 'disk', dir };
  warnOnce(`cache-dir:${dir}`, `cache directory ${dir} is not usable (${reason}); caching in memory only`);
  return { kind: 'memory', dir, reason };
}
