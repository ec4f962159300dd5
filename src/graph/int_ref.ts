// Integer arithmetic of the graph IR over JS numbers, as kernels compute it: two's complement
// modulo 2^bits, division by zero giving 0 (NumPy's answer; in C it traps), INT_MIN / -1
// wrapping. Values are numbers (what the reference interpreter and load-time folding hold);
// whenever a result could pass 2^53, where doubles stop being exact, it is computed as a
// bigint instead, so a uint32 product or an int64 sum near the top of its range is exact.

import { type IntDType, toBigIntIn, wrapBig, wrapInt } from './int.js';
import type { BinaryOp, UnaryOp } from './ir.js';

type Fn = (a: number, b: number) => number;

/** Integer powers: negative exponents as kiln_ipow (1 and -1 keep their powers, else 0), others by squaring modulo 2^64. */
function intPow(a: number, b: number, dt: IntDType): number {
  if (b < 0) return a === 1 ? 1 : a === -1 ? (b % 2 === 0 ? 1 : -1) : 0;
  let base = BigInt.asUintN(64, toBigIntIn(a, dt));
  let e = toBigIntIn(b, dt);
  let r = 1n;
  while (e > 0n) {
    if (e & 1n) r = BigInt.asUintN(64, r * base);
    base = BigInt.asUintN(64, base * base);
    e >>= 1n;
  }
  return wrapBig(r, dt);
}

/**
 * The exact wrapping form of `fn` on operands of integer dtype `dt`, or undefined where the
 * float form is already exact (comparisons, max/min).
 */
export function intBinaryFn(fn: BinaryOp, dt: IntDType): Fn | undefined {
  const safe = (a: number, b: number) => Number.isSafeInteger(a) && Number.isSafeInteger(b);
  /** f on exact numbers when `quick` is exact, else on bigints. */
  const exact = (quick: Fn, slow: (x: bigint, y: bigint) => bigint): Fn => (a, b) => {
    const r = quick(a, b);
    return safe(a, b) && Number.isSafeInteger(r) ? wrapInt(r, dt) : wrapBig(slow(toBigIntIn(a, dt), toBigIntIn(b, dt)), dt);
  };
  switch (fn) {
    case 'add': return exact((a, b) => a + b, (x, y) => x + y);
    case 'sub': return exact((a, b) => a - b, (x, y) => x - y);
    case 'mul': return exact((a, b) => a * b, (x, y) => x * y);
    // Below 2^53 a double quotient truncates to the exact one (its error is under 1/|b|).
    case 'trunc_div': {
      const q = exact((a, b) => Math.trunc(a / b), (x, y) => x / y);
      return (a, b) => (b === 0 ? 0 : q(a, b));
    }
    case 'fmod': {
      const r = exact((a, b) => a % b, (x, y) => x % y);
      return (a, b) => (b === 0 ? 0 : r(a, b));
    }
    case 'mod': {
      // Python's: the remainder takes the divisor's sign.
      const r = exact((a, b) => a % b, (x, y) => x % y);
      return (a, b) => {
        if (b === 0) return 0;
        const m = r(a, b);
        return m !== 0 && m < 0 !== b < 0 ? wrapInt(m + b, dt) : m;
      };
    }
    case 'pow': return (a, b) => intPow(a, b, dt);
    default: return undefined;
  }
}

/** The exact wrapping form of negation and abs on integer dtype `dt` (UINT64_MAX's negation is 1), or undefined. */
export function intUnaryFn(fn: UnaryOp, dt: IntDType): ((x: number) => number) | undefined {
  const sub = intBinaryFn('sub', dt)!;
  if (fn === 'neg') return (x) => sub(0, x);
  if (fn === 'abs') return (x) => (x < 0 ? sub(0, x) : x);
  return undefined;
}
