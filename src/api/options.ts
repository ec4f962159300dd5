// Options of compile() and loadOnnx(), and how environment variables fill them in.

import type { Device } from '../graph/ndarray.js';
import { setting } from '../config/read.js';

export interface CompileOptions {
  /** 'cpu' (default, or KILN_DEVICE) or 'cuda'. */
  device?: Device;
  /** Cache directory (default KILN_CACHE_DIR or ~/.cache/kiln; KILN_NO_CACHE=1 disables). */
  cacheDir?: string;
  /** Compile worker processes (default KILN_WORKERS, else from cores and memory); 0 compiles inline. */
  workers?: number;
  /** CUDA target architecture, e.g. 'sm_90' (default: the device's, else KILN_CUDA_ARCH or sm_90). */
  arch?: string;
  /** Let cuBLAS use TF32 tensor cores for float32 matmuls (off by default). */
  allowTF32?: boolean;
  /** Generate and compile every kernel, but load and run nothing (works without the device). */
  compileOnly?: boolean;
  /** A human name for this program's cache entries (e.g. the model file), for `kiln cache export --label`. */
  label?: string;
  /** Per-kernel compile deadline in ms (default 60 s, or KILN_COMPILE_TIMEOUT_MS). */
  compileTimeoutMs?: number;
}

export function resolveDevice(o: CompileOptions): Device {
  const d = o.device ?? setting('KILN_DEVICE');
  if (d !== 'cpu' && d !== 'cuda') throw new TypeError(`unknown device '${String(d)}' (expected 'cpu' or 'cuda')`);
  return d;
}
