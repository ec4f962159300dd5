// Host memory that is a file mapped read-in-place (an ONNX model's external weights: see
// src/onnx/file_source.ts). Such a typed array is a view of the file's page cache, not a copy,
// so the file changing in place changes the weights and truncating it makes a read of the
// lost pages kill the process (SIGBUS). Whoever is about to read a weight — a CPU call, a
// CUDA upload — asks `assertUnchanged` first, which turns a file changed since it was mapped
// into an error naming it instead (a file replaced by rename is safe: the mapping keeps the
// old one). This module holds only the registry, so the library bundle can check without
// loading the mapping code (or koffi).

/** A mapped file: `check()` throws if it changed (size or modification time) since it was mapped. */
export interface MappedFile {
  readonly file: string;
  check(): void;
}

const mapped = new WeakMap<ArrayBufferLike, MappedFile>();

/** Marks `buffer` as `source`'s mapping (called by the mapper, once per mapping). */
export function registerMapping(buffer: ArrayBufferLike, source: MappedFile): void {
  mapped.set(buffer, source);
}

/** The mapped file behind a typed array's buffer, if it is one. */
export function mappedFileOf(t: { readonly buffer: ArrayBufferLike }): MappedFile | undefined {
  return mapped.get(t.buffer);
}

/**
 * Throws if any of `arrays` is a view of a mapped file that changed since it was mapped; each
 * file is checked once (an fstat) however many of its tensors are given.
 */
export function assertUnchanged(arrays: Iterable<{ readonly buffer: ArrayBufferLike }>): void {
  let seen: MappedFile[] | undefined;
  for (const t of arrays) {
    const m = mapped.get(t.buffer);
    if (m === undefined || seen?.includes(m)) continue;
    m.check();
    (seen ??= []).push(m);
  }
}
