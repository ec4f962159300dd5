// Entries in a Map: the fallback when the cache directory cannot be used, so kiln still
// shares results within one process instead of failing. Map insertion order is the LRU order
// (touch re-inserts), and the same byte bound as on disk applies.

import type { EntryBackend } from './backend.js';

export class MemoryBackend implements EntryBackend {
  readonly description = '(memory)';
  readonly dir = undefined;
  private readonly entries = new Map<string, Uint8Array>();
  private bytes = 0;

  constructor(private readonly maxBytes?: number) {}

  /** Whether any entry lies under `dirRel` (a layout folder: 'kernels', 'graphs'). */
  hasAny(dirRel: string): boolean {
    for (const k of this.entries.keys()) if (k.startsWith(dirRel + '/')) return true;
    return false;
  }

  read(relPath: string): Uint8Array | 'missing' {
    return this.entries.get(relPath) ?? 'missing';
  }

  write(relPath: string, payload: Uint8Array): void {
    this.remove(relPath);
    this.entries.set(relPath, payload);
    this.bytes += payload.byteLength;
    if (this.maxBytes === undefined) return;
    for (const [oldest, p] of this.entries) {
      if (this.bytes <= this.maxBytes || oldest === relPath) break;
      this.entries.delete(oldest);
      this.bytes -= p.byteLength;
    }
  }

  remove(relPath: string): void {
    const p = this.entries.get(relPath);
    if (p === undefined) return;
    this.entries.delete(relPath);
    this.bytes -= p.byteLength;
  }

  touch(relPath: string): void {
    const p = this.entries.get(relPath);
    if (p === undefined) return;
    this.entries.delete(relPath);
    this.entries.set(relPath, p);
  }
}
