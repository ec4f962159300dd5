// The CUDA driver API through koffi, for the MAIN process only (compile workers never touch
// CUDA: a context per worker would cost ~100 ms and hundreds of MB of device memory each).
// libcuda.so.1 is loaded lazily on first use; every call runs on the main thread, where the
// device's primary context is made current once.
//
// Representations:
// - DevicePtr (CUdeviceptr) is a JS number. Device virtual addresses fit in 49 bits, far
//   below 2^53, so a number is exact; it avoids BigInt allocation on the launch path and
//   passes straight to koffi's uint64_t. allocation checks the bound.
// - Host-side handles (CUmodule, CUfunction, CUstream, CUevent, CUcontext) are koffi pointers:
//   bigint. 0n is the NULL stream (the legacy default stream).
import { isMainThread } from 'node:worker_threads';
import { setting } from '../../config/read.js';
import { traceSpan } from '../../observe/trace.js';
import koffi, { type LibraryHandle } from 'koffi';

export type DevicePtr = number;
export type CUmodule = bigint;
export type CUfunction = bigint;
export type CUstream = bigint;
export type CUevent = bigint;
export type CUcontext = bigint;
/** Host memory a copy reads or writes: any typed array or Buffer (koffi passes its data pointer). */
export type HostBuffer = NodeJS.TypedArray;

/** The NULL stream. */
export const DEFAULT_STREAM: CUstream = 0n;

/** A failed driver call: names the call and the CUresult, e.g. "cuModuleLoadData failed: CUDA_ERROR_INVALID_IMAGE". */
export class CudaError extends Error {
  readonly errorName: string;
  constructor(
    readonly call: string,
    readonly code: number,
    context?: string,
  ) {
    const { name, text } = describeResult(code);
    super(`${call} failed: ${name}${text !== '' ? ` (${text})` : ''}${context !== undefined ? ` ${context}` : ''}`);
    this.name = 'CudaError';
    this.errorName = name;
  }
}

/** CUdevice_attribute values used by kiln (cuda.h). */
export const CU_DEVICE_ATTRIBUTE = {
  MAX_THREADS_PER_BLOCK: 1,
  MAX_SHARED_MEMORY_PER_BLOCK: 8,
  WARP_SIZE: 10,
  MULTIPROCESSOR_COUNT: 16,
  L2_CACHE_SIZE: 38,
  COMPUTE_CAPABILITY_MAJOR: 75,
  COMPUTE_CAPABILITY_MINOR: 76,
  MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: 97,
} as const;

/** CUfunction_attribute values (cuda.h). */
export const CU_FUNC_ATTRIBUTE = {
  MAX_THREADS_PER_BLOCK: 0,
  SHARED_SIZE_BYTES: 1,
  NUM_REGS: 4,
  MAX_DYNAMIC_SHARED_SIZE_BYTES: 8,
} as const;

type Fn<A extends unknown[]> = (...args: A) => number;

