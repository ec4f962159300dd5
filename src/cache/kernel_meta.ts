// Each backend's kernel metadata: what its code generator attaches to a kernel (the launch
// shape, a cuBLAS product to run first, ...), hashed into the kernel's key, stored with its
// binary and read by its runtime. Plain data, described here beside the compiled kernel
// (compiled_kernel.ts) so the cache can validate it without importing a backend.
//
// A cache entry or a graph bundle is untrusted input (any file in the cache directory, an
// imported artifact): `parseKernelMeta` checks the metadata against its backend's shape when
// an entry is read back, so a runtime never launches with a grid of strings or a missing
// parameter count. Unknown fields are refused too: a key covers the whole metadata, so a
// kernel with fields this build does not know was made by another build's code generator.


/** The C backend's kernels: one exported entry taking its buffer pointers as one block. */
export interface CKernelMeta {
  /** How many buffer pointers the entry's block holds. */
  params: number;
}

export interface CudaLaunchMeta {
  grid: [number, number, number];
  block: [number, number, number];
  shared: number;
}

/** One operand of a cuBLAS product: kernel parameter, element offset, leading dim, transpose, batch stride. */
export interface GemmOperandMeta {
  param: number;
  offset: number;
  ld: number;
  trans: boolean;
  batchStride: number;
}

/** A matmul done by cuBLAS before the kernel runs; the kernel is then its epilogue. */
export interface GemmMeta {
  batch: number;
  M: number;
  N: number;
  K: number;
  a: GemmOperandMeta;
  b: GemmOperandMeta;
  /**
   * When the epilogue only stores the product (the next kernel reads it, as a layer norm
   * reads x @ W): the kernel parameter cuBLAS writes straight into, and no epilogue launch.
   */
  direct?: number;
}

export interface CudaKernelMeta {
  params: number;
  launch: CudaLaunchMeta;
  /** When set, the runtime runs this GEMM into a scratch buffer passed as the last parameter. */
  gemm?: GemmMeta;
  /**
   * Bytes of device workspace the kernel takes as its last parameter, zeroed once when the
   * plan is instantiated (a split reduction's partials and per-row counters, which the
   * kernel leaves zeroed again).
   */
  workspace?: number;
  /**
   * The kernel takes its buffer pointers (the `params`, then the cuBLAS product's scratch
   * buffer) as one device array, its first parameter, rather than one parameter each.
   */
  pointerTable?: boolean;
}

/** The backends, by name (compiled_kernel.ts's BackendName is this union). */
type BackendName = keyof KernelMetaByBackend;

/** Each backend's metadata type, by backend name. */
export interface KernelMetaByBackend {
  c: CKernelMeta;
  cuda: CudaKernelMeta;
}

/** Why a kernel's metadata is not its backend's shape. */
export class KernelMetaError extends Error {
  override name = 'KernelMetaError';
}

type Fields = Record<string, unknown>;

function object(v: unknown, what: string): Fields {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new KernelMetaError(`${what} is not an object`);
  return v as Fields;
}

/** Refuses fields beyond `known` (see the header: a key covers the whole metadata). */
function onlyFields(o: Fields, known: readonly string[], what: string): void {
  const extra = Object.keys(o).filter((k) => !known.includes(k));
  if (extra.length > 0) throw new KernelMetaError(`${what} has unknown field${extra.length > 1 ? 's' : ''} ${extra.join(', ')}`);
}

/** A non-negative safe integer (counts, sizes, offsets, parameter indices). */
function count(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new KernelMetaError(`${what} is not a non-negative integer: ${JSON.stringify(v)}`);
  return v;
}

function optional<T>(o: Fields, field: string, parse: (v: unknown, what: string) => T, what: string): { [k: string]: T } {
  return o[field] === undefined ? {} : { [field]: parse(o[field], `${what}.${field}`) };
}

function flag(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw new KernelMetaError(`${what} is not a boolean`);
  return v;
}

function dims3(v: unknown, what: string): [number, number, number] {
  if (!Array.isArray(v) || v.length !== 3) throw new KernelMetaError(`${what} is not three dimensions`);
  return [count(v[0], `${what}[0]`), count(v[1], `${what}[1]`), count(v[2], `${what}[2]`)];
}

function parseCMeta(v: unknown): CKernelMeta {
  const o = object(v, 'C kernel meta');
  onlyFields(o, ['params'], 'C kernel meta');
  return { params: count(o.params, 'C kernel meta.params') };
}

function parseGemmOperand(v: unknown, what: string): GemmOperandMeta {
  const o = object(v, what);
  onlyFields(o, ['param', 'offset', 'ld', 'trans', 'batchStride'], what);
  return { param: count(o.param, `${what}.param`), offset: count(o.offset, `${what}.offset`), ld: count(o.ld, `${what}.ld`), trans: flag(o.trans, `${what}.trans`), batchStride: count(o.batchStride, `${what}.batchStride`) };
}

function parseGemm(v: unknown, what: string): GemmMeta {
  const o = object(v, what);
  onlyFields(o, ['batch', 'M', 'N', 'K', 'a', 'b', 'direct'], what);
  return {
    batch: count(o.batch, `${what}.batch`),
    M: count(o.M, `${what}.M`),
    N: count(o.N, `${what}.N`),
    K: count(o.K, `${what}.K`),
    a: parseGemmOperand(o.a, `${what}.a`),
    b: parseGemmOperand(o.b, `${what}.b`),
    ...optional(o, 'direct', count, what),
  };
}

function parseCudaMeta(v: unknown): CudaKernelMeta {
  const what = 'CUDA kernel meta';
  const o = object(v, what);
  onlyFields(o, ['params', 'launch', 'gemm', 'workspace', 'pointerTable'], what);
  const launch = object(o.launch, `${what}.launch`);
  onlyFields(launch, ['grid', 'block', 'shared'], `${what}.launch`);
  return {
    params: count(o.params, `${what}.params`),
    launch: { grid: dims3(launch.grid, `${what}.launch.grid`), block: dims3(launch.block, `${what}.launch.block`), shared: count(launch.shared, `${what}.launch.shared`) },
    ...optional(o, 'gemm', parseGemm, what),
    ...optional(o, 'workspace', count, what),
    ...optional(o, 'pointerTable', flag, what),
  };
}

/**
 * `v` as `backend`'s kernel metadata, rebuilt field by field (nothing else of `v` survives);
 * throws KernelMetaError naming the first field that is wrong.
 */
export function parseKernelMeta<B extends BackendName>(backend: B, v: unknown): KernelMetaByBackend[B];
export function parseKernelMeta(backend: BackendName, v: unknown): KernelMetaByBackend[BackendName] {
  switch (backend) {
    case 'c':
      return parseCMeta(v);
    case 'cuda':
      return parseCudaMeta(v);
    default:
      backend satisfies never;
      throw new KernelMetaError(`unknown backend ${String(backend)}`);
  }
}
