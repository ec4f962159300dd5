// The read and write paths both stores share: how a corrupt entry and an I/O error are
// handled is decided once, here. Reads: verify, decode, else remove + count as corrupt.
// Writes: encode, write atomically, else warn once; never throw into a compile.

import { bump } from '../observe/counters.js';
import { warnOnce } from '../observe/log.js';
import type { EntryBackend } from './backend.js';

/**
 * The decoded entry at `relPath`, or undefined on a miss. A payload that fails the checksum
 * or `decode` (which throws on anything malformed) is removed and counted in `cache_corrupt`.
 */
export function loadEntry<T>(backend: EntryBackend, relPath: string, decode: (payload: Uint8Array) => T): T | undefined {
  let payload: Uint8Array | 'missing' | 'corrupt';
  try {
    payload = backend.read(relPath);
  } catch (e) {
    warnOnce(`cache-read:${backend.description}`, `cannot read the kiln cache in ${backend.description}: ${(e as Error).message}`);
    return undefined;
  }
  if (payload === 'missing') return undefined;
  if (payload !== 'corrupt') {
    let value: T;
    try {
      value = decode(payload);
    } catch {
      return dropCorrupt(backend, relPath);
    }
    backend.touch(relPath);
    return value;
  }
  return dropCorrupt(backend, relPath);
}

function dropCorrupt(backend: EntryBackend, relPath: string): undefined {
  backend.remove(relPath);
  bump('cache_corrupt');
  return undefined;
}

/** Encodes and writes an entry; on any failure warns once and returns false. */
export function storeEntry(backend: EntryBackend, relPath: string, encode: () => Uint8Array): boolean {
  let payload: Uint8Array;
  try {
    payload = encode();
  } catch (e) {
    warnOnce(`cache-encode:${(e as Error).message}`, `not caching ${relPath}: ${(e as Error).message}`);
    return false;
  }
  try {
    backend.write(relPath, payload);
    return true;
  } catch (e) {
    warnOnce(`cache-write:${backend.description}`, `cannot write the kiln cache in ${backend.description}: ${(e as Error).message}`);
    return false;
  }
}
