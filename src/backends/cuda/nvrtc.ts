// NVRTC through koffi: CUDA C source → cubin inside a compile worker. The library is found
// without loading it (so the main process can compute the compiler identity), and loaded at
// most once per process, on the first compile: NVRTC's start costs ~200 ms, later kernels
// 10-40 ms, so a long-lived worker pays it once.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import koffi, { type LibraryHandle } from 'koffi';
import { compareVersionsDesc, versionedToolkits } from './toolkit_dirs.js';

/** Flags besides --gpu-architecture that every NVRTC compile gets (part of the identity).
 *  -default-device makes unannotated functions device functions (nvcc has no such flag, so
 *  generated helpers should still say __device__). NVRTC optimises fully by default. */
export const NVRTC_BASE_FLAGS = ['-default-device', '--std=c++17'] as const;

/** libnvrtc.so.N is the name to prefer in a directory: the unversioned .so is a dev symlink. */
function pickInDir(dir: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
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
  const explicit = process.env.KILN_NVRTC;
  let path: string | undefined;
  if (explicit !== undefined && explicit !== '') {
    if (!existsSync(explicit)) throw new Error(`KILN_NVRTC=${explicit}: no such file`);
    path = explicit;
  } else {
    const dirs = ['/usr/local/cuda/lib64', ...versionedToolkits().map((t) => join(t, 'lib64'))];
    for (const root of [process.env.CUDA_HOME, process.env.CUDA_PATH]) {
      if (root !== undefined && root !== '') dirs.push(join(root, 'lib64'), join(root, 'lib'));
    }
    for (const dir of dirs) {
      path = pickInDir(dir);
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

interface NvrtcApi {
  realPath: string;
  create: (prog: BigUint64Array, src: string, name: string, nh: number, h: null, inc: null) => number;
  compile: (prog: bigint, n: number, opts: string[]) => number;
  logSize: (prog: bigint, size: BigUint64Array) => number;
  log: (prog: bigint, buf: Uint8Array) => number;
  cubinSize: (prog: bigint, size: BigUint64Array) => number;
  cubin: (prog: bigint, buf: Uint8Array) => number;
  destroy: (prog: BigUint64Array) => number;
  errorString: (r: number) => string;
}

let api: NvrtcApi | undefined;

/** Preloads libnvrtc-builtins from the same directory: NVRTC dlopens it by soname, which the
 *  dynamic linker would not find when the toolkit's lib64 is not on its search path. */
function preloadBuiltins(libDir: string): void {
  let names: string[];
  try {
    names = readdirSync(libDir).filter((n) => /^libnvrtc-builtins\.so\.\d+(\.\d+)*$/.test(n));
  } catch {
    return;
  }
  names.sort((a, b) => b.length - a.length);
  for (const n of names) {
    try {
      koffi.load(join(libDir, n));
      return;
    } catch {
      // try the next name; NVRTC itself will report a missing builtins library
    }
  }
}

/** Loads NVRTC once per process (a compile worker's). */
function load(loc: NvrtcLocation): NvrtcApi {
  if (api !== undefined) {
    if (api.realPath !== loc.real) throw new Error(`NVRTC ${api.realPath} is already loaded in this process; cannot switch to ${loc.real}`);
    return api;
  }
  preloadBuiltins(dirname(loc.real));
  let lib: LibraryHandle;
  try {
    lib = koffi.load(loc.path);
  } catch (e) {
    throw new Error(`cannot load NVRTC ${loc.path}: ${(e as Error).message} (set KILN_CUDA_COMPILER=nvcc to use nvcc instead)`);
  }
  api = {
    realPath: loc.real,
    create: lib.func('int nvrtcCreateProgram(void *prog, const char *src, const char *name, int numHeaders, void *headers, void *includeNames)'),
    compile: lib.func('int nvrtcCompileProgram(void *prog, int numOptions, const char **options)'),
    logSize: lib.func('int nvrtcGetProgramLogSize(void *prog, void *logSizeRet)'),
    log: lib.func('int nvrtcGetProgramLog(void *prog, void *log)'),
    cubinSize: lib.func('int nvrtcGetCUBINSize(void *prog, void *cubinSizeRet)'),
    cubin: lib.func('int nvrtcGetCUBIN(void *prog, void *cubin)'),
    destroy: lib.func('int nvrtcDestroyProgram(void *prog)'),
    errorString: lib.func('const char *nvrtcGetErrorString(int result)'),
  };
  return api;
}

/** Whether this process has loaded NVRTC (the main process never should). */
export function nvrtcLoaded(): boolean {
  return api !== undefined;
}

export interface NvrtcOutcome {
  ok: boolean;
  binary?: Uint8Array;
  log: string;
  error?: string;
}

function programLog(a: NvrtcApi, prog: bigint): string {
  const size = new BigUint64Array(1);
  if (a.logSize(prog, size) !== 0 || size[0]! <= 1n) return '';
  const buf = new Uint8Array(Number(size[0]));
  if (a.log(prog, buf) !== 0) return '';
  // The size counts the trailing NUL.
  return Buffer.from(buf.buffer, buf.byteOffset, buf.length - 1).toString('utf8').trim();
}

/**
 * Compiles one translation unit to a cubin. Never throws for a bad kernel (the outcome says
 * why); throws only when the library cannot be loaded.
 */
export function nvrtcCompile(loc: NvrtcLocation, source: string, programName: string, arch: string, extraFlags: readonly string[], includeDirs: readonly string[]): NvrtcOutcome {
  const a = load(loc);
  const handle = new BigUint64Array(1);
  const r0 = a.create(handle, source, programName, 0, null, null);
  if (r0 !== 0) return { ok: false, log: '', error: `nvrtcCreateProgram failed: ${a.errorString(r0)}` };
  const prog = handle[0]!;
  try {
    const opts = [`--gpu-architecture=${arch}`, ...NVRTC_BASE_FLAGS, ...includeDirs.map((d) => `--include-path=${d}`), ...extraFlags];
    const r = a.compile(prog, opts.length, opts);
    const log = programLog(a, prog);
    if (r !== 0) return { ok: false, log, error: `nvrtcCompileProgram failed: ${a.errorString(r)} (options: ${opts.join(' ')})` };
    const size = new BigUint64Array(1);
    const rs = a.cubinSize(prog, size);
    if (rs !== 0) return { ok: false, log, error: `nvrtcGetCUBINSize failed: ${a.errorString(rs)} (is ${arch} a real sm_ architecture?)` };
    const binary = new Uint8Array(Number(size[0]));
    const rc = a.cubin(prog, binary);
    if (rc !== 0) return { ok: false, log, error: `nvrtcGetCUBIN failed: ${a.errorString(rc)}` };
    return { ok: true, binary, log };
  } finally {
    a.destroy(handle);
  }
}

/** The toolkit's include directory beside the library, for #include <cuda_fp16.h> and kin:
 *  lib64/ → include/, and through the realpath targets/x86_64-linux/lib/ → .../include/. */
export function nvrtcIncludeDirs(loc: NvrtcLocation): string[] {
  for (const lib of [loc.path, loc.real]) {
    const inc = join(dirname(dirname(lib)), 'include');
    if (existsSync(join(inc, 'cuda_fp16.h'))) return [inc];
  }
  return [];
}