/** The raw koffi functions. Exported for launch.ts's hot path only; use the wrappers below. */
export interface DriverApi {
  cuInit: Fn<[number]>;
  cuDriverGetVersion: Fn<[Int32Array]>;
  cuDeviceGetCount: Fn<[Int32Array]>;
  cuDeviceGet: Fn<[Int32Array, number]>;
  cuDeviceGetName: Fn<[Uint8Array, number, number]>;
  cuDeviceGetAttribute: Fn<[Int32Array, number, number]>;
  cuDeviceTotalMem: Fn<[BigUint64Array, number]>;
  cuDevicePrimaryCtxRetain: Fn<[BigUint64Array, number]>;
  cuCtxSetCurrent: Fn<[bigint]>;
  cuCtxSynchronize: Fn<[]>;
  cuMemAlloc: Fn<[Uint32Array, number]>;
  cuMemFree: Fn<[number]>;
  cuMemGetInfo: Fn<[BigUint64Array, BigUint64Array]>;
  cuMemHostAlloc: Fn<[(bigint | null)[], number, number]>;
  cuMemFreeHost: Fn<[bigint]>;
  cuMemcpyHtoD: Fn<[number, HostBuffer, number]>;
  cuMemcpyDtoH: Fn<[HostBuffer, number, number]>;
  cuMemcpyDtoD: Fn<[number, number, number]>;
  cuMemcpyHtoDAsync: Fn<[number, HostBuffer, number, bigint]>;
  cuMemcpyDtoHAsync: Fn<[HostBuffer, number, number, bigint]>;
  cuMemcpyDtoDAsync: Fn<[number, number, number, bigint]>;
  cuMemsetD32: Fn<[number, number, number]>;
  cuMemsetD32Async: Fn<[number, number, number, bigint]>;
  cuModuleLoadData: Fn<[BigUint64Array, Uint8Array]>;
  cuModuleUnload: Fn<[bigint]>;
  cuModuleGetFunction: Fn<[BigUint64Array, bigint, string]>;
  cuFuncGetAttribute: Fn<[Int32Array, number, bigint]>;
  cuFuncSetAttribute: Fn<[bigint, number, number]>;
  cuLaunchKernel: Fn<[bigint, number, number, number, number, number, number, number, bigint, bigint, null]>;
  cuStreamCreate: Fn<[BigUint64Array, number]>;
  cuStreamDestroy: Fn<[bigint]>;
  cuStreamSynchronize: Fn<[bigint]>;
  cuEventCreate: Fn<[BigUint64Array, number]>;
  cuEventDestroy: Fn<[bigint]>;
  cuEventRecord: Fn<[bigint, bigint]>;
  cuEventSynchronize: Fn<[bigint]>;
  cuEventElapsedTime: Fn<[Float32Array, bigint, bigint]>;
  cuGetErrorName: Fn<[number, (string | null)[]]>;
  cuGetErrorString: Fn<[number, (string | null)[]]>;
}

let lib: LibraryHandle | undefined;
let api: DriverApi | undefined;
let loadFailure: string | undefined;

/** The names of the CUresults seen most often, for when libcuda itself is not loaded. */
function describeResult(code: number): { name: string; text: string } {
  if (api !== undefined) {
    const n: (string | null)[] = [null];
    const t: (string | null)[] = [null];
    const name = (api.cuGetErrorName(code, n) === 0 && n[0]) || `CUDA_ERROR_${code}`;
    const text = (api.cuGetErrorString(code, t) === 0 && t[0]) || '';
    return { name, text };
  }
  return { name: `CUresult ${code}`, text: '' };
}

function bind(l: LibraryHandle, name: string, ret: string, args: string[], alternatives: string[] = []): (...a: unknown[]) => number {
  for (const n of [name, ...alternatives]) {
    try {
      return l.func(n, ret, args) as (...a: unknown[]) => number;
    } catch {
      // try the older symbol
    }
  }
  throw new Error(`libcuda has no ${[name, ...alternatives].join(' / ')}`);
}

