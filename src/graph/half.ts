// float16 (IEEE binary16) and bfloat16 in TypeScript: the one place that turns JS numbers into
// their 16-bit patterns and back. NDArray, the reference interpreter, load-time folding, the
// ONNX reader and .npy files all convert through here, and the C/CUDA helpers emitted by
// backends/half_c.ts follow the same algorithm, so host and kernel agree bit for bit.
//
// Rounding is IEEE round-to-nearest-even from the full float64 value. Going through float32
// first would round twice (a float64 just above a float16 tie can land on the tie as a
// float32, then round to even the wrong way), so a number is first rounded to float32 *to
// odd*: truncated, with the lowest bit set when anything was dropped. 24 bits is at least
// two more than either 16-bit format keeps, which makes the second rounding exact.

export type HalfDType = 'float16' | 'bfloat16';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float32 bit pattern of `x` rounded to odd (see above); NaN keeps float32's NaN. */
function float32BitsToOdd(x: number): number {
  f32[0] = x;
  let u = u32[0]!;
  const f = f32[0]!;
  if (f !== x && x === x) {
    // f is x rounded to nearest: step back toward zero when it rounded away, then mark inexact.
    if (Math.abs(f) > Math.abs(x)) u -= 1;
    u |= 1;
  }
  return u >>> 0;
}

/** float32 bits → float16 bits, round to nearest even (the algorithm of kiln_f2h in half_c.ts). */
export function float32BitsToFloat16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const ax = x & 0x7fffffff;
  // NaN stays NaN (quiet bit set, top payload bits kept); ±inf and everything from 65520 up
  // (the midpoint of 65504 and 65536, which ties to the even 65536) become ±inf.
  if (ax > 0x7f800000) return sign | 0x7e00 | ((ax >>> 13) & 0x3ff);
  if (ax >= 0x477ff000) return sign | 0x7c00;
  if (ax >= 0x38800000) {
    // Normal: rebias the exponent (127 → 15) and round away 13 mantissa bits; a carry into
    // the exponent is the correct result.
    const h = ax - 0x38000000;
    return sign | ((h + 0xfff + ((h >>> 13) & 1)) >>> 13);
  }
  // Subnormal float16 (|x| < 2^-14): a multiple of 2^-24. Up to 2^-25 (a tie) rounds to ±0.
  if (ax <= 0x33000000) return sign;
  const e = ax >>> 23;
  const m = (ax & 0x7fffff) | 0x800000;
  const shift = 126 - e;
  let q = m >>> shift;
  const rem = m & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rem > halfway || (rem === halfway && (q & 1) === 1)) q += 1;
  return sign | q;
}

/** float32 bits → bfloat16 bits: the top 16 bits, rounded to nearest even; NaN stays a quiet NaN. */
export function float32BitsToBFloat16(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x0040) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function float16Bits(x: number): number {
  return float32BitsToFloat16(float32BitsToOdd(x));
}

export function bfloat16Bits(x: number): number {
  return float32BitsToBFloat16(float32BitsToOdd(x));
}

/** The number a float16 bit pattern holds (exact: every float16 is a float64). */
export function float16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1024 + m) * 2 ** (e - 25);
}

/** The number a bfloat16 bit pattern holds: the top half of a float32. */
export function bfloat16Value(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

export function isHalf(d: string): d is HalfDType {
  return d === 'float16' || d === 'bfloat16';
}

export function halfBits(d: HalfDType, x: number): number {
  return d === 'float16' ? float16Bits(x) : bfloat16Bits(x);
}

export function halfValue(d: HalfDType, bits: number): number {
  return d === 'float16' ? float16Value(bits) : bfloat16Value(bits);
}

/** `x` rounded to the nearest value of the 16-bit format (what storing it would keep). */
export function roundHalf(d: HalfDType, x: number): number {
  return halfValue(d, halfBits(d, x));
}

/** Numbers → bit patterns. */
export function encodeHalf(d: HalfDType, values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = halfBits(d, values[i]!);
  return out;
}

/** Bit patterns → numbers. */
export function decodeHalf(d: HalfDType, bits: ArrayLike<number>): Float64Array {
  const out = new Float64Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfValue(d, bits[i]!);
  return out;
}
