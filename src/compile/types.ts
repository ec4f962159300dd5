// The contract between the scheduler (which produces kernel sources), the worker pool
// (which turns sources into binaries) and the backends' loaders (which turn binaries into
// callable kernels in the main process). Nothing here knows about tensors.

/** Which compiler/runtime a kernel is for. 'c' = system C compiler + dlopen; 'cuda' = NVRTC or nvcc + driver API. */
export type BackendName = 'c' | 'cuda';

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

/** JSON-serialisable launch metadata; each backend defines what it puts here. */
export type KernelMeta = Record<string, unknown>;

/** What a worker returns for one job, and what the kernel cache stores. */
export interface CompiledKernel {
  key: string;
  backend: BackendName;
  kernelName: string;
  /** Shared object (C) or cubin (CUDA). */
  binary: Uint8Array;
  meta: KernelMeta;
  /** Compiler diagnostics (warnings), possibly empty. */
  log: string;
  /** Wall time of the compile itself, in ms. */
  compileMs: number;
  /**
   * A compile group's member: the key of the entry that holds `binary` (the group's one
   * program, stored once), so the kernel store writes a reference, not the bytes again.
   */
  binaryOf?: string;
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
