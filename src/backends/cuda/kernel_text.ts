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

export interface CudaLaunchMeta {
  grid: [number, number, number];
  block: [number, number, number];
  shared: number;
}

/** A matmul done by cuBLAS before the kernel runs; the kernel is then its epilogue. */
export interface GemmMeta {
  batch: number;
  M: number;
  N: number;
  K: number;
  /** Kernel parameter indices of A and B, element offsets, leading dims, transposes, batch strides. */
  a: { param: number; offset: number; ld: number; trans: boolean; batchStride: number };
  b: { param: number; offset: number; ld: number; trans: boolean; batchStride: number };
  /**
   * When the epilogue only stores the product (the next kernel reads it, as a layer norm
   * reads x @ W): the kernel parameter cuBLAS writes straight into, and no epilogue launch.
   */
  direct?: number;
}

export interface CudaKernelMeta {
  params: number;
  launch: CudaLaunchMeta;
  /** When set, the runtime runs this GEMM into a scratch buffer passed as the last parameter. */
  gemm?: GemmMeta;
  /**
   * Bytes of device workspace the kernel takes as its last parameter, zeroed once when the
   * plan is instantiated (a split reduction's partials and per-row counters, which the
   * kernel leaves zeroed again).
   */
  workspace?: number;
  /**
   * The kernel takes its buffer pointers (the `params`, then the cuBLAS product's scratch
   * buffer) as one device array, its first parameter, rather than one parameter each.
   */
  pointerTable?: boolean;
  [k: string]: unknown;
}

export interface CudaGenerated {
  source: string;
  meta: CudaKernelMeta;
}

export const dialect: EmitDialect = {
  load: (buf, index) => `b${buf}[${index}]`,
  acc: (id) => `acc${id}`,
};

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
 * device array as `b0`, `b1`, … so the body reads them as ever.
 */
export function kernelOpen(bufs: readonly KernelBuf[], extra: string[] = []): string {
  const type = (b: KernelBuf) => `${b.role === 'in' ? 'const ' : ''}${cStorageType(b.dtype)}*`;
  const head = `extern "C" __global__ void ${KERNEL_NAME_PLACEHOLDER}`;
  if (!usesPointerTable(bufs.length + extra.length)) {
    const params = bufs.map((b, i) => `${type(b)} __restrict__ b${i}`);
    return `${head}(${[...params, ...extra].join(', ')}) {`;
  }
  const unpack = bufs.map((b, i) => `  ${type(b)} __restrict__ b${i} = (${type(b)})${POINTER_TABLE}[${i}];`);
  return [`${head}(${[`void* const* __restrict__ ${POINTER_TABLE}`, ...extra].join(', ')}) {`, ...unpack].join('\n');
}
