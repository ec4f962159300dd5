// The architecture to compile for. Main process only: asking the device initialises CUDA
// (~100 ms, once). Workers never call this; they get the arch in CompileRequest.options.
import { cudaAvailable, deviceInfo } from './driver.js';

/** 'sm_90' etc. from the device when there is one, else KILN_CUDA_ARCH, else 'sm_90'. */
export function deviceArch(): string {
  if (cudaAvailable()) return deviceInfo().arch;
  const env = process.env.KILN_CUDA_ARCH;
  return env !== undefined && env !== '' ? env : 'sm_90';
}
