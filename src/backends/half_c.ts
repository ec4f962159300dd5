// float16 / bfloat16 conversions as C source, emitted into both the C and the CUDA prelude
// (plain integer bit manipulation compiles unchanged as C and CUDA C; only the function
// qualifier and the float<->bits casts, kiln_f2u/kiln_u2f, come from each prelude). The
// algorithm is the one of src/graph/half.ts, so kernels and the host round identically.
//
// Kernels hold half values as float: loads widen (kiln_h2f, kiln_bf2f), arithmetic runs in
// float32, stores narrow (kiln_f2h, kiln_f2bf) with round-to-nearest-even. A cast *to* a half
// type inside a kernel rounds the float it holds (kiln_rnd_h/kiln_rnd_bf), so a value cast to
// float16 and back is the float16 value even when it never reaches memory.

import type { DType } from '../graph/dtype.js';
import { useHelper } from './emitted_uses.js';

/** The helpers, each function declared with `qual` (e.g. `static inline`). */
export function halfHelpers(qual: string): string {
  return `${qual} uint16_t kiln_f2h(float f) {
  const uint32_t x = kiln_f2u(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);
  if (ax >= 0x38800000u) { const uint32_t h = ax - 0x38000000u; return (uint16_t)(sign | ((h + 0xfffu + ((h >> 13) & 1u)) >> 13)); }
  if (ax <= 0x33000000u) return (uint16_t)sign;
  const uint32_t m = (ax & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - (ax >> 23);
  const uint32_t rem = m & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
  uint32_t q = m >> shift;
  if (rem > halfway || (rem == halfway && (q & 1u))) q += 1u;
  return (uint16_t)(sign | q);
}
${qual} float kiln_h2f(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1fu) return kiln_u2f(sign | 0x7f800000u | (m << 13));
  if (e != 0u) return kiln_u2f(sign | ((e + 112u) << 23) | (m << 13));
  const float v = (float)m * 5.9604644775390625e-8f;
  return sign ? -v : v;
}
${qual} uint16_t kiln_f2bf(float f) {
  const uint32_t x = kiln_f2u(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x0040u);
  return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}
${qual} float kiln_bf2f(uint16_t b) { return kiln_u2f((uint32_t)b << 16); }
${qual} float kiln_d2f_odd(double d) {
  const float f = (float)d;
  if ((double)f == d || d != d) return f;
  uint32_t u = kiln_f2u(f);
  if (fabs((double)f) > fabs(d)) u -= 1u;
  return kiln_u2f(u | 1u);
}
${qual} float kiln_rnd_h(float x) { return kiln_h2f(kiln_f2h(x)); }
${qual} float kiln_rnd_bf(float x) { return kiln_bf2f(kiln_f2bf(x)); }
${qual} float kiln_rnd_hd(double x) { return kiln_h2f(kiln_f2h(kiln_d2f_odd(x))); }
${qual} float kiln_rnd_bfd(double x) { return kiln_bf2f(kiln_f2bf(kiln_d2f_odd(x))); }
`;
}

/**
 * Half helper calls note their use (emitted_uses.ts): the helpers are emitted only then, so a
 * kernel without half values keeps the source, and so the cache key, it had before half types
 * existed, and pays nothing for them at compile time.
 */
function halfCall(name: string, arg: string): string {
  useHelper('half');
  return `${name}(${arg})`;
}

/** A value read from a buffer of dtype `dt` (`ref` is the element, e.g. `b0[i]`), as held in registers. */
export function loadValue(ref: string, dt: DType): string {
  if (dt === 'float16') return halfCall('kiln_h2f', ref);
  if (dt === 'bfloat16') return halfCall('kiln_bf2f', ref);
  return ref;
}

/** A register value `v` as stored into a buffer of dtype `dt`. */
export function storeValue(v: string, dt: DType): string {
  if (dt === 'float16') return halfCall('kiln_f2h', v);
  if (dt === 'bfloat16') return halfCall('kiln_f2bf', v);
  return v;
}

/**
 * A cast to a half type of a register value of type `from`: rounds it to the format while
 * keeping it a float. float64 and 64-bit int sources round once, from the double (a 32-bit
 * int is exact as a double; 8- and 16-bit ints are exact as floats).
 */
export function castToHalf(a: string, from: DType | 'index', to: 'float16' | 'bfloat16'): string {
  const wide = from === 'float64' || from === 'int64' || from === 'int32' || from === 'index' || from === 'uint32' || from === 'uint64';
  if (to === 'float16') return wide ? halfCall('kiln_rnd_hd', `(double)(${a})`) : halfCall('kiln_rnd_h', `(float)(${a})`);
  return wide ? halfCall('kiln_rnd_bfd', `(double)(${a})`) : halfCall('kiln_rnd_bf', `(float)(${a})`);
}
