// nvcc as a subprocess: the fallback CUDA compiler when libnvrtc is absent (or when
// KILN_CUDA_COMPILER=nvcc). Runs only inside compile workers. Knows nothing about kiln's
// error contract: it returns the raw outcome and compiler.ts turns failures into errors.
// Finding nvcc and its identity are toolchain.ts's.
import { runTool } from '../../compile/subprocess.js';
import { NVCC_BASE_FLAGS } from './toolchain.js';

export interface NvccOutcome {
  ok: boolean;
  /** stderr + stdout of nvcc: warnings on success, errors on failure. */
  log: string;
  /** Why it failed when nvcc itself could not run or exited non-zero. */
  error?: string;
}

/**
 * Runs `nvcc -cubin -arch=<arch> ... -o <outPath> <srcPath>` in its own process group, with
 * `tmpDir` as its TMPDIR (compile/subprocess.ts); never throws.
 */
export async function runNvcc(nvccPath: string, srcPath: string, outPath: string, arch: string, extraFlags: readonly string[], tmpDir: string): Promise<NvccOutcome> {
  const args = [...NVCC_BASE_FLAGS, `-arch=${arch}`, ...extraFlags, '-o', outPath, srcPath];
  const r = await runTool(nvccPath, args, tmpDir);
  const log = `${r.stderr}${r.stdout}`.trim();
  if (r.code === 0 && r.error === undefined) return { ok: true, log };
  const code = (r.error as NodeJS.ErrnoException | undefined)?.code;
  const why =
    code === 'ENOENT'
      ? `nvcc not found at ${nvccPath}`
      : r.signal !== null
        ? `nvcc killed by ${r.signal}`
        : r.code !== null && r.code !== 0
          ? `nvcc exited with code ${r.code}`
          : `nvcc failed (${r.error?.message ?? 'unknown error'})`;
  return { ok: false, log, error: `${why} (${[nvccPath, ...args].join(' ')})` };
}
