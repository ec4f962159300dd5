// Where entry payloads physically go. The stores (kernel_store, graph_store) speak only this
// interface, so a remote backend (Triton's RemoteCacheBackend: redis, S3, an HTTP server)
// can be added later as another implementation, or as a second tier behind the local one,
// without touching the stores or their callers.

export interface EntryBackend {
  /** For warnings and stats: a directory, '(memory)' or '(disabled)'. */
  readonly description: string;
  /** The cache directory for disk backends; undefined otherwise. */
  readonly dir: string | undefined;
  /** A disk cache that this process only reads (writes stay in memory; no compile locks). */
  readonly readOnly?: boolean;
  /** The verified payload at `relPath` (see layout.ts). May throw on unexpected I/O errors. */
  read(relPath: string): Uint8Array | 'missing' | 'corrupt';
  /** Stores a payload atomically (readers see the old entry or the new one, never a mix). May throw on I/O errors. */
  write(relPath: string, payload: Uint8Array): void;
  /** Best effort; never throws. */
  remove(relPath: string): void;
  /** Marks an entry as just used, for LRU eviction. Best effort; never throws. */
  touch(relPath: string): void;
}
