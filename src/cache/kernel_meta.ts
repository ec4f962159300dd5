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

/**
 * A size formula as graph/sym.ts stores it (SymJSON: [coefficient, symbol names] per term),
 * spelled here because the cache layer imports nothing of graph/; the types are the same.
 */
type SymJSON = [number, string[]][];

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

/**
 * One operand of a cuBLAS product: kernel parameter, element offset, leading dim, transpose,
 * batch stride. `S`: how a size is written (a number; a formula over symbolic sizes).
 */
export interface GemmOperandMetaOf<S> {
  param: number;
  offset: S;
  ld: S;
  trans: boolean;
  batchStride: S;
}

/** A matmul done by cuBLAS before the kernel runs; the kernel is then its epilogue. */
export interface GemmMetaOf<S> {
  batch: S;
  M: S;
  N: S;
  K: S;
  a: GemmOperandMetaOf<S>;
  b: GemmOperandMetaOf<S>;
  /**
   * When the epilogue only stores the product (the next kernel reads it, as a layer norm
   * reads x @ W): the kernel parameter cuBLAS writes straight into, and no epilogue launch.
   */
  direct?: number;
}

export type GemmOperandMeta = GemmOperandMetaOf<number>;
export type GemmMeta = GemmMetaOf<number>;

/** A grid dim of a kernel over symbolic sizes: ceil(units / per) under each call's sizes, at most `max` (0: nothing to launch). */
export interface SymGridDim {
  units: SymJSON;
  per: number;
  max?: number;
}

/** GemmMeta over symbolic sizes (offsets, leading dims, batch strides and sizes as formulas): the runtime evaluates it into a GemmMeta when a call's sizes change. */
export type SymGemmOperandMeta = GemmOperandMetaOf<SymJSON>;
export type SymGemmMeta = GemmMetaOf<SymJSON>;

/**
 * A kernel over symbolic sizes: what its launch needs beyond the static fields, as formulas over
 * the size symbols (graph/sym.ts), never as the hints it was generated at (a symbolic program's
 * kernels must be the same whatever sizes it was traced at).
 */
export interface CudaSymMeta {
  /** The size symbols the kernel takes after its pointers (int64 each), in order. */
  sizes: string[];
  /** The grid, per call (the static `launch.grid` is unused). */
  grid: [number | SymGridDim, number | SymGridDim, number | SymGridDim];
  /**
   * A reduction over rows of symbolic length: threads per row (block x) and rows per block
   * (block y) are chosen per call from this length, and grid x is ceil(grid[0].units / rows
   * per block) (its `per` is unused). Absent: `launch.block` holds.
   */
  rowLength?: SymJSON;
  /** A scan over rows of symbolic length: its threads (block x) are chosen per call from this length. */
  scanLength?: SymJSON;
  /** The cuBLAS product (instead of `gemm`). */
  gemm?: SymGemmMeta;
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
  /** Launch and product formulas of a kernel over symbolic sizes. */
  sym?: CudaSymMeta;
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

/** A cuBLAS product's metadata, each size read by `size` (count: a number; parseSymJSON: a formula). */
function parseGemmOf<S>(v: unknown, what: string, size: (v: unknown, what: string) => S): GemmMetaOf<S> {
  const operand = (v: unknown, what: string): GemmOperandMetaOf<S> => {
    const o = object(v, what);
    onlyFields(o, ['param', 'offset', 'ld', 'trans', 'batchStride'], what);
    return { param: count(o.param, `${what}.param`), offset: size(o.offset, `${what}.offset`), ld: size(o.ld, `${what}.ld`), trans: flag(o.trans, `${what}.trans`), batchStride: size(o.batchStride, `${what}.batchStride`) };
  };
  const o = object(v, what);
  onlyFields(o, ['batch', 'M', 'N', 'K', 'a', 'b', 'direct'], what);
  return {
    batch: size(o.batch, `${what}.batch`),
    M: size(o.M, `${what}.M`),
    N: size(o.N, `${what}.N`),
    K: size(o.K, `${what}.K`),
    a: operand(o.a, `${what}.a`),
    b: operand(o.b, `${what}.b`),
    ...optional(o, 'direct', count, what),
  };
}

const parseGemm = (v: unknown, what: string): GemmMeta => parseGemmOf(v, what, count);

/** A size formula: [integer coefficient, symbol names] terms (graph/sym.ts SymJSON). Also read by api/conversion_record.ts. */
export function parseSymJSON(v: unknown, what: string): SymJSON {
  if (!Array.isArray(v)) throw new KernelMetaError(`${what} is not a size formula`);
  return v.map((t, i) => {
    if (!Array.isArray(t) || t.length !== 2 || typeof t[0] !== 'number' || !Number.isSafeInteger(t[0]) || !Array.isArray(t[1])) throw new KernelMetaError(`${what}[${i}] is not a term`);
    const names = t[1].map((n: unknown) => {
      if (typeof n !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(n)) throw new KernelMetaError(`${what}[${i}] names a bad symbol: ${JSON.stringify(n)}`);
      return n;
    });
    return [t[0], names] as [number, string[]];
  });
}

function parseGridDim(v: unknown, what: string): number | SymGridDim {
  if (typeof v === 'number') return count(v, what);
  const o = object(v, what);
  onlyFields(o, ['units', 'per', 'max'], what);
  const per = count(o.per, `${what}.per`);
  if (per === 0) throw new KernelMetaError(`${what}.per is 0`);
  return { units: parseSymJSON(o.units, `${what}.units`), per, ...optional(o, 'max', count, what) };
}

const parseSymGemm = (v: unknown, what: string): SymGemmMeta => parseGemmOf(v, what, parseSymJSON);

function parseSymMeta(v: unknown, what: string): CudaSymMeta {
  const o = object(v, what);
  onlyFields(o, ['sizes', 'grid', 'rowLength', 'scanLength', 'gemm'], what);
  if (!Array.isArray(o.sizes) || o.sizes.some((n) => typeof n !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(n))) throw new KernelMetaError(`${what}.sizes is not a list of symbol names`);
  if (!Array.isArray(o.grid) || o.grid.length !== 3) throw new KernelMetaError(`${what}.grid is not three dimensions`);
  const grid = o.grid.map((g, i) => parseGridDim(g, `${what}.grid[${i}]`)) as CudaSymMeta['grid'];
  return {
    sizes: [...(o.sizes as string[])], grid,
    ...optional(o, 'rowLength', parseSymJSON, what),
    ...optional(o, 'scanLength', parseSymJSON, what),
    ...optional(o, 'gemm', parseSymGemm, what),
  };
}

function parseCudaMeta(v: unknown): CudaKernelMeta {
  const what = 'CUDA kernel meta';
  const o = object(v, what);
  onlyFields(o, ['params', 'launch', 'gemm', 'workspace', 'pointerTable', 'sym'], what);
  const launch = object(o.launch, `${what}.launch`);
  onlyFields(launch, ['grid', 'block', 'shared'], `${what}.launch`);
  return {
    params: count(o.params, `${what}.params`),
    launch: { grid: dims3(launch.grid, `${what}.launch.grid`), block: dims3(launch.block, `${what}.launch.block`), shared: count(launch.shared, `${what}.launch.shared`) },
    ...optional(o, 'gemm', parseGemm, what),
    ...optional(o, 'workspace', count, what),
    ...optional(o, 'pointerTable', flag, what),
    ...optional(o, 'sym', parseSymMeta, what),
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
