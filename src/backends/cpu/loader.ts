// Main-process side of the C backend: turn a compiled shared object into a loaded library.
// dlopen needs a file, so binaries are written into a directory private to this process:
// made by mkdtemp (a fresh, unpredictable name, mode 0700) and checked after creation (a real
// directory, owned by us, no access for group or others), each file created there with
// O_EXCL by us and never reused from an earlier run, so nothing another user can write is
// ever loaded. Files are named by a counter, never by a key, so no key (however malformed
// a bundle's is) comes near a path. The directory is removed at exit (Linux keeps mapped
// files alive after unlink). Before dlopen the binary's ELF header is checked
// (backends/binary_format.ts), so a damaged entry is an error, not a crash in the dynamic loader.
// The CPU runtime declares the kernel's signature with koffi; this file only loads. koffi is
// imported here, never by the runtime (which is in the library bundle that `import kiln`
// loads): a loaded kernel carries koffi.address for the runtime's pointer blocks. Kernels
// compiled in one group share one shared object (the same Uint8Array, also as read back from
// a graph bundle): written and loaded once.
import { setting } from '../../config/read.js';
import { closeSync, constants, fstatSync, lstatSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi, { type LibraryHandle } from 'koffi';
import { binaryFormatProblem } from '../binary_format.js';
import type { CompiledKernel } from '../../cache/compiled_kernel.js';

export interface LoadedCKernel {
  lib: LibraryHandle;
  /** The exported symbol to declare with lib.func(...). */
  kernelName: string;
  /** Where the .so was written (valid until process exit). */
  path: string;
  /** koffi.address: the address of a typed array's data (moved off V8's heap first if it was on it). */
  address: (value: unknown) => bigint;
}

let dir: string | undefined;
let written = 0;

/** Throws unless `path` is a real directory owned by this user that no one else may enter. */
export function assertPrivateDir(path: string): void {
  const st = lstatSync(path);
  const uid = process.getuid?.();
  if (!st.isDirectory()) throw new Error(`kiln: ${path} is not a directory; refusing to load kernels from it`);
  if (uid !== undefined && st.uid !== uid) throw new Error(`kiln: ${path} is owned by uid ${st.uid}, not us (${uid}); refusing to load kernels from it`);
  if ((st.mode & 0o077) !== 0) throw new Error(`kiln: ${path} has mode ${(st.mode & 0o777).toString(8)}, not 700; refusing to load kernels from it`);
}

/** This process's private load directory (created on first use). */
export function loadDir(): string {
  if (dir === undefined) {
    const d = mkdtempSync(join(tmpdir(), `kiln-load-${process.pid}-`));
    assertPrivateDir(d);
    dir = d;
    process.on('exit', () => rmSync(d, { recursive: true, force: true }));
  }
  return dir;
}

/** Writes `binary` to a new file in the private directory (O_EXCL, 0600, not a link); returns its path. */
function writePrivate(binary: Uint8Array): string {
  const path = join(loadDir(), `k${written++}.so`);
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    let off = 0;
    while (off < binary.byteLength) off += writeSync(fd, binary, off, binary.byteLength - off);
    const st = fstatSync(fd);
    if (!st.isFile() || st.nlink !== 1 || st.size !== binary.byteLength) throw new Error(`kiln: ${path} changed while it was written`);
  } finally {
    closeSync(fd);
  }
  return path;
}

/**
 * How long libgomp's threads spin at the end of a parallel region before sleeping, unless the
 * user chose (OMP_WAIT_POLICY or GOMP_SPINCOUNT). libgomp's default spins up to 300,000 times
 * (about a millisecond), which on a busy machine takes the core that a descheduled sibling
 * needs: at a load average of 13 on the 2-core VM the few-row GEMM of bench/cpu_weights.ts took
 * ~4× longer spinning than sleeping at once (bench/RESULTS.md, "CPU weights read in place").
 * KILN_GOMP_SPINCOUNT overrides this default (for the bench that chose it).
 */
function gompSpinCount(): string {
  const v = setting('KILN_GOMP_SPINCOUNT');
  return v === 'libgomp' ? '' : String(v);
}

/**
 * Runs `load` (a dlopen of a kernel library, which loads libgomp with the first OpenMP kernel:
 * libgomp reads its settings from the environment then, once) with GOMP_SPINCOUNT set, then
 * restores the environment, so the setting reaches libgomp but not the user's child processes.
 */
function withOpenMpWaitPolicy<T>(load: () => T): T {
  const env = process.env;
  const spin = gompSpinCount();
  if (env.OMP_WAIT_POLICY !== undefined || env.GOMP_SPINCOUNT !== undefined || spin === '') return load();
  env.GOMP_SPINCOUNT = spin;
  try {
    return load();
  } finally {
    delete env.GOMP_SPINCOUNT;
  }
}

/** Libraries by the binary they were loaded from. */
const libraries = new WeakMap<Uint8Array, { lib: LibraryHandle; path: string }>();
/** Libraries by kernel key, for the same kernel read again as another Uint8Array (written once). */
const byKey = new Map<string, { lib: LibraryHandle; path: string }>();

export function loadCKernel(k: CompiledKernel): LoadedCKernel {
  const known = libraries.get(k.binary) ?? byKey.get(k.key);
  if (known !== undefined) return { ...known, kernelName: k.kernelName, address: koffi.address };
  const problem = binaryFormatProblem('c', k.binary);
  if (problem !== undefined) throw new Error(`kernel '${k.kernelName}' (key ${k.key.slice(0, 16)}) is not a loadable shared object: ${problem}`);
  const path = writePrivate(k.binary);
  const loaded = { lib: withOpenMpWaitPolicy(() => koffi.load(path)), path };
  libraries.set(k.binary, loaded);
  byKey.set(k.key, loaded);
  return { ...loaded, kernelName: k.kernelName, address: koffi.address };
}
