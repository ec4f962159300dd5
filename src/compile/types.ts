// The contract between the scheduler (which produces kernel sources), the worker pool
// (which turns sources into binaries) and the backends' loaders (which turn binaries into
// callable kernels in the main process). Nothing here knows about tensors.

import type { KernelMetaByBackend } from './kernel_meta.js';

/** Which compiler/runtime a kernel is for. 'c' = system C compiler + dlopen; 'cuda' = NVRTC or nvcc + driver API. */
export type BackendName = 'c' | 'cuda';

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

/** What a compile job produces; the main process puts the job's identity around it. */
export interface CompilerResult {
  /** Shared object (C) or cubin (CUDA). */
  binary: Uint8Array;
  /** Compiler diagnostics (warnings), possibly empty. */
  log: string;
  /** Wall time of the compile itself, in ms. */
  compileMs: number;
}

export interface CompileOptions {
  /** Extra compiler flags beyond the backend's defaults. */
  flags?: string[];
  /** Target architecture, e.g. 'native' for C or 'sm_90' for CUDA. */
  arch?: string;
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
