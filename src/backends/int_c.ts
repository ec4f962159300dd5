// Integer semantics as C source, shared by the C and CUDA backends: what C's own operators
// leave undefined or wrong for kiln's integer dtypes, and the helpers that fix it.
//
// - int8/uint8/int16/uint16 operands promote to int in C expressions: arithmetic results are
//   cast back to the type explicitly so they wrap as in NumPy (uint8 200 + 100 = 44), and a
//   uint16 product is computed in uint32_t (65535 * 65535 overflows int, which is undefined).
// - Integer division and remainder by zero trap (SIGFPE, the whole process), and so does
//   INT_MIN / -1: the helpers return 0 for a zero divisor (NumPy's answer) and wrap INT_MIN / -1.
// - Unsigned values divide, compare and take powers as unsigned (uint64 values past 2^63).
// - A float outside an integer type's range converts undefinedly: casts to these types
//   saturate, NaN → 0 (int32 and int64 keep the conversion they always had).
//
// The helpers are emitted only into kernels that call them (as half_c.ts's are), so other
// kernels keep the source, and so the cache key, they had before.

import { type DType, isFloat, isInt } from '../graph/dtype.js';
import { INT_INFO, type IntDType } from '../graph/int.js';
import type { EType } from '../lower/expr.js';
import { useHelper, useType } from './emitted_uses.js';

/**
 * The integer types that came after int32 and int64: the 8- and 16-bit types and the unsigned
 * ones. Where int32/int64 code predates them (casts from float, argmax through double, CUDA
 * reduction identities), these take the new forms and int32/int64 keep their sources.
 */
export function isAddedInt(dt: EType): dt is Exclude<IntDType, 'int32' | 'int64'> {
  return dt !== 'index' && dt !== 'int32' && dt !== 'int64' && isInt(dt);
}

/** The integer dtypes C promotes to int in arithmetic. */
export function isNarrowInt(dt: EType): boolean {
  return dt === 'int8' || dt === 'uint8' || dt === 'int16' || dt === 'uint16';
}

/**
 * The C type sums, products and matmuls of `dt` accumulate in: uint32_t for the narrow types
 * (unsigned arithmetic wraps by definition, and the low bits of the wide result are the
 * narrow result), which is cast back once the accumulation is done. Other dtypes accumulate
 * in their own register type (undefined when no such narrowing is needed).
 */
export function wideAccType(dt: DType): string | undefined {
  return isNarrowInt(dt) ? useType('uint32_t') : undefined;
}

/** Accumulator `v` back in `dt`'s register type (a cast only where it was accumulated wider). */
export function narrowAcc(v: string, dt: DType): string {
  return isNarrowInt(dt) ? `(${intCType(dt as IntDType)})${v}` : v;
}

/** The helpers, each function declared with `qual` (e.g. `static inline`). */
export function intHelpers(qual: string): string {
  return `${qual} int64_t kiln_idiv(int64_t a, int64_t b) { return b == 0 ? 0 : (b == -1 ? (int64_t)(0ULL - (uint64_t)a) : a / b); }
${qual} uint64_t kiln_udiv(uint64_t a, uint64_t b) { return b == 0 ? 0 : a / b; }
${qual} int64_t kiln_imod(int64_t a, int64_t b) { if (b == 0 || b == -1) return 0; const int64_t r = a % b; return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r; }
${qual} int64_t kiln_ifmod(int64_t a, int64_t b) { return (b == 0 || b == -1) ? 0 : a % b; }
${qual} uint64_t kiln_umod(uint64_t a, uint64_t b) { return b == 0 ? 0 : a % b; }
${qual} uint64_t kiln_upow(uint64_t a, uint64_t b) { uint64_t r = 1; while (b) { if (b & 1) r *= a; a *= a; b >>= 1; } return r; }
${qual} int64_t kiln_ipow_w(int64_t a, int64_t b) { if (b < 0) return a == 1 ? 1 : (a == -1 ? ((b & 1) ? -1 : 1) : 0); return (int64_t)kiln_upow((uint64_t)a, (uint64_t)b); }
`;
}

/** The fixed-width types the helpers above name (the CUDA source typedefs those NVRTC lacks). */
export const INT_HELPER_TYPES: readonly string[] = ['int64_t', 'uint64_t'];

/** The C type a value of integer dtype `dt` has. */
export function intCType(dt: IntDType): string {
  return useType(`${INT_INFO[dt].signed ? '' : 'u'}int${INT_INFO[dt].bits}_t`);
}

/** A C literal of integer dtype `dt` (v already an integer in its range; 2^64 stands for UINT64_MAX). */
export function intLiteral(v: number, dt: IntDType): string {
  if (dt === 'uint64') return v >= 2 ** 64 ? `${INT_INFO.uint64.max}ULL` : `${BigInt(v)}ULL`;
  if (dt === 'uint32') return `${v}u`;
  return v < 0 ? `(${v})` : `${v}`;
}

