// The contract between the scheduler (which produces kernel sources), the worker pool
// (which turns sources into binaries) and the backends' loaders (which turn binaries into
// callable kernels in the main process). Nothing here knows about tensors. What a compile
// produces, and the kernel cache stores, is cache/compiled_kernel.ts.

import type { BackendName, CompiledGroup, CompiledKernel, KernelTarget } from '../cache/compiled_kernel.js';

/** What a compiler takes: the exact source and everything that changes the binary. */
export interface CompileSource {
  /** sha256 over source + compiler identity + options + metadata + kiln cache format version (see compile/key.ts). */
  key: string;
  /** The exported symbol in the binary (extern "C" name); derived from the content, never graph-specific. */
  kernelName: string;
  source: string;
  /** Backend-specific compile options (flags, arch), JSON-serialisable; part of the key. */
  options: CompileOptions;
}

/** What the scheduler submits: one kernel. */
export type CompileRequest = CompileSource & KernelTarget;

/**
 * A compile group's job (compile/compile_group.ts): its members' sources as one program, under
 * a key derived from theirs. It launches nothing, so it has no launch metadata: it names the
 * kernels it compiles instead.
 */
export interface GroupRequest extends CompileSource {
  backend: BackendName;
  groupMembers: string[];
}

/** What a compile worker takes: a kernel or a compile group. */
export type CompileJob = CompileRequest | GroupRequest;

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
  put(kernel: CompiledKernel | CompiledGroup): void;
  /**
   * Claims the compile of `key` across processes sharing the store: 'owner' (compile, then
   * release) or 'busy' (another live process is compiling it: wait for the entry). Optional.
   * The second argument is the caller's compile deadline (ms): it sets how often the owner
   * shows it is alive and how long a silent marker is waited for (cache/compile_lock.ts).
   */
  lockForCompile?(key: string, deadlineMs: number): { kind: 'owner'; release(): void } | { kind: 'busy' };
}