/** dlopens libcuda and binds the functions; no CUDA call yet. Remembers a failure. */
function loadLibrary(): DriverApi | undefined {
  if (api !== undefined || loadFailure !== undefined) return api;
  const names = [setting('KILN_LIBCUDA'), 'libcuda.so.1', 'libcuda.so'].filter((n): n is string => n !== undefined);
  const errors: string[] = [];
  for (const name of names) {
    try {
      lib = koffi.load(name);
      break;
    } catch (e) {
      errors.push(`${name}: ${(e as Error).message}`);
    }
  }
  if (lib === undefined) {
    loadFailure = `libcuda could not be loaded (${errors.join('; ')})`;
    return undefined;
  }
  const l = lib;
  const P = 'void *';
  const U64 = 'uint64_t';
  try {
    api = {
      cuInit: bind(l, 'cuInit', 'int', ['uint']),
      cuDriverGetVersion: bind(l, 'cuDriverGetVersion', 'int', [P]),
      cuDeviceGetCount: bind(l, 'cuDeviceGetCount', 'int', [P]),
      cuDeviceGet: bind(l, 'cuDeviceGet', 'int', [P, 'int']),
      cuDeviceGetName: bind(l, 'cuDeviceGetName', 'int', [P, 'int', 'int']),
      cuDeviceGetAttribute: bind(l, 'cuDeviceGetAttribute', 'int', [P, 'int', 'int']),
      cuDeviceTotalMem: bind(l, 'cuDeviceTotalMem_v2', 'int', [P, 'int']),
      cuDevicePrimaryCtxRetain: bind(l, 'cuDevicePrimaryCtxRetain', 'int', [P, 'int']),
      cuCtxSetCurrent: bind(l, 'cuCtxSetCurrent', 'int', [P]),
      cuCtxSynchronize: bind(l, 'cuCtxSynchronize', 'int', []),
      cuMemAlloc: bind(l, 'cuMemAlloc_v2', 'int', [P, 'size_t']),
      cuMemFree: bind(l, 'cuMemFree_v2', 'int', [U64]),
      cuMemGetInfo: bind(l, 'cuMemGetInfo_v2', 'int', [P, P]),
      // koffi writes the host pointer into out[0] (a bigint).
      cuMemHostAlloc: l.func('int cuMemHostAlloc(_Out_ void **pp, size_t bytesize, unsigned int Flags)'),
      cuMemFreeHost: bind(l, 'cuMemFreeHost', 'int', [P]),
      cuMemcpyHtoD: bind(l, 'cuMemcpyHtoD_v2', 'int', [U64, P, 'size_t']),
      cuMemcpyDtoH: bind(l, 'cuMemcpyDtoH_v2', 'int', [P, U64, 'size_t']),
      cuMemcpyDtoD: bind(l, 'cuMemcpyDtoD_v2', 'int', [U64, U64, 'size_t']),
      cuMemcpyHtoDAsync: bind(l, 'cuMemcpyHtoDAsync_v2', 'int', [U64, P, 'size_t', P]),
      cuMemcpyDtoHAsync: bind(l, 'cuMemcpyDtoHAsync_v2', 'int', [P, U64, 'size_t', P]),
      cuMemcpyDtoDAsync: bind(l, 'cuMemcpyDtoDAsync_v2', 'int', [U64, U64, 'size_t', P]),
      cuMemsetD32: bind(l, 'cuMemsetD32_v2', 'int', [U64, 'uint', 'size_t']),
      cuMemsetD32Async: bind(l, 'cuMemsetD32Async', 'int', [U64, 'uint', 'size_t', P]),
      cuModuleLoadData: bind(l, 'cuModuleLoadData', 'int', [P, P]),
      cuModuleUnload: bind(l, 'cuModuleUnload', 'int', [P]),
      cuModuleGetFunction: bind(l, 'cuModuleGetFunction', 'int', [P, P, 'const char *']),
      cuFuncGetAttribute: bind(l, 'cuFuncGetAttribute', 'int', [P, 'int', P]),
      cuFuncSetAttribute: bind(l, 'cuFuncSetAttribute', 'int', [P, 'int', 'int']),
      cuLaunchKernel: bind(l, 'cuLaunchKernel', 'int', [P, 'uint', 'uint', 'uint', 'uint', 'uint', 'uint', 'uint', P, P, P]),
      cuStreamCreate: bind(l, 'cuStreamCreate', 'int', [P, 'uint']),
      cuStreamDestroy: bind(l, 'cuStreamDestroy_v2', 'int', [P], ['cuStreamDestroy']),
      cuStreamSynchronize: bind(l, 'cuStreamSynchronize', 'int', [P]),
      cuEventCreate: bind(l, 'cuEventCreate', 'int', [P, 'uint']),
      cuEventDestroy: bind(l, 'cuEventDestroy_v2', 'int', [P], ['cuEventDestroy']),
      cuEventRecord: bind(l, 'cuEventRecord', 'int', [P, P]),
      cuEventSynchronize: bind(l, 'cuEventSynchronize', 'int', [P]),
      // CUDA 12.8 added _v2 (same signature; CUDA 13's header maps the name to it).
      cuEventElapsedTime: bind(l, 'cuEventElapsedTime_v2', 'int', [P, P, P], ['cuEventElapsedTime']),
      // koffi writes the returned C string into out[0] of a one-element array.
      cuGetErrorName: l.func('int cuGetErrorName(int error, _Out_ const char **pStr)'),
      cuGetErrorString: l.func('int cuGetErrorString(int error, _Out_ const char **pStr)'),
    } as unknown as DriverApi;
  } catch (e) {
    loadFailure = `libcuda loaded but ${(e as Error).message}`;
    return undefined;
  }
  return api;
}

export interface CudaDeviceInfo {
  ordinal: number;
  name: string;
  major: number;
  minor: number;
  /** e.g. 'sm_90' */
  arch: string;
  smCount: number;
  totalMemBytes: number;
  maxSharedPerBlock: number;
  maxSharedPerBlockOptin: number;
  driverVersion: number;
}

