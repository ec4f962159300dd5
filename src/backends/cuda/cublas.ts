// cuBLAS through koffi (main process): float32 GEMM for kiln's matmul extern calls. kiln's
// tensors are row-major and cuBLAS is column-major; a row-major X is the column-major X^T,
// so row-major C = op(A)·op(B) is computed as column-major C^T = op(B)^T·op(A)^T: swap the
// operands (and M with N), keep each operand's own transpose flag.
// TF32 stays off unless asked for: it would silently drop results to ~1e-3 relative error.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import koffi, { type LibraryHandle } from 'koffi';
import { setting } from '../../config/read.js';
import { DEFAULT_STREAM, initCuda, type CUstream, type DevicePtr } from './driver.js';
import { traceSpan } from '../../observe/trace.js';
import { versionedToolkits } from './toolchain.js';

const STATUS_NAMES: Record<number, string> = {
  0: 'CUBLAS_STATUS_SUCCESS',
  1: 'CUBLAS_STATUS_NOT_INITIALIZED',
  3: 'CUBLAS_STATUS_ALLOC_FAILED',
  7: 'CUBLAS_STATUS_INVALID_VALUE',
  8: 'CUBLAS_STATUS_ARCH_MISMATCH',
  11: 'CUBLAS_STATUS_MAPPING_ERROR',
  13: 'CUBLAS_STATUS_EXECUTION_FAILED',
  14: 'CUBLAS_STATUS_INTERNAL_ERROR',
  15: 'CUBLAS_STATUS_NOT_SUPPORTED',
  16: 'CUBLAS_STATUS_LICENSE_ERROR',
};

const CUBLAS_OP_N = 0;
const CUBLAS_OP_T = 1;
const CUBLAS_DEFAULT_MATH = 0;
const CUBLAS_TF32_TENSOR_OP_MATH = 3;

/** A failed cuBLAS call: "cublasSgemm_v2 failed: CUBLAS_STATUS_INVALID_VALUE". */
export class CublasError extends Error {
  readonly statusName: string;
  constructor(
    readonly call: string,
    readonly status: number,
    context?: string,
  ) {
    const name = STATUS_NAMES[status] ?? `cublasStatus ${status}`;
    super(`${call} failed: ${name}${context !== undefined ? ` ${context}` : ''}`);
    this.name = 'CublasError';
    this.statusName = name;
  }
}

type Fn = (...a: unknown[]) => number;
interface CublasApi {
  path: string;
  create: Fn;
  destroy: Fn;
  setStream: Fn;
  setMathMode: Fn;
  getVersion: Fn;
  sgemm: Fn;
  sgemmStridedBatched: Fn;
}

let api: CublasApi | undefined;
let loadFailure: string | undefined;

function candidateDirs(): string[] {
  const dirs = ['/usr/local/cuda/lib64'];
  for (const t of versionedToolkits()) dirs.push(join(t, 'lib64'));
  for (const root of [process.env.CUDA_HOME, process.env.CUDA_PATH]) if (root !== undefined && root !== '') dirs.push(join(root, 'lib64'));
  return dirs;
}

/** KILN_CUBLAS, the toolkit directories, then the bare sonames (dynamic linker search). */
function candidates(): string[] {
  const explicit = setting('KILN_CUBLAS');
  if (explicit !== undefined) return [explicit];
  const out: string[] = [];
  for (const dir of candidateDirs()) for (const so of ['libcublas.so.13', 'libcublas.so.12']) if (existsSync(join(dir, so))) out.push(join(dir, so));
  out.push('libcublas.so.13', 'libcublas.so.12');
  return out;
}

/** libcublasLt of the same version in the same directory as a libcublas path, if it is there (none for a bare soname). */
function ltBeside(cublas: string): string | undefined {
  if (!cublas.includes('/')) return undefined;
  const lt = join(dirname(cublas), cublas.endsWith('.12') ? 'libcublasLt.so.12' : 'libcublasLt.so.13');
  return existsSync(lt) ? lt : undefined;
}

function loadLibrary(): CublasApi {
  if (api !== undefined) return api;
  if (loadFailure !== undefined) throw new Error(loadFailure);
  const errors: string[] = [];
  let lib: LibraryHandle | undefined;
  let path = '';
  for (const c of candidates()) {
    try {
      // libcublas needs libcublasLt of the same version; preloading it from the same directory
      // satisfies the dependency by soname even when that directory is not on the search path.
      const lt = ltBeside(c);
      if (lt !== undefined) koffi.load(lt);
      lib = koffi.load(c);
      path = c;
      break;
    } catch (e) {
      errors.push(`${c}: ${(e as Error).message}`);
    }
  }
  if (lib === undefined) {
    loadFailure = `libcublas could not be loaded (${errors.join('; ')})`;
    throw new Error(loadFailure);
  }
  const P = 'void *';
  const U64 = 'uint64_t';
  api = {
    path,
    create: lib.func('cublasCreate_v2', 'int', [P]),
    destroy: lib.func('cublasDestroy_v2', 'int', [P]),
    setStream: lib.func('cublasSetStream_v2', 'int', [P, P]),
    setMathMode: lib.func('cublasSetMathMode', 'int', [P, 'int']),
    getVersion: lib.func('cublasGetVersion_v2', 'int', [P, P]),
    // Device matrices as uint64_t so DevicePtr numbers pass unchanged (same ABI as a pointer).
    sgemm: lib.func('cublasSgemm_v2', 'int', [P, 'int', 'int', 'int', 'int', 'int', P, U64, 'int', U64, 'int', P, U64, 'int']),
    sgemmStridedBatched: lib.func('cublasSgemmStridedBatched', 'int', [
      P, 'int', 'int', 'int', 'int', 'int', P, U64, 'int', 'int64_t', U64, 'int', 'int64_t', P, U64, 'int', 'int64_t', 'int',
    ]),
  } as unknown as CublasApi;
  return api;
}

