// What every generated CUDA kernel shares: its launch metadata (kept in the kernel cache and
// read by the runtime), the emitter dialect (buffers are parameters b0, b1, …) and the
// extern "C" signature named by the kernel-name placeholder.
//
// Kernel parameters live in a small constant bank: 4,096 bytes before CUDA 12.1, 32,764 bytes
// (4,095 pointers) with CUDA 12.1+ toolkits and drivers on Volta and later (nvcc 13.0:
// "Formal parameter space overflowed (32768 bytes required, max 32764 bytes allowed)").
// Every kernel parameter here is an 8-byte pointer, so up to 512 of them fit with any toolkit
// and driver kiln supports (CUDA 12.0 included). A kernel with more takes one parameter
// instead, a device array of its buffer pointers (the runtime fills it, runtime.ts), read into
// the same b0, b1, … locals at the top of the kernel; its extra parameters (a workspace) stay
// parameters. The host side has no such limit: cuLaunchKernel takes a pointer per argument
// from one native block (launch.ts), no koffi signature has a parameter per buffer.

import type { KernelBuf } from '../../lower/loop_ir.js';
import { KERNEL_NAME_PLACEHOLDER } from '../../schedule/backend.js';
import { type EmitDialect, cStorageType } from '../c_expr.js';
import { symCName } from '../../lower/sym_index.js';
import type { CudaKernelMeta } from '../../cache/kernel_meta.js';

// The launch metadata's types are part of the compile contract (compile/kernel_meta.ts), where
// the cache validates a stored kernel's metadata without importing this backend.
export type { CudaKernelMeta, CudaLaunchMeta, CudaSymMeta, GemmMeta, SymGemmMeta, SymGridDim } from '../../cache/kernel_meta.js';

export interface CudaGenerated {
  source: string;
  meta: CudaKernelMeta;
}

export const dialect: EmitDialect = {
  load: (buf, index) => `b${buf}[${index}]`,
  acc: (id) => `acc${id}`,
};

/** Threads per block of pointwise kernels, and the most blocks of a grid-stride loop. */
export const POINTWISE_THREADS = 256;
export const MAX_BLOCKS = 132 * 32;

/** Bytes of kernel parameters every CUDA toolkit, driver and GPU kiln supports accepts. */
export const CUDA_PARAM_BYTES = 4096;

/** Whether a kernel of `params` pointer parameters (buffers and extras) takes its buffers as a device array. */
export function usesPointerTable(params: number): boolean {
  return params * 8 > CUDA_PARAM_BYTES;
}

/** The device array of buffer pointers, when a kernel takes one. */
export const POINTER_TABLE = 'kiln_args';

/**
 * The kernel's opening: the signature named by the kernel-name placeholder and `{`, then, for
 * a kernel with more parameters than fit (usesPointerTable), its buffers unpacked from the
 * device array as `b0`, `b1`, … so the body reads them as ever. A kernel over symbolic sizes
 * takes them last, after its pointers (and its workspace), as `const int64_t sz_s0`, … (the
 * names lower/sym_index.ts's symCName gives the loop IR's `sym` leaves).
 */
export function kernelOpen(bufs: readonly KernelBuf[], extra: string[] = [], sizes: readonly string[] = []): string {
  const type = (b: KernelBuf) => `${b.role === 'in' ? 'const ' : ''}${cStorageType(b.dtype)}*`;
  const head = `extern "C" __global__ void ${KERNEL_NAME_PLACEHOLDER}`;
  extra = [...extra, ...sizes.map((s) => `const int64_t ${symCName(s)}`)];
  if (!usesPointerTable(bufs.length + extra.length)) {
    const params = bufs.map((b, i) => `${type(b)} __restrict__ b${i}`);
    return `${head}(${[...params, ...extra].join(', ')}) {`;
  }
  const unpack = bufs.map((b, i) => `  ${type(b)} __restrict__ b${i} = (${type(b)})${POINTER_TABLE}[${i}];`);
  return [`${head}(${[`void* const* __restrict__ ${POINTER_TABLE}`, ...extra].join(', ')}) {`, ...unpack].join('\n');
}