let ctx: { info: CudaDeviceInfo; context: CUcontext } | undefined;
let initFailure: string | undefined;

function check(call: string, r: number): void {
  if (r !== 0) throw new CudaError(call, r);
}

function attribute(a: DriverApi, attr: number, dev: number): number {
  const v = new Int32Array(1);
  check('cuDeviceGetAttribute', a.cuDeviceGetAttribute(v, attr, dev));
  return v[0]!;
}

/**
 * cuInit, device `ordinal` (KILN_CUDA_DEVICE, default 0), its primary context made current
 * on this (the main) thread. Idempotent; throws CudaError or Error on failure.
 */
export function initCuda(): CudaDeviceInfo {
  if (ctx !== undefined) return ctx.info;
  // The context is made current on this thread only; calls from another would find none.
  if (!isMainThread) throw new Error('CUDA unavailable: the driver is used from the main thread only');
  const end = traceSpan('load', 'cuInit + primary context');
  try {
    return startContext();
  } finally {
    end();
  }
}

function startContext(): CudaDeviceInfo {
  const a = loadLibrary();
  if (a === undefined) throw new Error(`CUDA unavailable: ${loadFailure}`);
  check('cuInit', a.cuInit(0));
  const i32 = new Int32Array(1);
  check('cuDeviceGetCount', a.cuDeviceGetCount(i32));
  const ordinal = setting('KILN_CUDA_DEVICE');
  if (i32[0]! <= ordinal) throw new Error(`CUDA unavailable: ${i32[0]} device(s), wanted device ${ordinal}`);
  check('cuDeviceGet', a.cuDeviceGet(i32, ordinal));
  const dev = i32[0]!;
  const nameBuf = new Uint8Array(256);
  check('cuDeviceGetName', a.cuDeviceGetName(nameBuf, nameBuf.length, dev));
  const name = Buffer.from(nameBuf.subarray(0, Math.max(0, nameBuf.indexOf(0)))).toString('utf8');
  const mem = new BigUint64Array(1);
  check('cuDeviceTotalMem_v2', a.cuDeviceTotalMem(mem, dev));
  check('cuDriverGetVersion', a.cuDriverGetVersion(i32));
  const driverVersion = i32[0]!;
  const handle = new BigUint64Array(1);
  check('cuDevicePrimaryCtxRetain', a.cuDevicePrimaryCtxRetain(handle, dev));
  check('cuCtxSetCurrent', a.cuCtxSetCurrent(handle[0]!));
  const major = attribute(a, CU_DEVICE_ATTRIBUTE.COMPUTE_CAPABILITY_MAJOR, dev);
  const minor = attribute(a, CU_DEVICE_ATTRIBUTE.COMPUTE_CAPABILITY_MINOR, dev);
  const info: CudaDeviceInfo = {
    ordinal,
    name,
    major,
    minor,
    arch: `sm_${major}${minor}`,
    smCount: attribute(a, CU_DEVICE_ATTRIBUTE.MULTIPROCESSOR_COUNT, dev),
    totalMemBytes: Number(mem[0]),
    maxSharedPerBlock: attribute(a, CU_DEVICE_ATTRIBUTE.MAX_SHARED_MEMORY_PER_BLOCK, dev),
    maxSharedPerBlockOptin: attribute(a, CU_DEVICE_ATTRIBUTE.MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, dev),
    driverVersion,
  };
  ctx = { info, context: handle[0]! };
  return info;
}

/**
 * Whether CUDA can be used here. Never throws: false when libcuda is missing, cuInit fails
 * or there is no device; cudaUnavailableReason() then says why (for a test's skip message).
 * A true answer means the primary context is current, as after initCuda().
 */
export function cudaAvailable(): boolean {
  if (ctx !== undefined) return true;
  if (initFailure !== undefined) return false;
  try {
    initCuda();
    return true;
  } catch (e) {
    initFailure = (e as Error).message;
    return false;
  }
}

export function cudaUnavailableReason(): string | undefined {
  return cudaAvailable() ? undefined : initFailure;
}

/** The initialised driver (initialising it on first use); for callers that need raw calls. */
export function driverApi(): DriverApi {
  if (ctx === undefined) initCuda();
  return api!;
}

export function deviceInfo(): CudaDeviceInfo {
  return initCuda();
}