/** Wraps an arithmetic result of a narrow type back into it (it was computed as int). */
function narrow(expr: string, dt: EType): string {
  return isNarrowInt(dt) ? `(${intCType(dt as IntDType)})${expr}` : expr;
}

/** Integer unary ops whose C differs from the generic form, or undefined. */
export function intUnary(op: string, a: string, dt: EType): string | undefined {
  if (!isAddedInt(dt)) return undefined;
  const unsigned = !INT_INFO[dt].signed;
  switch (op) {
    case 'neg': return narrow(`(-${a})`, dt);
    case 'abs': return unsigned ? a : narrow(`(${a} < 0 ? -${a} : ${a})`, dt);
    case 'relu': return unsigned ? a : undefined;
    case 'sign': return unsigned ? `(${intCType(dt)})(${a} > 0)` : undefined;
    default: return undefined;
  }
}

/**
 * Integer binary ops whose C differs from the generic form, or undefined. Division,
 * remainders and powers go through the helpers for every integer type; +, - and * of the
 * narrow types wrap back into the type.
 */
export function intBinary(op: string, a: string, b: string, dt: EType): string | undefined {
  if (dt === 'index' || !isInt(dt)) return undefined;
  const unsigned = !INT_INFO[dt].signed;
  switch (op) {
    case 'add': return narrow(`(${a} + ${b})`, dt);
    case 'sub': return narrow(`(${a} - ${b})`, dt);
    case 'mul': return dt === 'uint16' ? `(${useType('uint16_t')})((${useType('uint32_t')})${a} * ${b})` : narrow(`(${a} * ${b})`, dt);
    case 'trunc_div': return intHelperCall(dt, unsigned ? 'kiln_udiv' : 'kiln_idiv', a, b);
    case 'mod': return intHelperCall(dt, unsigned ? 'kiln_umod' : 'kiln_imod', a, b);
    case 'fmod': return intHelperCall(dt, unsigned ? 'kiln_umod' : 'kiln_ifmod', a, b);
    // int32/int64 keep kiln_ipow (their overflow was never defined); the others wrap.
    case 'pow': return dt === 'int32' || dt === 'int64' ? undefined : intHelperCall(dt, unsigned ? 'kiln_upow' : 'kiln_ipow_w', a, b);
    default: return undefined;
  }
}

/** A call of one of the helpers above, its result cast back to `dt`; notes the use (emitted_uses.ts). */
function intHelperCall(dt: IntDType, helper: string, a: string, b: string): string {
  useHelper('int');
  return `(${intCType(dt)})${helper}(${a}, ${b})`;
}

/**
 * A float register value `a` (of `from`: float64 is double, the other floats are float)
 * converted to integer dtype `to` by truncation, saturating at the range, NaN → 0. The upper
 * bound is tested as `>= 2^bits` (a power of two, exact in every float type): values just
 * below it truncate into range.
 */
export function saturatingCast(a: string, from: DType, to: IntDType, floatLiteral: (v: number, dt: DType) => string): string {
  const fl = from === 'float64' ? 'float64' : 'float32';
  const { min, max, bits, signed } = INT_INFO[to];
  const t = intCType(to);
  const top = floatLiteral(2 ** (signed ? bits - 1 : bits), fl);
  const bottom = floatLiteral(Number(min), fl);
  const hi = intLiteral(Number(max), to);
  const lo = intLiteral(Number(min), to);
  return `(${t})(${a} != ${a} ? 0 : (${a} <= ${bottom} ? ${lo} : (${a} >= ${top} ? ${hi} : (${t})${a})))`;
}

/** Whether a cast from `from` to `to` takes saturatingCast (float to an added integer type). */
export function saturates(from: EType, to: EType): boolean {
  return from !== 'index' && isFloat(from) && isAddedInt(to);
}

/**
 * NVRTC has no <stdint.h>: the CUDA prelude typedefs int64_t, int32_t and uint8_t (and the
 * half prelude uint16_t and uint32_t). These are the others, each emitted only when the
 * kernel's code names it (emitted_uses.ts), so kernels without them keep their source.
 */
const CUDA_TYPEDEFS: [string, string][] = [
  ['int8_t', 'signed char'],
  ['int16_t', 'short'],
  ['uint16_t', 'unsigned short'],
  ['uint32_t', 'unsigned int'],
  ['uint64_t', 'unsigned long long'],
];

/** The typedefs for the type names `used` beyond those already `defined`, for NVRTC (nvcc has <stdint.h>). */
export function cudaTypedefs(used: ReadonlySet<string>, defined: readonly string[]): string {
  const need = CUDA_TYPEDEFS.filter(([name]) => !defined.includes(name) && used.has(name));
  if (need.length === 0) return '';
  return `#ifdef __CUDACC_RTC__\n${need.map(([name, t]) => `typedef ${t} ${name};`).join('\n')}\n#endif\n`;
}
