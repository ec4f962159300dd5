// Element types kiln supports, and the rules that relate them.

export const DTYPES = ['float32', 'float64', 'int32', 'int64', 'bool'] as const;
export type DType = (typeof DTYPES)[number];

export type TypedArrayFor<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'int32'
    ? Int32Array
    : D extends 'int64'
      ? BigInt64Array
      : Uint8Array;
export type AnyTypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && (DTYPES as readonly string[]).includes(x);
}

export function byteSize(d: DType): number {
  switch (d) {
    case 'float32':
    case 'int32':
      return 4;
    case 'int64':
    case 'float64':
      return 8;
    case 'bool':
      return 1;
    default:
      return d satisfies never;
  }
}

export function isFloat(d: DType): boolean {
  return d === 'float32' || d === 'float64';
}
export function isInt(d: DType): boolean {
  return d === 'int32' || d === 'int64';
}

/** Allocates a zeroed typed array of the matching kind. */
export function allocTyped(d: DType, n: number): AnyTypedArray {
  switch (d) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'bool':
      return new Uint8Array(n);
    default:
      return d satisfies never;
  }
}

/** The typed array viewing `bytes` bytes of `buf` at `offset` as dtype `d`. */
export function viewTyped(d: DType, buf: ArrayBufferLike, offset: number, n: number): AnyTypedArray {
  switch (d) {
    case 'float32':
      return new Float32Array(buf, offset, n);
    case 'float64':
      return new Float64Array(buf, offset, n);
    case 'int32':
      return new Int32Array(buf, offset, n);
    case 'int64':
      return new BigInt64Array(buf, offset, n);
    case 'bool':
      return new Uint8Array(buf, offset, n);
    default:
      return d satisfies never;
  }
}

const RANK: Record<DType, number> = { bool: 0, int32: 1, int64: 2, float32: 3, float64: 4 };

/** PyTorch-style promotion between two tensor dtypes. */
export function promote(a: DType, b: DType): DType {
  return RANK[a] >= RANK[b] ? a : b;
}

/** The dtype a JS number scalar takes next to a tensor of dtype `t` (PyTorch's weak scalar typing). */
export function scalarDType(value: number | boolean, t: DType): DType {
  if (typeof value === 'boolean') return t;
  if (Number.isInteger(value)) return t === 'bool' ? 'int64' : t;
  return isFloat(t) ? t : 'float32';
}