/**
 * The architecture to compile for: 'sm_90' etc. from the device when there is one, else
 * KILN_CUDA_ARCH, else 'sm_90'. Main process only: asking the device initialises CUDA
 * (~100 ms, once). Workers never call this; they get the arch in CompileRequest.options.
 */
export function deviceArch(): string {
  if (cudaAvailable()) return deviceInfo().arch;
  return setting('KILN_CUDA_ARCH') ?? 'sm_90';
}

export function deviceAttribute(attr: number): number {
  const info = initCuda();
  return attribute(api!, attr, info.ordinal);
}

// --- memory -------------------------------------------------------------------------------

const ptrOut = new Uint32Array(2);

/** cuMemAlloc_v2; DevicePtr is a number (see the top of this file). */
export function memAlloc(bytes: number): DevicePtr {
  const a = driverApi();
  check('cuMemAlloc_v2', a.cuMemAlloc(ptrOut, bytes));
  const hi = ptrOut[1]!;
  // Unreachable on any GPU of today (49-bit VAs); a number would lose bits past 2^53.
  if (hi >= 0x200000) throw new Error(`cuMemAlloc_v2 returned an address above 2^53 (high word ${hi.toString(16)})`);
  return hi * 0x100000000 + ptrOut[0]!;
}

export function memFree(ptr: DevicePtr): void {
  check('cuMemFree_v2', driverApi().cuMemFree(ptr));
}

export function memGetInfo(): { freeBytes: number; totalBytes: number } {
  const f = new BigUint64Array(1);
  const t = new BigUint64Array(1);
  check('cuMemGetInfo_v2', driverApi().cuMemGetInfo(f, t));
  return { freeBytes: Number(f[0]), totalBytes: Number(t[0]) };
}

/** Page-locked host memory (cuMemHostAlloc) and a view of it; free with memFreeHost(ptr). */
export interface PinnedHostMemory {
  ptr: bigint;
  /** The memory itself: bytes written here are what a copy from it reads. */
  bytes: Uint8Array;
}

/**
 * cuMemHostAlloc: page-locked memory the GPU's copy engines read directly, so an async copy
 * from it runs at the bus's speed while the host goes on (a copy from pageable memory is
 * staged by the driver and returns only once the data is read).
 */
export function memHostAlloc(bytes: number): PinnedHostMemory {
  const out: (bigint | null)[] = [null];
  check('cuMemHostAlloc', driverApi().cuMemHostAlloc(out, bytes, 0));
  const ptr = out[0]!;
  return { ptr, bytes: new Uint8Array(koffi.view(ptr, bytes)) };
}

export function memFreeHost(ptr: bigint): void {
  check('cuMemFreeHost', driverApi().cuMemFreeHost(ptr));
}

function hostBytes(call: string, host: HostBuffer, bytes: number | undefined): number {
  const n = bytes ?? host.byteLength;
  // The driver would read or write past the typed array: refuse instead of corrupting the heap.
  if (n > host.byteLength || n < 0) throw new RangeError(`${call}: ${n} bytes requested but the host buffer has ${host.byteLength}`);
  return n;
}

export function memcpyHtoD(dst: DevicePtr, src: HostBuffer, bytes?: number): void {
  check('cuMemcpyHtoD_v2', driverApi().cuMemcpyHtoD(dst, src, hostBytes('cuMemcpyHtoD_v2', src, bytes)));
}

export function memcpyDtoH(dst: HostBuffer, src: DevicePtr, bytes?: number): void {
  check('cuMemcpyDtoH_v2', driverApi().cuMemcpyDtoH(dst, src, hostBytes('cuMemcpyDtoH_v2', dst, bytes)));
}

export function memcpyDtoD(dst: DevicePtr, src: DevicePtr, bytes: number): void {
  check('cuMemcpyDtoD_v2', driverApi().cuMemcpyDtoD(dst, src, bytes));
}

/** From pageable memory (any JS buffer) the driver stages the data before returning, so
 *  `src` may be reused as soon as this returns. */
export function memcpyHtoDAsync(dst: DevicePtr, src: HostBuffer, stream: CUstream, bytes?: number): void {
  check('cuMemcpyHtoDAsync_v2', driverApi().cuMemcpyHtoDAsync(dst, src, hostBytes('cuMemcpyHtoDAsync_v2', src, bytes), stream));
}

