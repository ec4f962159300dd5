// The one on-disk entry format used by every cache file (kernel entries, graph bundles,
// exported artifact files): a fixed header, then the payload.
//
//   offset 0  'KILN'            magic, so a stray file is never mistaken for an entry
//   offset 4  u32 LE            ENTRY_FORMAT_VERSION (of this header layout)
//   offset 8  u64 LE            payload length in bytes
//   offset 16 u32 LE            CRC-32 of the payload
//   offset 20 payload
//
// Length and checksum make a torn, truncated or bit-flipped file detectable, so a reader
// turns it into a miss instead of a crash or a wrong kernel. The checksum guards against
// damage, not forgery (entries are named by their content's sha256 key already), so it is
// zlib's CRC-32: ~5 GB/s, where sha256 (format 1) took 1.8-3 ms of every warm start that
// reads a 3 MB bundle. Writes go to a temporary file
// in the same directory and are renamed into place: rename is atomic within a filesystem,
// so a concurrent reader sees either the old complete file or the new complete file.
// No fsync: after a power loss a file may be torn, and the checksum catches that.
//
// Reads never trust what sits at a path: the file is opened with O_NOFOLLOW | O_NONBLOCK (a
// symlink, to /dev/zero say, is refused; a FIFO does not block) and fstat'ed; anything but a
// regular file, a file over MAX_ENTRY_BYTES, and (for cache entries) a file not owned by us
// or writable by group or others is refused before a byte is read. Entries are created 0600.

import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, mkdirSync, openSync, readSync, renameSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';

export const ENTRY_MAGIC = 'KILN';
export const ENTRY_FORMAT_VERSION = 2;
export const ENTRY_HEADER_BYTES = 20;

/** No entry or artifact file is read past this size (a bundle of a big model is tens of MB). */
export const MAX_ENTRY_BYTES = 1 << 30;

/** Marks temporary files so that scans skip them and can sweep ones left by crashed writers. */
export const TEMP_MARKER = '.tmp.';

export function entryHeader(payload: Uint8Array): Uint8Array {
  const h = new Uint8Array(ENTRY_HEADER_BYTES);
  const view = new DataView(h.buffer);
  h.set(Buffer.from(ENTRY_MAGIC, 'latin1'), 0);
  view.setUint32(4, ENTRY_FORMAT_VERSION, true);
  view.setBigUint64(8, BigInt(payload.byteLength), true);
  view.setUint32(16, crc32(payload), true);
  return h;
}

/** Header + payload as one buffer (for in-memory stores and tests). */
export function encodeEntry(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(ENTRY_HEADER_BYTES + payload.byteLength);
  out.set(entryHeader(payload), 0);
  out.set(payload, ENTRY_HEADER_BYTES);
  return out;
}

/** The verified payload (a view into `bytes`), or 'corrupt'. */
export function decodeEntry(bytes: Uint8Array): Uint8Array | 'corrupt' {
  if (bytes.byteLength < ENTRY_HEADER_BYTES) return 'corrupt';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < 4; i++) if (bytes[i] !== ENTRY_MAGIC.charCodeAt(i)) return 'corrupt';
  if (view.getUint32(4, true) !== ENTRY_FORMAT_VERSION) return 'corrupt';
  const length = view.getBigUint64(8, true);
  if (length !== BigInt(bytes.byteLength - ENTRY_HEADER_BYTES)) return 'corrupt';
  const payload = new Uint8Array(bytes.buffer, bytes.byteOffset + ENTRY_HEADER_BYTES, Number(length));
  return view.getUint32(16, true) === crc32(payload) ? payload : 'corrupt';
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
}

/**
 * Writes `payload` as an entry at `path` atomically, creating parent directories.
 * Throws on I/O errors (the stores catch and warn); never leaves its temporary file behind.
 */
export function writeEntryAtomic(path: string, payload: Uint8Array, mode = 0o600): void {
  const tmp = `${path}${TEMP_MARKER}${process.pid}.${randomBytes(6).toString('hex')}`;
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', mode);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    // Parent missing: create it only now, so the common case costs no extra syscall. Private:
    // no one else may add, replace or remove entries.
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    fd = openSync(tmp, 'wx', mode);
  }
  try {
    try {
      writeAll(fd, entryHeader(payload));
      writeAll(fd, payload);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone or never created; the original error is the one worth reporting
    }
    throw e;
  }
}

/** What sits at an entry path and why it was not read (for a warning); the caller may remove it. */
export interface EntryRefusal {
  refused: string;
  /** A directory (removed recursively by a caller that owns the path). */
  isDirectory: boolean;
}

export interface ReadEntryOptions {
  /** Follow a symlink at `path` (an artifact file the user named); entries never do. */
  followSymlinks?: boolean;
  /** Refuse a file not owned by this user or writable by group or others (cache entries). */
  requireOwned?: boolean;
  maxBytes?: number;
}

function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/** Why a file or directory with these stats may have been written by someone else, or undefined. */
export function ownershipProblem(st: Stats): string | undefined {
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) return `owned by uid ${st.uid}, not by this user (${uid})`;
  const w = st.mode & 0o022;
  if (w !== 0) return `writable by ${w === 0o022 ? 'its group and others' : w === 0o020 ? 'its group' : 'others'} (mode ${(st.mode & 0o777).toString(8)})`;
  return undefined;
}

/**
 * The verified payload of the entry at `path`, 'missing' if there is none, 'corrupt' (bad
 * magic, version, length or checksum, or larger than the bound), or a refusal (not a regular
 * file, or with `requireOwned` one someone else could have written): never blocks on a FIFO,
 * never follows a symlink unless asked, never reads more than the bound. The caller removes
 * a corrupt file and bumps `cache_corrupt`. Throws only on unexpected I/O errors (EACCES, EIO, ...).
 */
export function readEntryVerified(path: string, opts: ReadEntryOptions = {}): Uint8Array | 'missing' | 'corrupt' | EntryRefusal {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (opts.followSymlinks ? 0 : constants.O_NOFOLLOW));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    if (code === 'ELOOP' || code === 'EMLINK') return { refused: 'a symbolic link', isDirectory: false };
    if (code === 'ENXIO' || code === 'EOPNOTSUPP') return { refused: 'a socket or device', isDirectory: false };
    if (code === 'EISDIR') return { refused: 'a directory', isDirectory: true };
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { refused: fileKind(st), isDirectory: st.isDirectory() };
    if (opts.requireOwned) {
      const problem = ownershipProblem(st);
      if (problem !== undefined) return { refused: problem, isDirectory: false };
    }
    if (st.size > (opts.maxBytes ?? MAX_ENTRY_BYTES)) return 'corrupt';
    const bytes = Buffer.allocUnsafeSlow(st.size);
    let off = 0;
    while (off < st.size) {
      const got = readSync(fd, bytes, off, st.size - off, off);
      if (got === 0) return 'corrupt'; // shrank under us: torn
      off += got;
    }
    return decodeEntry(bytes);
  } finally {
    closeSync(fd);
  }
}
