// A compiled CUDA kernel (cubin from a worker or the cache) → a function handle in the main
// process: cuModuleLoadData + cuModuleGetFunction, ~0.1 ms. The cheap step of the pipeline.
// Kernels compiled in one group share one cubin (the same Uint8Array, also as read back from
// a graph bundle): it is loaded once and each kernel looks its function up in that module.
import { binaryFormatProblem } from '../binary_format.js';
import type { CompiledKernel } from '../../cache/compiled_kernel.js';
import type { CudaKernelMeta } from './kernel_text.js';
import { CudaError, deviceInfo, moduleGetFunction, moduleLoadData, type CUfunction, type CUmodule } from './driver.js';

export interface LoadedCudaKernel {
  fn: CUfunction;
  module: CUmodule;
  kernelName: string;
  meta: CudaKernelMeta;
}

/** Modules by the cubin they were loaded from. */
const modules = new WeakMap<Uint8Array, CUmodule>();

/** Loads the cubin and looks up k.kernelName; errors name the kernel, its key and a likely cause. */
export function loadCudaKernel(k: CompiledKernel): LoadedCudaKernel {
  const what = `kernel '${k.kernelName}' (key ${k.key.slice(0, 16)})`;
  if (k.backend !== 'cuda') throw new Error(`loadCudaKernel: ${what} is a '${k.backend}' kernel`);
  const problem = binaryFormatProblem('cuda', k.binary);
  if (problem !== undefined) throw new Error(`loadCudaKernel: ${what} is not a cubin (${problem}; ${k.binary.length} bytes)`);
  let module = modules.get(k.binary);
  try {
    if (module === undefined) {
      module = moduleLoadData(k.binary);
      modules.set(k.binary, module);
    }
  } catch (e) {
    if (e instanceof CudaError && (e.errorName === 'CUDA_ERROR_NO_BINARY_FOR_GPU' || e.errorName === 'CUDA_ERROR_INVALID_IMAGE')) {
      throw new CudaError(e.call, e.code, `loading ${what}: was it compiled for this device's ${deviceInfo().arch}?`);
    }
    throw e;
  }
  try {
    return { fn: moduleGetFunction(module, k.kernelName), module, kernelName: k.kernelName, meta: k.meta };
  } catch (e) {
    // The module stays loaded: another kernel of its group may be in it (modules live as long
    // as the process, as every loaded kernel does).
    if (e instanceof CudaError && e.errorName === 'CUDA_ERROR_NOT_FOUND') {
      throw new CudaError(e.call, e.code, `looking up ${what}: no such symbol in the cubin (is it declared extern "C" __global__?)`);
    }
    throw e;
  }
}
