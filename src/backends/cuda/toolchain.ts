// Where the CUDA compilers are and who they are, from files only: this never loads NVRTC or
// runs nvcc, so the main process may use it (a graph key needs the compiler's identity on
// every warm start). Finding the toolkit, the library or binary, and the identity string
// all live here, apart from the code that compiles (nvrtc.ts, nvcc.ts, compiler.ts), so a
// warm start imports one small module instead of the whole compiler chain.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync, realpathSync as jsRealpathSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { setting } from '../../config/read.js';
import { REAL_CUDA_ARCH } from '../../config/parsers.js';

// libc's realpath: Node's own realpathSync walks the path in JS (an lstat per component, and
// the toolkit's paths are symlinks three deep), ~1 ms of every CUDA warm start.
const realpathSync = jsRealpathSync.native;

// --- toolkit directories (NVRTC's and cuBLAS's library searches) ---

/**
 * Descending order of names by their embedded numbers ("libnvrtc.so.13.0.88" after
 * "libnvrtc.so.13.1"). Written out rather than localeCompare(…, { numeric: true }): that
 * loads ICU's collator, ~7 ms of every CUDA warm start.
 */
export function compareVersionsDesc(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] === pb[i]) continue;
    // split with a capture group puts the numbers at odd indices.
    if (i % 2 === 1) return Number(pb[i]) - Number(pa[i]);
    return pa[i]! < pb[i]! ? 1 : -1;
  }
  return pb.length - pa.length;
}

const listings = new Map<string, readonly string[] | undefined>();

/**
 * The names in `dir` (undefined if it cannot be read), read once per process: the NVRTC and
 * cuBLAS searches look at the same library directories, and a warm start does both.
 */
export function listDir(dir: string): readonly string[] | undefined {
  if (listings.has(dir)) return listings.get(dir);
  let names: string[] | undefined;
  try {
    names = readdirSync(dir);
  } catch {
    names = undefined;
  }
  listings.set(dir, names);
  return names;
}

/** /usr/local/cuda-13.0, /usr/local/cuda-12.4, ...: newest first. */
export function versionedToolkits(): string[] {
  return (listDir('/usr/local') ?? [])
    .filter((n) => /^cuda-\d+(\.\d+)*$/.test(n))
    .sort(compareVersionsDesc)
    .map((n) => join('/usr/local', n));
}

// --- NVRTC ---

/** Flags besides --gpu-architecture that every NVRTC compile gets (part of the identity).
 *  -default-device makes unannotated functions device functions (nvcc has no such flag, so
 *  generated helpers should still say __device__). NVRTC optimises fully by default. */
export const NVRTC_BASE_FLAGS = ['-default-device', '--std=c++17'] as const;

/** libnvrtc.so.N is the name to prefer in a directory: the unversioned .so is a dev symlink. */
function pickInDir(dir: string): string | undefined {
  const names = listDir(dir);
  if (names === undefined) return undefined;
  // libnvrtc.so.13 (the soname) before libnvrtc.so (a dev symlink) before libnvrtc.so.13.0.88;
  // newer majors first. Broken symlinks are skipped.
  const rank = (n: string) => (/^libnvrtc\.so\.\d+$/.test(n) ? 0 : n === 'libnvrtc.so' ? 1 : 2);
  const libs = names
    .filter((n) => /^libnvrtc\.so(\.\d+)*$/.test(n) && existsSync(join(dir, n)))
    .sort((a, b) => rank(a) - rank(b) || compareVersionsDesc(a, b));
  return libs.length > 0 ? join(dir, libs[0]!) : undefined;
}

let ldconfigCache: string | undefined | null = null;

/** The dynamic linker's cache, as a last resort (`ldconfig -p` is not a compiler; run once). */
function fromLdconfig(): string | undefined {
  if (ldconfigCache !== null) return ldconfigCache;
  ldconfigCache = undefined;
  try {
    const out = execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
    for (const soname of ['libnvrtc.so.13', 'libnvrtc.so.12']) {
      const m = out.match(new RegExp(`^\\s*${soname.replace(/\./g, '\\.')} \\(.*\\) => (.+)$`, 'm'));
      if (m !== null) {
        ldconfigCache = m[1]!.trim();
        break;
      }
    }
  } catch {
    // no ldconfig: nothing more to try
  }
  return ldconfigCache;
}

export interface NvrtcLocation {
  /** The path found (may be a symlink). */
  path: string;
  /** Its realpath: carries the full version, e.g. libnvrtc.so.13.0.88. */
  real: string;
  size: number;
}

/**
 * Finds libnvrtc without loading it: KILN_NVRTC, /usr/local/cuda/lib64, /usr/local/cuda-X/lib64
 * (newest first), CUDA_HOME / CUDA_PATH, then ldconfig's names libnvrtc.so.13 / .12.
 * Throws only when KILN_NVRTC names a file that is not there (a misconfiguration to report).
 */
