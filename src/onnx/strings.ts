// ONNX Cast to and from STRING, on the host: parsing a string tensor fed to a model into the
// numbers its Cast nodes produce, and formatting a numeric result as the strings a Cast to
// STRING would return.
//
// Parsing follows the Cast spec: plain ("3.14", "1000") and scientific ("1e-5", "1E8")
// numbers, and the reserved words "NaN", "INF", "+INF", "-INF" in any case (C's strtod also
// takes "infinity", so do we). Surrounding whitespace is ignored; anything else is an error
// rather than ONNX's "undefined behaviour". A float32 target rounds the decimal to float64
// and then to float32, which can differ from strtof's single rounding only for decimals of
// 17+ digits sitting on a float32 tie.
//
// Formatting is NumPy's str() of the scalar, which is what the ONNX reference (and its test
// data) uses: the shortest digits that read back as the same value *in the source type*
// (0.1f → "0.1", not float64's "0.10000000149011612"), positional for 1e-4 <= |x| < 1e16
// ("3.0", "0.0001"), scientific otherwise ("1e-05", "1.5e+20"). NaN and infinities are the
// spec's reserved words "NaN", "INF" and "-INF", so that the strings parse back. Integers
// print in decimal.

import { type DType, isHalf, isInt, numbersToTyped, typedToNumbers } from '../graph/dtype.js';
import { roundHalf } from '../graph/half.js';
import { saturateBig, saturateToBig } from '../graph/int.js';
import { NDArray } from '../graph/ndarray.js';
import { OnnxInputError } from './errors.js';
import { StringTensor } from './string_tensor.js';

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;

/** The number a string denotes under Cast's rules, or undefined when it is not one. */
export function parseOnnxNumber(s: string): number | undefined {
  const t = s.trim();
  if (/^[+-]?(inf|infinity)$/i.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  if (/^[+-]?nan$/i.test(t)) return NaN;
  return DECIMAL.test(t) ? Number(t) : undefined;
}

/** Parses every string of `t` into an array of dtype `to` (Cast from STRING). `what` names the input in errors. */
export function parseStrings(t: StringTensor, to: DType, what: string): NDArray {
  const bad = (i: number): never => {
    throw new OnnxInputError(`${what}: element ${i} (${JSON.stringify(t.data[i])}) is not a number (Cast from STRING reads decimal or scientific numbers, NaN, INF, +INF, -INF)`);
  };
  if (isInt(to)) {
    // Integer strings go through BigInt, exactly; others truncate toward zero like a float
    // cast. Either way out-of-range values saturate, as kiln's float → int casts do.
    const vals = t.data.map((s, i) => (INTEGER.test(s.trim()) ? saturateBig(BigInt(s.trim()), to) : saturateToBig(parseOnnxNumber(s) ?? bad(i), to)));
    const out = to === 'int64' ? BigInt64Array.from(vals) : to === 'uint64' ? BigUint64Array.from(vals) : numbersToTyped(to, vals.map(Number));
    return NDArray.from(out, t.shape, { dtype: to });
  }
  const nums = new Float64Array(t.size);
  t.data.forEach((s, i) => (nums[i] = parseOnnxNumber(s) ?? bad(i)));
  return NDArray.from(numbersToTyped(to, nums), t.shape, { dtype: to });
}

/** `x` rounded to dtype `d` (the test that a digit string reads back as the same value). */
function roundTo(d: DType, x: number): number {
  if (d === 'float32') return Math.fround(x);
  return isHalf(d) ? roundHalf(d, x) : x;
}

/** NumPy's str() of a float of dtype `d` whose value is `x` (see the header). */
export function formatFloat(x: number, d: DType): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'INF';
  if (x === -Infinity) return '-INF';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  // The correctly rounded p-digit decimal for the smallest p that reads back as x. (Exactly
  // at a power of two, Dragon4 may find a p-digit string on the far side of x that this
  // misses, printing one digit more; the value still reads back exactly.)
  let exp = '';
  for (let p = 1; p <= 17; p++) {
    exp = x.toExponential(p - 1);
    if (roundTo(d, Number(exp)) === x) break;
  }
  const [mant, e] = exp.split('e') as [string, string];
  const neg = mant.startsWith('-');
  const digits = mant.replace(/^-/, '').replace('.', '');
  const e10 = Number(e);
  const ax = Math.abs(x);
  let body: string;
  if (ax >= 1e-4 && ax < 1e16) {
    if (e10 >= 0) {
      const int = digits.slice(0, e10 + 1).padEnd(e10 + 1, '0');
      const frac = digits.slice(e10 + 1);
      body = `${int}.${frac || '0'}`;
    } else {
      body = `0.${'0'.repeat(-e10 - 1)}${digits}`;
    }
  } else {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    body = `${m}e${e10 < 0 ? '-' : '+'}${String(Math.abs(e10)).padStart(2, '0')}`;
  }
  return neg ? `-${body}` : body;
}

/** Formats a numeric result as strings (Cast to STRING); bool has no defined text and is refused earlier. */
export async function formatStrings(a: NDArray): Promise<StringTensor> {
  const data = await a.toTypedArray();
  let out: string[];
  if (isInt(a.dtype)) out = Array.from(data as ArrayLike<number | bigint>, (v) => String(v));
  else {
    const nums = typedToNumbers(a.dtype, data);
    out = Array.from(nums, (v) => formatFloat(v, a.dtype));
  }
  return new StringTensor(out, a.shape);
}
