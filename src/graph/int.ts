// Integer dtypes: their ranges, and the two ways a JS number becomes one of them, shared by
// every host-side user (NDArray storage, the reference interpreter, load-time folding, the
// ONNX and string readers) so that they all agree with the kernels:
//
// - wrapInt: modulo 2^bits, as C converts one integer type to another and as integer
//   arithmetic wraps (uint8 200 + 100 = 44); JS typed arrays store numbers the same way.
// - saturateInt: truncate toward zero, NaN → 0, clamp to the range: what a float → integer
//   cast does in kiln (C leaves out-of-range conversions undefined; kernels saturate).
//
// 64-bit values travel as JS numbers on the host side (exact below 2^53). A number at or past
// the top of the range stands for the maximum: 2^64 is how UINT64_MAX (2^64 - 1) reads as a
// double, and 2^63 how INT64_MAX does, so neither wraps to 0 or INT64_MIN on its way back.

export type IntDType = 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64';

export interface IntInfo {
  bits: 8 | 16 | 32 | 64;
  signed: boolean;
  min: bigint;
  max: bigint;
}

function info(bits: 8 | 16 | 32 | 64, signed: boolean): IntInfo {
  const span = 1n << BigInt(bits);
  return signed ? { bits, signed, min: -(span >> 1n), max: (span >> 1n) - 1n } : { bits, signed, min: 0n, max: span - 1n };
}

export const INT_INFO: Record<IntDType, IntInfo> = {
  int8: info(8, true),
  uint8: info(8, false),
  int16: info(16, true),
  uint16: info(16, false),
  int32: info(32, true),
  uint32: info(32, false),
  int64: info(64, true),
  uint64: info(64, false),
};

export function isIntDType(d: string): d is IntDType {
  return d in INT_INFO;
}

/** The smallest and largest values of `dt` as numbers (64-bit maxima read as 2^63 / 2^64). */
export function intRange(dt: IntDType): [number, number] {
  return [Number(INT_INFO[dt].min), Number(INT_INFO[dt].max)];
}

/** An integral number as a bigint, the top-of-range stand-in read as the true maximum. */
export function toBigIntIn(v: number, dt: IntDType): bigint {
  const { max } = INT_INFO[dt];
  return v >= Number(max) ? max : BigInt(v);
}

/** `b` modulo 2^bits in `dt`'s range, as a number. */
export function wrapBig(b: bigint, dt: IntDType): number {
  const { bits, signed } = INT_INFO[dt];
  return Number(signed ? BigInt.asIntN(bits, b) : BigInt.asUintN(bits, b));
}

/** `v` (truncated; NaN and ±inf → 0) modulo 2^bits in `dt`'s range: C's integer conversion. */
export function wrapInt(v: number, dt: IntDType): number {
  if (!Number.isFinite(v)) return 0;
  const t = Math.trunc(v) + 0; // + 0: no -0
  // The shifts go through ToInt32, which is exact modulo 2^32 for every finite number.
  switch (dt) {
    case 'int8': return (t << 24) >> 24;
    case 'uint8': return t & 0xff;
    case 'int16': return (t << 16) >> 16;
    case 'uint16': return t & 0xffff;
    case 'int32': return t | 0;
    case 'uint32': return t >>> 0;
    case 'int64':
    case 'uint64': {
      const [lo, hi] = intRange(dt);
      return t >= lo && t <= hi ? t : wrapBig(BigInt(t), dt);
    }
    default:
      return dt satisfies never;
  }
}

/** `v` truncated toward zero and clamped to `dt`'s range, NaN → 0: kiln's float → integer cast. */
export function saturateInt(v: number, dt: IntDType): number {
  if (Number.isNaN(v)) return 0;
  const [lo, hi] = intRange(dt);
  return v <= lo ? lo : v >= hi ? hi : Math.trunc(v) + 0;
}

/** saturateInt as a bigint, exact at the range's ends (where a number would stand for the maximum). */
export function saturateToBig(v: number, dt: IntDType): bigint {
  if (Number.isNaN(v)) return 0n;
  const { min, max } = INT_INFO[dt];
  if (v <= Number(min)) return min;
  return v >= Number(max) ? max : BigInt(Math.trunc(v));
}

/** A bigint clamped to `dt`'s range (integer strings, read exactly). */
export function saturateBig(b: bigint, dt: IntDType): bigint {
  const { min, max } = INT_INFO[dt];
  return b < min ? min : b > max ? max : b;
}

/** A number as a uint64 element: modulo 2^64, except that values at or past 2^64 (and +inf) are the maximum. */
export function toBigUint64(v: number): bigint {
  if (Number.isNaN(v) || v === -Infinity) return 0n;
  return v >= 2 ** 64 ? INT_INFO.uint64.max : BigInt.asUintN(64, BigInt(Math.trunc(v)));
}