export function findNvrtc(): NvrtcLocation | undefined {
  const explicit = setting('KILN_NVRTC');
  let path: string | undefined;
  if (explicit !== undefined) {
    if (!existsSync(explicit)) throw new Error(`KILN_NVRTC=${explicit}: no such file`);
    path = explicit;
  } else {
    // Each entry lists its directories only when the ones before had no NVRTC, so the common
    // case (/usr/local/cuda) reads one directory.
    const searches: (() => string[])[] = [
      () => ['/usr/local/cuda/lib64'],
      () => versionedToolkits().map((t) => join(t, 'lib64')),
      () => [process.env.CUDA_HOME, process.env.CUDA_PATH].flatMap((root) => (root !== undefined && root !== '' ? [join(root, 'lib64'), join(root, 'lib')] : [])),
    ];
    for (const dirs of searches) {
      for (const dir of dirs()) {
        path = pickInDir(dir);
        if (path !== undefined) break;
      }
      if (path !== undefined) break;
    }
    path ??= fromLdconfig();
  }
  if (path === undefined) return undefined;
  try {
    const real = realpathSync(path);
    return { path, real, size: statSync(real).size };
  } catch {
    return undefined;
  }
}

export function nvrtcIdentity(loc: NvrtcLocation): string {
  return `${loc.real}:${loc.size}`;
}

// --- nvcc ---

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
  const explicit = setting('KILN_NVCC');
  if (explicit !== undefined) return isExecutable(explicit) ? explicit : undefined;
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

// --- which compiler ---

export type CudaCompilerKind = 'nvrtc' | 'nvcc';

/** The architecture compiled for when a request names none (H100). */
export const DEFAULT_CUDA_ARCH = 'sm_90';

export type SelectedCudaCompiler = { kind: 'nvrtc'; loc: NvrtcLocation } | { kind: 'nvcc'; path: string };

export function forcedCompiler(): CudaCompilerKind | undefined {
  const v = setting('KILN_CUDA_COMPILER');
  return v === 'auto' ? undefined : v;
}

/**
 * Which compiler a compile would use, decided from files only (no library loaded, nothing
 * run): NVRTC when libnvrtc is found, else nvcc; KILN_CUDA_COMPILER forces one (or `force`).
 * Throws a clear error when the chosen one (or any) is missing.
 */
export function selectCudaCompiler(force: CudaCompilerKind | undefined = forcedCompiler()): SelectedCudaCompiler {
  if (force !== 'nvcc') {
    const loc = findNvrtc();
    if (loc !== undefined) return { kind: 'nvrtc', loc };
    if (force === 'nvrtc') {
      throw new Error('KILN_CUDA_COMPILER=nvrtc but libnvrtc was not found (looked at KILN_NVRTC, /usr/local/cuda/lib64, /usr/local/cuda-*/lib64, CUDA_HOME, CUDA_PATH, ldconfig)');
    }
  }
  const path = findNvcc();
  if (path !== undefined) return { kind: 'nvcc', path };
  throw new Error(
    force === 'nvcc'
      ? 'KILN_CUDA_COMPILER=nvcc but nvcc was not found (looked at KILN_NVCC, CUDA_HOME/bin, CUDA_PATH/bin, /usr/local/cuda/bin, PATH)'
      : 'no CUDA compiler: neither libnvrtc (KILN_NVRTC, /usr/local/cuda*/lib64, CUDA_HOME, ldconfig) nor nvcc (KILN_NVCC, CUDA_HOME/bin, /usr/local/cuda/bin, PATH) was found',
  );
}

export function checkArch(arch: string): void {
  // A cubin needs a real architecture (sm_90, sm_90a), not a virtual one (compute_90).
  if (!REAL_CUDA_ARCH.test(arch)) throw new Error(`CUDA arch '${arch}' is not a real architecture like sm_90`);
}

const identityCache = new Map<string, string>();

/**
 * The compiler's identity for kernel cache keys, WITHOUT running or loading a compiler:
 * which compiler, the realpath of its library or binary (libnvrtc.so.13.0.88 carries the
 * version), its size, the default flags and the target arch. Cached per environment.
 */
export function cudaCompilerIdentity(arch: string = DEFAULT_CUDA_ARCH): string {
  checkArch(arch);
  const env = [setting('KILN_CUDA_COMPILER'), setting('KILN_NVRTC'), setting('KILN_NVCC'), process.env.CUDA_HOME, process.env.CUDA_PATH].map((v) => v ?? '').join('\0');
  const cacheKey = `${env}\0${arch}`;
  const hit = identityCache.get(cacheKey);
  if (hit !== undefined) return hit;
  const c = selectCudaCompiler();
  const id =
    c.kind === 'nvrtc'
      ? `nvrtc:${nvrtcIdentity(c.loc)};flags=${NVRTC_BASE_FLAGS.join(' ')};arch=${arch}`
      : `nvcc:${nvccIdentity(c.path)};flags=${NVCC_BASE_FLAGS.join(' ')};arch=${arch}`;
  identityCache.set(cacheKey, id);
  return id;
}