function check(call: string, r: number, context?: string): void {
  if (r !== 0) throw new CublasError(call, r, context);
}

export interface CublasOptions {
  /** Allow TF32 tensor cores for float32 GEMM (faster, ~1e-3 relative error). Default false. */
  allowTF32?: boolean;
  stream?: CUstream;
}

/** Row-major C[M,N] = alpha · op(A)·op(B) + beta · C, op(A) [M,K], op(B) [K,N]. */
export interface SgemmParams {
  M: number;
  N: number;
  K: number;
  A: DevicePtr;
  B: DevicePtr;
  C: DevicePtr;
  /** A is stored [K,M] (row-major) and used transposed. */
  transA?: boolean;
  /** B is stored [N,K] (row-major) and used transposed. */
  transB?: boolean;
  /** Row strides in elements; default the stored width: transA ? M : K, transB ? K : N, N. */
  lda?: number;
  ldb?: number;
  ldc?: number;
  alpha?: number;
  beta?: number;
}

/** Strides between consecutive matrices, in elements; default the dense sizes M·K, K·N, M·N. */
export interface SgemmStridedBatchedParams extends SgemmParams {
  batch: number;
  strideA?: number;
  strideB?: number;
  strideC?: number;
}

function dim(name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min || v > 0x7fffffff) throw new RangeError(`sgemm: ${name} = ${v} (must be an integer >= ${min})`);
  return v;
}

export class Cublas {
  readonly handle: bigint;
  private readonly alpha = new Float32Array(1);
  private readonly beta = new Float32Array(1);
  private destroyed = false;

