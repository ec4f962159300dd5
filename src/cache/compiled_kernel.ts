// A compiled kernel: what a compile worker returns for one job (compile/) and what the kernel
// cache stores. Plain data: the cache knows nothing of the compilers that make it.

/** Which compiler/runtime a kernel is for. 'c' = system C compiler + dlopen; 'cuda' = NVRTC or nvcc + driver API. */
export type BackendName = 'c' | 'cuda';

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
