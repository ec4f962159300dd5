// A compiled kernel: what a compile worker returns (compile/) and what the kernel cache stores,
// with its backend and that backend's launch metadata (kernel_meta.ts). Plain data: the cache
// knows nothing of the compilers that make it.

import type { KernelMetaByBackend } from './kernel_meta.js';

/** Which compiler/runtime a kernel is for. 'c' = system C compiler + dlopen; 'cuda' = NVRTC or nvcc + driver API. */
export type BackendName = 'c' | 'cuda';

/**
 * A kernel's backend with the launch metadata that backend's code generator computed
 * (compile/kernel_meta.ts): a union discriminated by `backend`, so `k.backend === 'cuda'`
 * types `k.meta` as CudaKernelMeta. The metadata travels with the binary and is part of the key.
 */
export type KernelTarget = { [B in BackendName]: { backend: B; meta: KernelMetaByBackend[B] } }[BackendName];

/** The backend and metadata of `k` alone, as a value of the union (a spread of `k` would carry all its fields). */
export function targetOf(k: KernelTarget): KernelTarget {
  return k.backend === 'c' ? { backend: k.backend, meta: k.meta } : { backend: k.backend, meta: k.meta };
}

/** Any backend's kernel metadata. */
export type KernelMeta = KernelTarget['meta'];

/** What a compile job produces; the main process puts the job's identity around it. */
export interface CompilerResult {
  /** Shared object (C) or cubin (CUDA). */
  binary: Uint8Array;
  /** Compiler diagnostics (warnings), possibly empty. */
  log: string;
  /** Wall time of the compile itself, in ms. */
  compileMs: number;
}

/** Fields of every compiled program, a kernel's or a compile group's. */
interface CompiledFields extends CompilerResult {
  key: string;
  kernelName: string;
  /**
   * A compile group's member: the key of the entry that holds `binary` (the group's one
   * program, stored once), so the kernel store writes a reference, not the bytes again.
   */
  binaryOf?: string;
}

/** What the kernel cache stores and the loaders load: a kernel's binary with its identity and metadata. */
export type CompiledKernel = CompiledFields & KernelTarget;

/** A compile group's program, stored once in an entry of its own that its members' entries name. */
export interface CompiledGroup extends CompiledFields {
  backend: BackendName;
  groupMembers: string[];
}
