// Which directory the cache lives in, and whether it can be used at all. Resolution order:
// option `cacheDir` > KILN_CACHE_DIR > ~/.cache/kiln; KILN_NO_CACHE=1 turns disk caching off.
// A directory that cannot be created is not an error: kiln warns once and keeps its cache in
// memory, because a read-only home or a full disk must not stop a model running. One that
// exists but cannot be written (a read-only mount, no write permission, KILN_CACHE_READONLY=1)
// is read: its entries still give warm starts, and what this process compiles stays in memory.
//
// The cache holds code kiln loads, so the directory is created 0700 and is used only if it is
// ours and no one else can write it (neither group- nor other-writable): otherwise kiln warns
// once and loads nothing from it. Entry files and subdirectories are checked as they are read
// (disk_backend.ts, entry_file.ts).

import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { setting } from '../config/read.js';
import { warnOnce } from '../observe/log.js';
import { ownershipProblem } from './entry_file.js';

export interface CacheDirOptions {
  /** Overrides KILN_CACHE_DIR. */
  cacheDir?: string;
  /** For tests; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

export type CacheLocation =
  /** readOnly: entries are read, never written (see disk_backend.ts). */
  | { kind: 'disk'; dir: string; readOnly: boolean }
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
  return resolve(nonEmpty(opts.cacheDir) ?? setting('KILN_CACHE_DIR', env) ?? join(homedir(), '.cache', 'kiln'));
}

export function diskCacheDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return setting('KILN_NO_CACHE', env);
}

export function cacheReadOnlyForced(env: NodeJS.ProcessEnv = process.env): boolean {
  return setting('KILN_CACHE_READONLY', env);
}

type Probe = { usable: false; reason: string } | { usable: true; readOnly: boolean; note?: string };

// Probed once per directory (and mode) per process.
const probed = new Map<string, Probe>();

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ?? err.message;
}

/**
 * Creates `dir` (0700) unless read-only is forced, checks that it is ours and not writable by
 * others, and asks whether this process may write there (access W_OK: permissions and
 * read-only mounts). Writing and removing a probe file said the same for ~1 ms of every warm
 * start; a write that still fails later (a full disk) warns once and is skipped (store_io.ts).
 */
function probe(dir: string, forceReadOnly: boolean): Probe {
  const id = `${forceReadOnly ? 'ro' : 'rw'}:${dir}`;
  const known = probed.get(id);
  if (known !== undefined) return known;
  let result: Probe;
  let mkdirError: unknown;
  if (!forceReadOnly) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      mkdirError = e;
    }
  }
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    st = undefined;
    result = { usable: false, reason: mkdirError !== undefined ? (mkdirError as Error).message : `cannot open it (${errText(e)})` };
  }
  if (st !== undefined) {
    const trust = st.isDirectory() ? ownershipProblem(st) : 'not a directory';
    if (trust !== undefined) {
      result = { usable: false, reason: `it is ${trust}, so another user could plant code in it; not loading from it (chmod go-w ${dir} if it is yours alone)` };
    } else {
      let writeError: string | undefined = forceReadOnly ? 'KILN_CACHE_READONLY=1' : undefined;
      if (writeError === undefined) {
        try {
          accessSync(dir, constants.W_OK);
        } catch (e) {
          writeError = errText(e);
        }
      }
      if (writeError === undefined) result = { usable: true, readOnly: false };
      else {
        try {
          accessSync(dir, constants.R_OK | constants.X_OK);
          result = { usable: true, readOnly: true, ...(forceReadOnly ? {} : { note: `cache directory ${dir} is not writable (${writeError}); reading its entries, keeping new ones in memory` }) };
        } catch (e) {
          result = { usable: false, reason: `cannot read or write it (${errText(e)})` };
        }
      }
    }
  }
  probed.set(id, result!);
  return result!;
}

export function resolveCacheLocation(opts: CacheDirOptions = {}): CacheLocation {
  const env = opts.env ?? process.env;
  if (diskCacheDisabled(env)) return { kind: 'disabled' };
  const dir = configuredCacheDir(opts);
  const p = probe(dir, cacheReadOnlyForced(env));
  if (p.usable) {
    if (p.note !== undefined) warnOnce(`cache-dir-ro:${dir}`, p.note);
    return { kind: 'disk', dir, readOnly: p.readOnly };
  }
  warnOnce(`cache-dir:${dir}`, `cache directory ${dir} is not usable (${p.reason}); caching in memory only`);
  return { kind: 'memory', dir, reason: p.reason };
}
