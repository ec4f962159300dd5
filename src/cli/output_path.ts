// Where a command writes: checked before any work, so a bad path is a usage error that names
// the path (exit 2) rather than a raw ENOTDIR or EEXIST, with a temporary file's name, after a
// whole compile or run. Nothing is created by the checks.

import { statSync } from 'node:fs';
import * as path from 'node:path';
import { UsageError } from './errors.js';

function kindOf(p: string): 'dir' | 'file' | 'missing' {
  try {
    return statSync(p).isDirectory() ? 'dir' : 'file';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    // ENOTDIR: a component of the path is a regular file; the caller names the ancestor.
    if (code === 'ENOTDIR') return 'missing';
    throw e;
  }
}

/** The nearest existing ancestor of `p` must be a directory (so `p` can be created under it). */
function checkAncestors(p: string, what: string, shown: string): void {
  let dir = path.dirname(path.resolve(p));
  for (;;) {
    const k = kindOf(dir);
    if (k === 'dir') return;
    if (k === 'file') throw new UsageError(`cannot write ${what} '${shown}': '${dir}' is a file, not a directory`);
    const up = path.dirname(dir);
    if (up === dir) return;
    dir = up;
  }
}

/** A file the command will write (created or replaced): not a directory, its folder must exist. */
export function checkOutputFile(file: string, what: string): void {
  const k = kindOf(file);
  if (k === 'dir') throw new UsageError(`cannot write ${what} '${file}': it is a directory`);
  checkAncestors(file, what, file);
  const dir = path.dirname(path.resolve(file));
  if (kindOf(dir) === 'missing') throw new UsageError(`cannot write ${what} '${file}': directory '${dir}' does not exist`);
}

/** A directory the command will create if needed and write files into. */
export function checkOutputDir(dir: string, what: string): void {
  if (kindOf(dir) === 'file') throw new UsageError(`${what} '${dir}' is a file, not a directory (outputs are written as files inside it)`);
  checkAncestors(dir, what, dir);
}

/** Re-throws an I/O error from writing `file` with the path and what it is, instead of a temporary name. */
export function ioErrorAt(e: unknown, file: string, what: string): never {
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.code !== 'string') throw e;
  const why: Record<string, string> = { EACCES: 'permission denied', EPERM: 'operation not permitted', ENOSPC: 'no space left on the device', EROFS: 'read-only file system', ENOTDIR: 'a folder on its path is a file', ENOENT: 'its folder does not exist', EISDIR: 'it is a directory' };
  throw Object.assign(new Error(`cannot write ${what} '${file}': ${why[err.code] ?? err.code}`), { code: err.code });
}