/** Into pageable memory (any JS buffer) this returns only once the copy is complete. */
export function memcpyDtoHAsync(dst: HostBuffer, src: DevicePtr, stream: CUstream, bytes?: number): void {
  check('cuMemcpyDtoHAsync_v2', driverApi().cuMemcpyDtoHAsync(dst, src, hostBytes('cuMemcpyDtoHAsync_v2', dst, bytes), stream));
}

export function memcpyDtoDAsync(dst: DevicePtr, src: DevicePtr, bytes: number, stream: CUstream): void {
  check('cuMemcpyDtoDAsync_v2', driverApi().cuMemcpyDtoDAsync(dst, src, bytes, stream));
}

/** Fills `count` 32-bit words with `value` (e.g. 0x7fc00000, a NaN, to poison outputs in tests). */
export function memsetD32(dst: DevicePtr, value: number, count: number): void {
  check('cuMemsetD32_v2', driverApi().cuMemsetD32(dst, value >>> 0, count));
}

export function memsetD32Async(dst: DevicePtr, value: number, count: number, stream: CUstream): void {
  check('cuMemsetD32Async', driverApi().cuMemsetD32Async(dst, value >>> 0, count, stream));
}

// --- modules and functions -----------------------------------------------------------------

export function moduleLoadData(image: Uint8Array): CUmodule {
  const h = new BigUint64Array(1);
  check('cuModuleLoadData', driverApi().cuModuleLoadData(h, image));
  return h[0]!;
}

export function moduleUnload(mod: CUmodule): void {
  check('cuModuleUnload', driverApi().cuModuleUnload(mod));
}

export function moduleGetFunction(mod: CUmodule, name: string): CUfunction {
  const h = new BigUint64Array(1);
  check('cuModuleGetFunction', driverApi().cuModuleGetFunction(h, mod, name));
  return h[0]!;
}

export function funcGetAttribute(fn: CUfunction, attr: number): number {
  const v = new Int32Array(1);
  check('cuFuncGetAttribute', driverApi().cuFuncGetAttribute(v, attr, fn));
  return v[0]!;
}

/** Needed before launching with more than 48 KiB of dynamic shared memory. */
export function funcSetMaxDynamicSharedMemory(fn: CUfunction, bytes: number): void {
  check('cuFuncSetAttribute', driverApi().cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE.MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes));
}

// --- streams, events, sync -----------------------------------------------------------------

export function ctxSynchronize(): void {
  check('cuCtxSynchronize', driverApi().cuCtxSynchronize());
}

/** flags: 0 = CU_STREAM_DEFAULT (synchronises with the NULL stream), 1 = CU_STREAM_NON_BLOCKING. */
export function streamCreate(flags = 0): CUstream {
  const h = new BigUint64Array(1);
  check('cuStreamCreate', driverApi().cuStreamCreate(h, flags));
  return h[0]!;
}

export function streamDestroy(s: CUstream): void {
  check('cuStreamDestroy', driverApi().cuStreamDestroy(s));
}

export function streamSynchronize(s: CUstream): void {
  check('cuStreamSynchronize', driverApi().cuStreamSynchronize(s));
}

/** flags: 0 = CU_EVENT_DEFAULT (timing enabled). */
export function eventCreate(flags = 0): CUevent {
  const h = new BigUint64Array(1);
  check('cuEventCreate', driverApi().cuEventCreate(h, flags));
  return h[0]!;
}

export function eventDestroy(e: CUevent): void {
  check('cuEventDestroy', driverApi().cuEventDestroy(e));
}

export function eventRecord(e: CUevent, stream: CUstream = DEFAULT_STREAM): void {
  check('cuEventRecord', driverApi().cuEventRecord(e, stream));
}

export function eventSynchronize(e: CUevent): void {
  check('cuEventSynchronize', driverApi().cuEventSynchronize(e));
}

/** Milliseconds between two recorded (and completed) events. */
export function eventElapsedMs(start: CUevent, end: CUevent): number {
  const ms = new Float32Array(1);
  check('cuEventElapsedTime', driverApi().cuEventElapsedTime(ms, start, end));
  return ms[0]!;
}

/** The CUresult's name, e.g. 'CUDA_ERROR_INVALID_IMAGE' (needs libcuda loaded, not initialised). */
export function getErrorName(code: number): string {
  loadLibrary();
  return describeResult(code).name;
}
