// What each pointwise op of the graph IR computes on one element, over JS numbers (float64):
// the unary and binary functions, dtype coercion, round-half-even and erf. One definition
// serves the reference interpreter (the oracle of every test, matching PyTorch) and the ONNX
// importer's load-time folding, through their one evaluator (evaluate.ts), so a folded value
// and the reference can never disagree about an op's meaning.

import { type DType, isFloat, isHalf, isInt } from './dtype.js';
import { roundHalf } from './half.js';
import { saturateInt, toBigIntIn, wrapBig, wrapInt } from './int.js';
import { intBinaryFn, intUnaryFn } from './int_ref.js';
import type { BinaryOp, UnaryOp } from './ir.js';

/**
 * Applies dtype semantics to a float64 value: ints truncate toward zero and wrap modulo
 * 2^bits, as C's integer conversions and overflowing arithmetic do (NaN/±inf → 0: 0 keeps the
 * reference total and deterministic), bool is x != 0 (NaN → true, as C's (x != 0)), float16
 * and bfloat16 round to nearest even (their 8 and 11 bits of precision are part of a model's
 * meaning: 70000 is inf in float16). float32 values stay in float64: the reference compares
 * with a float32 tolerance.
 */
export function coerce(v: number, d: DType): number {
  if (isInt(d)) return wrapInt(v, d);
  if (d === 'bool') return v !== 0 ? 1 : 0;
  if (isHalf(d)) return roundHalf(d, v);
  return v;
}

/**
 * A value of dtype `from` cast to `to`, before coercion: a float becomes an integer by
 * truncation, saturating at the type's range (kernels do the same for the 8-, 16-bit and
 * unsigned types; for int32/int64 an out-of-range float is undefined in C). An integer past
 * 2^53 wraps from its exact value (UINT64_MAX, read as 2^64, becomes int64 -1, not 0). Every
 * other cast is coerce's.
 */
export function castValue(v: number, from: DType, to: DType): number {
  if (isFloat(from) && isInt(to)) return saturateInt(v, to);
  if (isInt(from) && isInt(to) && !Number.isSafeInteger(v)) return wrapBig(toBigIntIn(v, from), to);
  return v;
}

/** coerce, with float32 values also rounded to float32, as a kernel would store them. */
export function coerceStored(v: number, d: DType): number {
  return d === 'float32' ? Math.fround(v) : coerce(v, d);
}

const SQRT1_2 = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** Round half to even (ONNX Round, NumPy around, torch.round, C's rint). */
export function roundHalfEven(x: number): number {
  if (!Number.isFinite(x)) return x;
  const f = Math.floor(x);
  const diff = x - f;
  if (diff < 0.5) return f;
  if (diff > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * erf to ~1e-15 relative: erf(x) = 2/√π · e^{-x²} · Σ_n (2x²)^n x / (1·3·…·(2n+1)).
 * Every term is positive, so there is no cancellation; past |x| = 6, erf is ±1 in float64.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax >= 6) return Math.sign(x);
  const x2 = ax * ax;
  let term = ax;
  let sum = ax;
  for (let n = 1; n < 500; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  const r = (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
  return x < 0 ? -r : r;
}

export function unaryFn(fn: UnaryOp): (x: number) => number {
  switch (fn) {
    case 'neg': return (x) => -x;
    case 'abs': return Math.abs;
    case 'exp': return Math.exp;
    case 'log': return Math.log;
    case 'sqrt': return Math.sqrt;
    case 'rsqrt': return (x) => 1 / Math.sqrt(x);
    case 'sin': return Math.sin;
    case 'cos': return Math.cos;
    case 'tan': return Math.tan;
    case 'tanh': return Math.tanh;
    case 'sigmoid': return sigmoid;
    case 'relu': return (x) => (x < 0 ? 0 : x); // NaN stays NaN
    case 'gelu': return (x) => x * 0.5 * (1 + erf(x * SQRT1_2));
    case 'gelu_tanh': return (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
    case 'silu': return (x) => x * sigmoid(x);
    case 'erf': return erf;
    case 'floor': return Math.floor;
    case 'ceil': return Math.ceil;
    case 'round': return roundHalfEven;
    case 'reciprocal': return (x) => 1 / x;
    case 'sign': return (x) => (Number.isNaN(x) ? NaN : x > 0 ? 1 : x < 0 ? -1 : 0);
    case 'not': return (x) => (x !== 0 ? 0 : 1);
    case 'isnan': return (x) => (Number.isNaN(x) ? 1 : 0);
    case 'isinf': return (x) => (x === Infinity || x === -Infinity ? 1 : 0);
    case 'asin': return Math.asin;
    case 'acos': return Math.acos;
    case 'atan': return Math.atan;
    case 'sinh': return Math.sinh;
    case 'cosh': return Math.cosh;
    case 'asinh': return Math.asinh;
    case 'acosh': return Math.acosh;
    case 'atanh': return Math.atanh;
    // log(1 + e^x) written so it neither overflows for large x nor loses digits for small.
    case 'softplus': return (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
    default: return fn satisfies never;
  }
}

/**
 * The binary functions over float64. Integer operands take binaryFnFor's exact forms.
 */
export function binaryFn(fn: BinaryOp): (a: number, b: number) => number {
  switch (fn) {
    case 'add': return (a, b) => a + b;
    case 'sub': return (a, b) => a - b;
    case 'mul': return (a, b) => a * b;
    case 'div': return (a, b) => a / b;
    case 'pow': return Math.pow;
    case 'maximum': return (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b));
    case 'minimum': return (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b));
    case 'eq': return (a, b) => (a === b ? 1 : 0);
    case 'ne': return (a, b) => (a !== b ? 1 : 0);
    case 'lt': return (a, b) => (a < b ? 1 : 0);
    case 'le': return (a, b) => (a <= b ? 1 : 0);
    case 'gt': return (a, b) => (a > b ? 1 : 0);
    case 'ge': return (a, b) => (a >= b ? 1 : 0);
    case 'and': return (a, b) => (a !== 0 && b !== 0 ? 1 : 0);
    case 'or': return (a, b) => (a !== 0 || b !== 0 ? 1 : 0);
    case 'xor': return (a, b) => ((a !== 0) !== (b !== 0) ? 1 : 0);
    case 'mod':
      // Python-style: the result takes the divisor's sign.
      return (a, b) => {
        const r = a % b;
        return r !== 0 && (r < 0) !== (b < 0) ? r + b : r;
      };
    case 'fmod': return (a, b) => a % b; // C fmod: the result takes the dividend's sign
    case 'trunc_div': return (a, b) => (b === 0 ? 0 : Math.trunc(a / b));
    default: return fn satisfies never;
  }
}

/** The binary function for operands of dtype `operandDt`: integers wrap exactly (int_ref.ts). */
export function binaryFnFor(fn: BinaryOp, operandDt: DType): (a: number, b: number) => number {
  return (isInt(operandDt) ? intBinaryFn(fn, operandDt) : undefined) ?? binaryFn(fn);
}

/** The unary function for an operand of dtype `dt`: integer negation wraps exactly (int_ref.ts). */
export function unaryFnFor(fn: UnaryOp, dt: DType): (x: number) => number {
  return (isInt(dt) ? intUnaryFn(fn, dt) : undefined) ?? unaryFn(fn);
}
