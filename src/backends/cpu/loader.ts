// Main-process side of the C backend: turn a compiled shared object into a loaded library.
// dlopen needs a file, so binaries go to a per-process temp dir that is removed at exit
// (Linux keeps mapped files alive after unlink). The CPU runtime declares the kernel's
// signature with koffi; this file only loads. koffi is imported here, never by the runtime
// (which is in the library bundle that `import kiln` loads): a loaded kernel carries
// koffi.address for the runtime's pointer blocks. Kernels compiled in one group share one shared
// object (the same Uint8Array, also as read back from a graph bundle): written and loaded once.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi, { type LibraryHandle } from 'koffi';
import type { CompiledKernel } from '../../compile/types.js';

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

function loadDir(): string {
  if (dir === undefined) {
    dir = join(tmpdir(), `kiln-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    const d = dir;
    process.on('exit', () => rmSync(d, { recursive: true, force: true }));
  }
  return dir;
}

/** Libraries by the binary they were loaded from. */
const libraries = new WeakMap<Uint8Array, { lib: LibraryHandle; path: string }>();

export function loadCKernel(k: CompiledKernel): LoadedCKernel {
  const known = libraries.get(k.binary);
  if (known !== undefined) return { ...known, kernelName: k.kernelName, address: koffi.address };
  const path = join(loadDir(), `${k.key}.so`);
  // Never rewrite a file that may already be mapped (same key loaded twice): the key pins
  // the content, and overwriting a mapped .so in place would corrupt the running code.
  if (!existsSync(path)) {
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, k.binary);
    renameSync(tmp, path);
  }
  const loaded = { lib: koffi.load(path), path };
  libraries.set(k.binary, loaded);
  return { ...loaded, kernelName: k.kernelName, address: koffi.address };
}
