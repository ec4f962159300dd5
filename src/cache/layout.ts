// Where entries live inside a cache directory, and how to enumerate them:
//   <dir>/kernels/<key[0:2]>/<key>.kentry   (sharded so no directory grows huge)
//   <dir>/graphs/<key>.gentry

import { readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { TEMP_MARKER } from './entry_file.js';

export type EntryKind = 'kernel' | 'graph';

export const KERNELS_DIR = 'kernels';
export const GRAPHS_DIR = 'graphs';
const KERNEL_EXT = '.kentry';
const GRAPH_EXT = '.gentry';

/**
 * Every key kiln makes (kernel and graph keys alike) is a sha256 in lower-case hex. Keys read
 * from a file, a bundle or an artifact are checked against exactly that before they come near
 * a path, so no key can name a file outside its directory.
 */
export function isValidKey(key: unknown): key is string {
  return typeof key === 'string' && /^[0-9a-f]{64}$/.test(key);
}

/** Throws on a key that isValidKey refuses: the one way a key becomes a path. */
export function entryRelPath(kind: EntryKind, key: string): string {
  if (!isValidKey(key)) throw new Error(`not a kiln cache key: ${JSON.stringify(String(key).slice(0, 80))}`);
  return kind === 'kernel' ? join(KERNELS_DIR, key.slice(0, 2), key + KERNEL_EXT) : join(GRAPHS_DIR, key + GRAPH_EXT);
}

export interface EntryFileInfo {
  kind: EntryKind;
  key: string;
  path: string;
  size: number;
  mtimeMs: number;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return []; // missing (nothing cached yet) or vanished under a concurrent clear
  }
}

/**
 * Every entry file under `dir` with size and mtime. Temporary files are skipped; those older
 * than `sweepTempsOlderThanMs` (left by a writer that crashed between write and rename) are deleted.
 */
export function listEntryFiles(dir: string, sweepTempsOlderThanMs?: number): EntryFileInfo[] {
  const out: EntryFileInfo[] = [];
  const now = Date.now();
  const visit = (path: string, name: string, kind: EntryKind, ext: string): void => {
    let st;
    try {
      st = statSync(path);
    } catch {
      return; // removed concurrently
    }
    if (!st.isFile()) return;
    if (name.includes(TEMP_MARKER)) {
      if (sweepTempsOlderThanMs !== undefined && now - st.mtimeMs > sweepTempsOlderThanMs) {
        try {
          unlinkSync(path);
        } catch {
          // another process swept it first
        }
      }
      return;
    }
    if (!name.endsWith(ext)) return;
    out.push({ kind, key: name.slice(0, -ext.length), path, size: st.size, mtimeMs: st.mtimeMs });
  };
  const kernelsDir = join(dir, KERNELS_DIR);
  for (const shard of listDir(kernelsDir)) {
    const shardDir = join(kernelsDir, shard);
    for (const name of listDir(shardDir)) visit(join(shardDir, name), name, 'kernel', KERNEL_EXT);
  }
  const graphsDir = join(dir, GRAPHS_DIR);
  for (const name of listDir(graphsDir)) visit(join(graphsDir, name), name, 'graph', GRAPH_EXT);
  return out;
}
