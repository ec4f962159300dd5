// Entries as files under one directory, shared safely by any number of processes:
// atomic temp-then-rename writes (entry_file.ts), checksummed reads, mtime as LRU clock.

import { unlinkSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import type { EntryBackend } from './backend.js';
import { ENTRY_HEADER_BYTES, readEntryVerified, writeEntryAtomic } from './entry_file.js';
import { SizeBoundEvictor } from './eviction.js';

export class DiskBackend implements EntryBackend {
  readonly description: string;
  private readonly evictor: SizeBoundEvictor | undefined;

  /** `maxBytes` undefined = unbounded. */
  constructor(
    readonly dir: string,
    maxBytes?: number,
  ) {
    this.description = dir;
    this.evictor = maxBytes === undefined ? undefined : new SizeBoundEvictor(dir, maxBytes);
  }

  read(relPath: string): Uint8Array | 'missing' | 'corrupt' {
    return readEntryVerified(join(this.dir, relPath));
  }

  write(relPath: string, payload: Uint8Array): void {
    const path = join(this.dir, relPath);
    writeEntryAtomic(path, payload);
    this.evictor?.noteWrite(path, ENTRY_HEADER_BYTES + payload.byteLength);
  }

  remove(relPath: string): void {
    try {
      unlinkSync(join(this.dir, relPath));
    } catch {
      // gone already (another process removed or replaced it)
    }
  }

  touch(relPath: string): void {
    const now = new Date();
    try {
      utimesSync(join(this.dir, relPath), now, now);
    } catch {
      // evicted meanwhile; the caller already holds the payload
    }
  }
}
