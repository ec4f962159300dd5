// Element types kiln supports, and the rules that relate them.
//
// float16 and bfloat16 are storage types: buffers hold their raw bits (a Uint16Array on the
// host), kernels widen them to float32 on load, compute in float32 and round on store.
// Integer types wrap on overflow, as C and NumPy do (int.ts has their ranges and conversions).

import { type HalfDType, decodeHalf, encodeHalf, isHalf } from './half.js';
import { INT_INFO, type IntDType, isIntDType, toBigUint64 } from './int.js';
import { ShapeError } from './shape.js';

export const DTYPES = [
  'float32', 'float64', 'float16', 'bfloat16', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool',
] as const;
export type DType = (typeof DTYPES)[number];

export type TypedArrayFor<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends HalfDType | 'uint16'
      ? Uint16Array
      : D extends 'int8'
        ? Int8Array
        : D extends 'int16'
          ? Int16Array
          : D extends 'int32'
            ? Int32Array
            : D extends 'uint32'
              ? Uint32Array
              : D extends 'int64'
                ? BigInt64Array
                : D extends 'uint64'
                  ? BigUint64Array
                  : Uint8Array;
export type AnyTypedArray =
  | Float32Array | Float64Array | Uint16Array | Int8Array | Uint8Array | Int16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && (DTYPES as readonly string[]).includes(x);
}

export function byteSize(d: DType): number {
  if (isIntDType(d)) return INT_INFO[d].bits / 8;
  switch (d) {
    case 'float32':
      return 4;
    case 'float64':
      return 8;
    case 'float16':
    case 'bfloat16':
      return 2;
    case 'bool':
      return 1;
    default:
      return d satisfies never;
  }
}

export function isFloat(d: DType): boolean {
  return d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';
}
/** Any integer dtype, signed or unsigned (not bool). */
export function isInt(d: DType): d is IntDType {
  return isIntDType(d);
}
export { isHalf };

/** A typed-array constructor, by the two forms kiln uses. */
interface TypedArrayCtor {
  new (length: number): AnyTypedArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): AnyTypedArray;
}

/** The typed array each dtype is stored in (half types as their bits, bool as bytes). */
const TYPED_ARRAY: Record<DType, TypedArrayCtor> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
};

/** Allocates a zeroed typed array of the matching kind. */
export function allocTyped(d: DType, n: number): AnyTypedArray {
  return new TYPED_ARRAY[d](n);
}

/** The typed array viewing `n` elements of dtype `d` in `buf` from byte `offset`. */
export function viewTyped(d: DType, buf: ArrayBufferLike, offset: number, n: number): AnyTypedArray {
  return new TYPED_ARRAY[d](buf, offset, n);
}

/** The values of typed data of dtype `d` as numbers (half types decoded, 64-bit ints via Number). */
export function typedToNumbers(d: DType, a: AnyTypedArray): Float64Array {
  if (isHalf(d)) return decodeHalf(d, a as Uint16Array);
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Number(a[i]!);
  return out;
}

/**
 * Numbers as typed data of dtype `d`: half types encoded (round to nearest even), int64
 * truncated toward zero (NaN → 0, saturating), uint64 modulo 2^64 (2^64 and up: the maximum),
 * bool as x != 0, the rest as typed arrays store (ints truncated, modulo 2^bits, NaN → 0).
 */
export function numbersToTyped(d: DType, values: ArrayLike<number>): AnyTypedArray {
  if (isHalf(d)) return encodeHalf(d, values);
  const out = allocTyped(d, values.length);
  if (out instanceof BigInt64Array) {
    for (let i = 0; i < values.length; i++) out[i] = toBigInt64(values[i]!);
  } else if (out instanceof BigUint64Array) {
    for (let i = 0; i < values.length; i++) out[i] = toBigUint64(values[i]!);
  } else if (d === 'bool') {
    for (let i = 0; i < values.length; i++) out[i] = values[i] ? 1 : 0;
  } else {
    for (let i = 0; i < values.length; i++) out[i] = values[i]!;
  }
  return out;
}

const I64_MAX = 2n ** 63n - 1n;
const I64_MIN = -(2n ** 63n);

/** A JS number as an int64, truncated and saturating (NaN → 0). */
export function toBigInt64(v: number): bigint {
  if (!Number.isFinite(v)) return v > 0 ? I64_MAX : v < 0 ? I64_MIN : 0n;
  const b = BigInt(Math.trunc(v));
  return b > I64_MAX ? I64_MAX : b < I64_MIN ? I64_MIN : b;
}

// float16 and bfloat16 share a rank; promote() sends a mix of the two to float32, which
// holds both exactly (neither has the other's range and precision).
const FLOAT_RANK: Record<string, number> = { float16: 3, bfloat16: 3, float32: 4, float64: 5 };

/**
 * Promotion between two tensor dtypes, as PyTorch and NumPy agree: bool gives way to
 * anything; an int with a float is the float; two floats, the wider (float16 with bfloat16:
 * float32). Two ints: the wider of one signedness; a signed and an unsigned int, the
 * smallest signed type holding both (uint8 with int8: int16; uint32 with int32: int64).
 * uint64 with a signed int has no such type: refused (NumPy's float64 would drop bits).
 */
export function promote(a: DType, b: DType, op = 'promote'): DType {
  if (a === b || b === 'bool') return a;
  if (a === 'bool') return b;
  if (isFloat(a) || isFloat(b)) {
    if (!isFloat(a)) return b;
    if (!isFloat(b)) return a;
    if (FLOAT_RANK[a] === FLOAT_RANK[b]) return 'float32';
    return FLOAT_RANK[a]! > FLOAT_RANK[b]! ? a : b;
  }
  return promoteInts(a as IntDType, b as IntDType, op);
}

function promoteInts(a: IntDType, b: IntDType, op: string): DType {
  const [ia, ib] = [INT_INFO[a], INT_INFO[b]];
  if (ia.signed === ib.signed) return ia.bits >= ib.bits ? a : b;
  const [s, u] = ia.signed ? [ia, ib] : [ib, ia];
  if (s.bits > u.bits) return ia.signed ? a : b;
  if (u.bits === 64) {
    throw new ShapeError(`${op}: cannot combine ${a} and ${b}: no integer type holds both (cast one of them first)`);
  }
  return `int${u.bits * 2}` as DType;
}

/**
 * The dtype that means, softmaxes and norms of a `d` tensor compute in (PyTorch's "opmath"
 * type): float32 for ints and bool, and for half types, whose result is then cast back, so a
 * long row neither overflows float16 (a count past 65504 is inf) nor rounds at every step.
 */
export function opmathDType(d: DType): DType {
  return d === 'float64' ? 'float64' : 'float32';
}

/** The dtype a JS number scalar takes next to a tensor of dtype `t` (PyTorch's weak scalar typing). */
export function scalarDType(value: number | boolean, t: DType): DType {
  if (typeof value === 'boolean') return t;
  if (Number.isInteger(value)) return t === 'bool' ? 'int64' : t;
  return isFloat(t) ? t : 'float32';
}
