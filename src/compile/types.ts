// The contract between the scheduler (which produces kernel sources), the worker pool
// (which turns sources into binaries) and the backends' loaders (which turn binaries into
// callable kernels in the main process). Nothing here knows about tensors. What a compile
// produces, and the kernel cache stores, is cache/compiled_kernel.ts.

import type { BackendName, CompiledKernel, KernelMeta } from '../cache/compiled_kernel.js';

/** What the scheduler submits: the exact source and everything that changes the binary. */
export interface CompileRequest {
  /** sha256 over source + compiler identity + options + kiln cache format version (see compile/key.ts). */
  key: string;
  backend: BackendName;
  /** The exported symbol in the binary (extern "C" name); derived from the content, never graph-specific. */
  kernelName: string;
  source: string;
  /** Backend-specific compile options (flags, arch), JSON-serialisable; part of the key. */
  options: CompileOptions;
  /** Launch metadata computed by codegen (grid/block, param layout); travels with the binary. */
  meta: KernelMeta;
}

export interface CompileOptions {
  /** Extra compiler flags beyond the backend's defaults. */
  flags?: string[];
  /** Target architecture, e.g. 'native' for C or 'sm_90' for CUDA. */
  arch?: string;
}

/** A persistent store of compiled kernels keyed by CompileRequest.key (implemented in cache/). */
export interface KernelStoreLike {
  /** A verified entry, or undefined on a miss or a corrupt entry (which the store removes and counts). */
  get(key: string): CompiledKernel | undefined;
  /** Atomically writes an entry (temporary file + rename). Never throws on I/O errors; warns once. */
  put(kernel: CompiledKernel): void;
  /**
   * Claims the compile of `key` across processes sharing the store: 'owner' (compile, then
   * release) or 'busy' (another live process is compiling it: wait for the entry). Optional.
   * The second argument is the caller's compile deadline (ms): it sets how often the owner
   * shows it is alive and how long a silent marker is waited for (cache/compile_lock.ts).
   */
  lockForCompile?(key: string, deadlineMs: number): { kind: 'owner'; release(): void } | { kind: 'busy' };
}
