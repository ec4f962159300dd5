// The bytes of an external data file, for tensors to be views of: the file mapped (default on
// Linux) or read whole into one buffer, once per file however many tensors it holds, shared by
// every model loaded from the same unchanged file while any of its tensors lives. The model
// file itself is mapped the same way (`modelFileBytes`): its inline tensors' raw data are then
// views of the mapping, and a tensor aligned for its element type is used in place.
//
// Why a mapping: reading 201 MB into fresh memory costs ~160 ms on the 2-core VM, nearly all of
// it the kernel faulting in and zeroing 49k anonymous pages before copying into them; a private
// mapping of the page cache costs ~3 ms and no second copy (bench/RESULTS.md, "Load
// throughput"). What it changes (docs/architecture.md, "Known limits"):
// - The weights are the file's pages. A file written in place after loading changes them, and
//   truncated, a read of a lost page is SIGBUS. Every mapping is registered
//   (graph/host_mapping.ts) and readers check it (an fstat) before each CPU call or CUDA
//   upload, so a change between calls is an error naming the file; a change during a call is
//   not caught. Replacing a file by rename is safe: the mapping keeps the old inode.
// - The mapping is MAP_PRIVATE and writable: a write into a weight (nothing in kiln writes
//   one; a user may write into an output that is a weight) copies that page, never the file.
// - It lives while any of its views does: a FinalizationRegistry unmaps it and closes its fd
//   once the buffer is collected.
// KILN_EXTERNAL_DATA=file reads each file once into one buffer instead; =region reads each
// tensor's region into its own buffer (the earlier reader, and the fallback where mapping is
// unavailable: not Linux, no libc through koffi, or mmap refused).

import { setting } from '../config/read.js';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import type koffiModule from 'koffi';
import { type MappedFile, mappedFileOf, registerMapping } from '../graph/host_mapping.js';

type Koffi = typeof koffiModule;

export type ExternalDataMode = 'map' | 'file' | 'region';

/** How this process reads external data (KILN_EXTERNAL_DATA, else map on Linux, else region). */
export function externalDataMode(): ExternalDataMode {
  const v = setting('KILN_EXTERNAL_DATA') ?? (process.platform === 'linux' ? 'map' : 'region');
  return v === 'map' && process.platform !== 'linux' ? 'region' : v;
}

const PROT_READ = 0x1;
const PROT_WRITE = 0x2;
const MAP_PRIVATE = 0x02;
/** madvise: fault the range's page-table entries in now, read-only (Linux 5.14+; best effort). */
const MADV_POPULATE_READ = 22;
const MAP_FAILED = 0xffffffffffffffffn;

interface Libc {
  koffi: Koffi;
  mmap: (addr: null, len: number, prot: number, flags: number, fd: number, off: number) => unknown;
  munmap: (addr: unknown, len: number) => number;
  madvise: (addr: bigint, len: number, advice: number) => number;
}
let libc: Libc | null | undefined;

/** mmap and friends through koffi, loaded on first use (null where unavailable). */
function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    const lib = koffi.load('libc.so.6');
    libc = {
      koffi,
      mmap: lib.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)') as Libc['mmap'],
      munmap: lib.func('int munmap(void *addr, size_t len)') as Libc['munmap'],
      madvise: lib.func('int madvise(uintptr_t addr, size_t len, int advice)') as Libc['madvise'],
    };
  } catch {
    libc = null;
  }
  return libc;
}

/** Live sources by absolute path: a later tensor or load of the same unchanged file reuses one. */
const sources = new Map<string, { at: Fingerprint; buffer: WeakRef<ArrayBuffer>; mapping?: FileMapping }>();

/** Unmaps a collected mapping, closes its file and forgets it. */
const unmapper = new FinalizationRegistry<{ ptr: unknown; size: number; fd: number; file: string }>(({ ptr, size, fd, file }) => {
  libc?.munmap(ptr, size);
  closeSync(fd);
  if (sources.get(file)?.buffer.deref() === undefined) sources.delete(file);
});

interface Fingerprint {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}
const fingerprint = (fd: number): Fingerprint => {
  const s = fstatSync(fd);
  return { dev: s.dev, ino: s.ino, size: s.size, mtimeMs: s.mtimeMs };
};
const same = (a: Fingerprint, b: Fingerprint) => a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;

/** A file's bytes as one buffer, and (for a mapping) the tensors it holds, for error messages. */
export interface FileBytes {
  buffer: ArrayBuffer;
  mapping?: FileMapping;
}

class FileMapping implements MappedFile {
  readonly tensors: string[] = [];
  /** Whether it is a model file (inline tensors), not an external data file: for the message. */
  inline = false;
  constructor(
    readonly file: string,
    private readonly fd: number,
    private readonly at: Fingerprint,
    private readonly ptr: unknown,
    private readonly lib: Libc,
  ) {}

