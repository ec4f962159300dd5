// NVRTC through koffi: CUDA C source → cubin inside a compile worker. The library is found
// by toolchain.ts without loading it (so the main process can compute the compiler
// identity), and loaded here at most once per process, on the first compile: NVRTC's start
// costs ~200 ms, later kernels 10-40 ms, so a long-lived worker pays it once.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import koffi, { type LibraryHandle } from 'koffi';
import { NVRTC_BASE_FLAGS, type NvrtcLocation } from './toolchain.js';

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
