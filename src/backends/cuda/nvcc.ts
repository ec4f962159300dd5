// nvcc as a subprocess: the fallback CUDA compiler when libnvrtc is absent (or when
// KILN_CUDA_COMPILER=nvcc). Runs only inside compile workers. Knows nothing about kiln's
// error contract: it returns the raw outcome and compiler.ts turns failures into errors.
import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync, realpathSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

/** Flags besides -arch that every nvcc compile gets (part of the compiler identity). */
export const NVCC_BASE_FLAGS = ['-cubin', '-O3', '--std=c++17'] as const;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Where nvcc is, without running it: KILN_NVCC, then the toolkit named by CUDA_HOME /
 * CUDA_PATH, then /usr/local/cuda, then PATH. The toolkit directories come before PATH
 * because a PATH entry is often a wrapper script, whose realpath says nothing about the
 * toolkit version.
 */
export function findNvcc(): string | undefined {
  const explicit = process.env.KILN_NVCC;
  if (explicit !== undefined && explicit !== '') return isExecutable(explicit) ? explicit : undefined;
  const roots = [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda'].filter((r): r is string => r !== undefined && r !== '');
  for (const root of roots) {
    const candidate = join(root, 'bin', 'nvcc');
    if (isExecutable(candidate)) return candidate;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'nvcc');
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function fileStamp(path: string): string {
  try {
    const real = realpathSync(path);
    return `${real}:${statSync(real).size}`;
  } catch {
    return `missing:${path}`;
  }
}

/**
 * nvcc's identity for cache keys, without running it. nvcc is only a driver: the code comes
 * from cicc and ptxas, so their sizes are part of it too, plus the toolkit's version.json
 * when there is one (it carries the patch version, e.g. 13.0.88).
 */
export function nvccIdentity(nvccPath: string): string {
  const real = (() => {
    try {
      return realpathSync(nvccPath);
    } catch {
      return nvccPath;
    }
  })();
  const root = dirname(dirname(real));
  const parts = [fileStamp(real), fileStamp(join(root, 'bin', 'ptxas')), fileStamp(join(root, 'nvvm', 'bin', 'cicc'))];
  try {
    const v = JSON.parse(readFileSync(join(root, 'version.json'), 'utf8')) as Record<string, { version?: string } | undefined>;
    const version = v.cuda?.version ?? v.cuda_nvcc?.version;
    if (version !== undefined) parts.push(`cuda=${version}`);
  } catch {
    // no version.json (pip-style or distro installs): the file sizes still tell versions apart
  }
  return parts.join(',');
}

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
