// nvcc as a subprocess: the fallback CUDA compiler when libnvrtc is absent (or when
// KILN_CUDA_COMPILER=nvcc). Runs only inside compile workers. Knows nothing about kiln's
// error contract: it returns the raw outcome and compiler.ts turns failures into errors.
// Finding nvcc and its identity are toolchain.ts's.
import { execFile } from 'node:child_process';
import { NVCC_BASE_FLAGS } from './toolchain.js';

export interface NvccOutcome {
  ok: boolean;
  /** stderr + stdout of nvcc: warnings on success, errors on failure. */
  log: string;
  /** Why it failed when nvcc itself could not run or exited non-zero. */
  error?: string;
}

/** Runs `nvcc -cubin -arch=<arch> ... -o <outPath> <srcPath>`; never throws. */
export function runNvcc(nvccPath: string, srcPath: string, outPath: string, arch: string, extraFlags: readonly string[]): Promise<NvccOutcome> {
  const args = [...NVCC_BASE_FLAGS, `-arch=${arch}`, ...extraFlags, '-o', outPath, srcPath];
  return new Promise((resolve) => {
    execFile(nvccPath, args, { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const log = `${stderr}${stdout}`.trim();
      if (err === null) return resolve({ ok: true, log });
      const code = (err as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOENT' ? `nvcc not found at ${nvccPath}` : err.killed ? `nvcc killed by ${err.signal ?? 'a signal'}` : `nvcc exited with code ${String(code)}`;
      resolve({ ok: false, log, error: `${why} (${[nvccPath, ...args].join(' ')})` });
    });
  });
}