  check(): void {
    const now = fingerprint(this.fd);
    if (now.size === this.at.size && now.mtimeMs === this.at.mtimeMs) return;
    const names = this.tensors.slice(0, 3).map((t) => `'${t}'`).join(', ') + (this.tensors.length > 3 ? ', …' : '');
    throw new Error(
      `${this.inline ? 'model file' : 'external data file'} ${this.file} changed after the model was loaded (${this.at.size} bytes modified ${new Date(this.at.mtimeMs).toISOString()}, now ${now.size} bytes modified ${new Date(now.mtimeMs).toISOString()}): ` +
        `its tensors (${names}) are mapped from the file, not copied, so load the model again. To update a model's files under a running program, write new files and rename them over the old ones.`,
    );
  }

  /** A tensor read in place at `offset`: named in this mapping's messages, its pages faulted in now. */
  adopt(tensor: string, offset: number, length: number): void {
    this.tensors.push(tensor);
    this.populate(offset, length);
  }

  /** Faults a tensor's pages in now (best effort), so the load, not the first call, pays for them. */
  private populate(offset: number, length: number): void {
    const page = 4096;
    const start = offset - (offset % page);
    const addr = this.lib.koffi.address(this.ptr) + BigInt(start);
    this.lib.madvise(addr, length + (offset - start), MADV_POPULATE_READ);
  }
}

/**
 * The bytes of `file` (opened as `fd`, which the caller closes) as one buffer: mapped for
 * 'map', read once for 'file'. Undefined when mapping is unavailable (the caller reads regions).
 */
export function fileBytes(file: string, fd: number, mode: 'map' | 'file'): FileBytes | undefined {
  const at = fingerprint(fd);
  const known = sources.get(file);
  const live = known && same(known.at, at) ? known.buffer.deref() : undefined;
  if (live && (mode === 'map') === (known!.mapping !== undefined)) return { buffer: live, mapping: known!.mapping };
  if (at.size === 0) return undefined;
  let made: FileBytes | undefined;
  if (mode === 'file') {
    const bytes = new Uint8Array(at.size);
    for (let done = 0; done < at.size; ) {
      const got = readSync(fd, bytes, done, Math.min(at.size - done, 1 << 30), done);
      if (got === 0) throw new Error(`external data file ${file} ended early (${done} of ${at.size} bytes)`);
      done += got;
    }
    made = { buffer: bytes.buffer };
  } else {
    made = map(file, at);
    if (!made) return undefined;
  }
  sources.set(file, { at, buffer: new WeakRef(made.buffer), mapping: made.mapping });
  return made;
}

/** A private mapping of the whole file, through its own fd (kept open to check for changes). */
function map(file: string, at: Fingerprint): FileBytes | undefined {
  const lib = loadLibc();
  if (!lib) return undefined;
  const fd = openSync(file, 'r');
  let kept = false;
  try {
    if (!same(fingerprint(fd), at)) return undefined; // replaced between the two opens: read it
    const ptr = lib.mmap(null, at.size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (ptr === null || lib.koffi.address(ptr) === MAP_FAILED) return undefined;
    const buffer = lib.koffi.view(ptr, at.size);
    const mapping = new FileMapping(file, fd, at, ptr, lib);
    unmapper.register(buffer, { ptr, size: at.size, fd, file });
    registerMapping(buffer, mapping);
    kept = true;
    return { buffer, mapping };
  } finally {
    if (!kept) closeSync(fd);
  }
}

/**
 * A model file's bytes, mapped where external data is (KILN_EXTERNAL_DATA unset or 'map', on
 * Linux): its inline tensors are then views of the mapping, not of a second copy read into
 * fresh memory (reading a 653 MB model took 1.4-2.5 s on the 2-core VM under load, nearly all
 * of it faulting in anonymous pages). Undefined where mapping is not used or fails: the caller
 * reads the file.
 */
export function modelFileBytes(file: string): Uint8Array | undefined {
  if (externalDataMode() !== 'map') return undefined;
  const fd = openSync(file, 'r');
  try {
    const got = fileBytes(file, fd, 'map');
    if (got?.mapping) got.mapping.inline = true;
    return got && new Uint8Array(got.buffer);
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether `bytes` (an inline tensor's raw data) lie in a file mapping; if so the tensor is
 * named in the mapping's messages and its pages faulted in now, so the load pays for them.
 */
export function mappedTensor(bytes: Uint8Array, tensor: string): boolean {
  // The registry the readers check (graph/host_mapping.ts) holds this module's mappings.
  const m = mappedFileOf(bytes);
  if (!(m instanceof FileMapping)) return false;
  m.adopt(tensor, bytes.byteOffset, bytes.byteLength);
  return true;
}
