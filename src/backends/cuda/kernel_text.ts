// What every generated CUDA kernel shares: its launch metadata (kept in the kernel cache and
// read by the runtime), the emitter dialect (buffers are parameters b0, b1, …) and the
// extern "C" signature named by the kernel-name placeholder.

import type { KernelBuf } from '../../lower/loop_ir.js';
import { KERNEL_NAME_PLACEHOLDER } from '../backend.js';
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

export function signature(bufs: readonly KernelBuf[], extra: string[] = []): string {
  const params = bufs.map((b, i) => `${b.role === 'in' ? 'const ' : ''}${cStorageType(b.dtype)}* __restrict__ b${i}`);
  return `extern "C" __global__ void ${KERNEL_NAME_PLACEHOLDER}(${[...params, ...extra].join(', ')})`;
}