  /** `handle`: one cublasCreate made already (startCublasEarly's), else one is created here. */
  constructor(options: CublasOptions = {}, handle?: bigint) {
    initCuda(); // cuBLAS uses the current context: the primary context made current there
    const endLoad = traceSpan('load', 'cuBLAS library load');
    const a = loadLibrary();
    endLoad();
    if (handle === undefined) {
      const h = new BigUint64Array(1);
      const endCreate = traceSpan('load', 'cublasCreate');
      check('cublasCreate_v2', a.create(h));
      endCreate();
      handle = h[0]!;
    }
    this.handle = handle;
    check('cublasSetMathMode', a.setMathMode(this.handle, options.allowTF32 === true ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    this.setStream(options.stream ?? DEFAULT_STREAM);
  }

  /** The cuBLAS version, e.g. 130100 for 13.1.0. */
  version(): number {
    const v = new Int32Array(1);
    check('cublasGetVersion_v2', api!.getVersion(this.handle, v));
    return v[0]!;
  }

  setStream(stream: CUstream): void {
    check('cublasSetStream_v2', api!.setStream(this.handle, stream));
  }

  sgemm(p: SgemmParams): void {
    const g = this.prepare(p);
    check('cublasSgemm_v2', api!.sgemm(this.handle, g.opB, g.opA, g.N, g.M, g.K, this.alpha, p.B, g.ldb, p.A, g.lda, this.beta, p.C, g.ldc), g.context);
  }

  sgemmStridedBatched(p: SgemmStridedBatchedParams): void {
    const g = this.prepare(p);
    const batch = dim('batch', p.batch, 0);
    const sA = p.strideA ?? g.M * g.K;
    const sB = p.strideB ?? g.K * g.N;
    const sC = p.strideC ?? g.M * g.N;
    check(
      'cublasSgemmStridedBatched',
      api!.sgemmStridedBatched(this.handle, g.opB, g.opA, g.N, g.M, g.K, this.alpha, p.B, g.ldb, sB, p.A, g.lda, sA, this.beta, p.C, g.ldc, sC, batch),
      `${g.context} batch ${batch}`,
    );
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    check('cublasDestroy_v2', api!.destroy(this.handle));
  }

  private prepare(p: SgemmParams): ColumnMajorGemm {
    if (this.destroyed) throw new Error('cuBLAS handle already destroyed');
    this.alpha[0] = p.alpha ?? 1;
    this.beta[0] = p.beta ?? 0;
    return columnMajorGemm(p);
  }
}

/** A row-major GEMM restated as the column-major one cuBLAS computes (C^T = op(B)^T·op(A)^T). */
export interface ColumnMajorGemm {
  M: number;
  N: number;
  K: number;
  lda: number;
  ldb: number;
  ldc: number;
  /** cublasOperation_t for the row-major A and B; cuBLAS gets (opB, opA) with (N, M, K). */
  opA: number;
  opB: number;
  /** For error messages. */
  context: string;
}

/** Pure: validates sizes and picks leading dimensions and operations (tested without a GPU). */
export function columnMajorGemm(p: SgemmParams): ColumnMajorGemm {
  const M = dim('M', p.M, 0);
  const N = dim('N', p.N, 0);
  const K = dim('K', p.K, 0);
  const transA = p.transA === true;
  const transB = p.transB === true;
  // A row-major matrix's row stride is at least its stored width.
  const lda = dim('lda', p.lda ?? Math.max(1, transA ? M : K), Math.max(1, transA ? M : K));
  const ldb = dim('ldb', p.ldb ?? Math.max(1, transB ? K : N), Math.max(1, transB ? K : N));
  const ldc = dim('ldc', p.ldc ?? Math.max(1, N), Math.max(1, N));
  return {
    M,
    N,
    K,
    lda,
    ldb,
    ldc,
    // The stored row-major B is, read column-major, B_s^T: op(B)^T needs a transpose exactly when transB.
    opA: transA ? CUBLAS_OP_T : CUBLAS_OP_N,
    opB: transB ? CUBLAS_OP_T : CUBLAS_OP_N,
    context: `(row-major M=${M} N=${N} K=${K}${transA ? ' A^T' : ''}${transB ? ' B^T' : ''} lda=${lda} ldb=${ldb} ldc=${ldc})`,
  };
}

/** The library file in use (after a successful load). */
export function cublasLibraryPath(): string | undefined {
  return api?.path;
}

// An early start: a warm start's first run used to begin by loading libcublas and libcublasLt
// (~44 ms on the GPU machine) and creating a handle on the main thread, after the modules and
// the weights. Both are started instead on the thread pool (koffi async calls) as soon as a
// plan with products is known, and done by the time the plan is instantiated.
const RTLD_NOW = 2;

/** Per TF32 mode: settles once the early start is over, with the handle it created, if any. */
const early = new Map<boolean, Promise<bigint | undefined>>();

/** dlopen on a pool thread: the file's loading and relocation off the main thread; koffi.load later finds it loaded. */
function dlopenOnPool(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      const libc = koffi.load('libc.so.6');
      const dlopen = libc.func('void *dlopen(const char *file, int mode)') as unknown as { async(f: string, m: number, cb: (err: unknown, h: unknown) => void): void };
      dlopen.async(path, RTLD_NOW, (err, h) => resolve(!err && h !== null));
    } catch {
      resolve(false);
    }
  });
}

async function preloadLibrary(): Promise<void> {
  if (api !== undefined || setting('KILN_CUBLAS') !== undefined) return;
  for (const c of candidates()) {
    if (!c.includes('/')) return; // bare sonames: the constructor's search
    const lt = ltBeside(c);
    if (lt !== undefined) await dlopenOnPool(lt);
    if (await dlopenOnPool(c)) return;
  }
}

/**
 * Starts loading cuBLAS and creating the handle for `allowTF32` on the thread pool, once per
 * mode; `cublasFor` picks them up. The handle is created on the pool only for device 0: a
 * thread without a current context makes cuBLAS take device 0's primary context, which is
 * kiln's only when KILN_CUDA_DEVICE is 0 (for another device it is created at instantiation,
 * on this thread). Failures here are ignored: the constructor repeats the step and reports.
 */
export function startCublasEarly(allowTF32: boolean): void {
  if (early.has(allowTF32) || (allowTF32 ? tf32 : strict) !== undefined) return;
  const start = async (): Promise<bigint | undefined> => {
    const endLoad = traceSpan('load', 'cuBLAS early start');
    try {
      await preloadLibrary();
      if (setting('KILN_CUDA_DEVICE') !== 0) return undefined;
      const a = loadLibrary();
      const h = new BigUint64Array(1);
      const status = await new Promise<number>((resolve) => (a.create as unknown as { async(h: BigUint64Array, cb: (err: unknown, r: number) => void): void }).async(h, (err, r) => resolve(err ? -1 : r)));
      return status === 0 ? h[0]! : undefined;
    } catch {
      // The constructor loads and creates again, and says what failed.
      return undefined;
    } finally {
      endLoad();
    }
  };
  early.set(allowTF32, start());
}

let strict: Cublas | undefined;
let tf32: Cublas | undefined;

/** The process's handle for `allowTF32`, made once (from startCublasEarly's work when it ran). */
export async function cublasFor(allowTF32: boolean): Promise<Cublas> {
  const existing = allowTF32 ? tf32 : strict;
  if (existing) return existing;
  const handle = await early.get(allowTF32);
  // Another caller may have made it while this one waited.
  const made = (allowTF32 ? tf32 : strict) ?? new Cublas({ allowTF32 }, handle);
  if (allowTF32) tf32 = made;
  else strict = made;
  return made;
}
