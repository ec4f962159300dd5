// Emits loop-IR expressions as C statements (shared by the C and CUDA C backends, whose
// scalar syntax and math library names agree). Every distinct subexpression becomes one
// `const` local, so expressions duplicated by inlining are computed once per point.

import { symCName } from '../lower/sym_index.js';
import { type DType, isFloat } from '../graph/dtype.js';
import { roundHalf } from '../graph/half.js';
import { type IntDType, wrapInt } from '../graph/int.js';
import type { BinaryOp, UnaryOp } from '../graph/ir.js';
import { type EType, type Expr, children, dtOf, exprKey, varsOf } from '../lower/expr.js';
import { castToHalf, halfHelpers, loadValue, storeValue } from './half_c.js';
import { useType } from './emitted_uses.js';
import { intBinary, intCType, intHelpers, intLiteral, intUnary, saturates, saturatingCast } from './int_c.js';

/** The C type a value of `dt` has in registers (half types compute as float). */
export function cType(dt: EType): string {
  switch (dt) {
    case 'float32':
    case 'float16':
    case 'bfloat16':
      return 'float';
    case 'int32':
      return 'int32_t';
    case 'int64':
    case 'index':
      return 'int64_t';
    case 'bool':
      return 'uint8_t';
    case 'float64':
      return 'double';
    case 'int8':
    case 'uint8':
    case 'int16':
    case 'uint16':
    case 'uint32':
    case 'uint64':
      return intCType(dt);
    default:
      return dt satisfies never;
  }
}

/** The C type of a buffer element of `dt` (half types are stored as their bits). */
export function cStorageType(dt: DType): string {
  return dt === 'float16' || dt === 'bfloat16' ? useType('uint16_t') : cType(dt);
}

/** The statement storing register value `v` into element `at` of buffer `buf` of dtype `dt`. */
export function storeStmt(buf: number, at: string, v: string, dt: DType): string {
  return `b${buf}[${at}] = ${storeValue(v, dt)};`;
}

export function cLiteral(v: number, dt: EType): string {
  // A half constant is the half value (what the reference computes with), written as a float.
  if (dt === 'float16' || dt === 'bfloat16') return cLiteral(roundHalf(dt, v), 'float32');
  if (dt === 'float32') {
    if (Number.isNaN(v)) return 'NAN';
    if (v === Infinity) return 'INFINITY';
    if (v === -Infinity) return '(-INFINITY)';
    const f = Math.fround(v);
    const s = Number.isInteger(f) && Math.abs(f) < 1e15 ? `${f}.0` : f.toPrecision(9);
    return `${s}f`.replace(/^(-.*)$/, '($1)');
  }
  if (dt === 'float64') {
    if (Number.isNaN(v)) return '((double)NAN)';
    if (v === Infinity) return '((double)INFINITY)';
    if (v === -Infinity) return '(-(double)INFINITY)';
    // 17 significant digits round-trip a double exactly.
    const s = Number.isInteger(v) && Math.abs(v) < 1e15 ? `${v}.0` : v.toPrecision(17);
    return s.replace(/^(-.*)$/, '($1)');
  }
  if (dt === 'bool') return v ? '1' : '0';
  if (dt === 'int32') return `${Math.trunc(v)}`.replace(/^(-.*)$/, '($1)');
  if (dt !== 'int64' && dt !== 'index') return intLiteral(wrapInt(v, dt), dt);
  const n = Math.trunc(v);
  // INT64_MIN cannot be written as a literal.
  if (n <= -9223372036854775808) return 'INT64_MIN';
  if (n >= 9223372036854775807) return 'INT64_MAX';
  return n < 0 ? `(-${-n}LL)` : `${n}LL`;
}

/**
 * C helpers the emitted expressions call; included once per kernel source. exp, tanh and erf
 * are branch-free polynomial versions (Cephes-style range reduction; ≤ 2 ulp for exp) rather
 * than libm calls, because glibc offers vector variants only under -ffast-math, and a libm
 * call in a loop stops vectorization: with these, softmax and GELU loops vectorize.
 */
export const C_PRELUDE = `static inline float kiln_expf(float x) {
  const float xc = x < -87.0f ? -87.0f : (x > 88.5f ? 88.5f : x);
  const float fx = rintf(xc * 1.44269504088896341f);
  const float r = fmaf(fx, 2.12194440e-4f, fmaf(fx, -0.693359375f, xc));
  float p = 1.9875691500e-4f;
  p = fmaf(p, r, 1.3981999507e-3f);
  p = fmaf(p, r, 8.3334519073e-3f);
  p = fmaf(p, r, 4.1665795894e-2f);
  p = fmaf(p, r, 1.6666665459e-1f);
  p = fmaf(p, r, 5.0000001201e-1f);
  const float y = fmaf(p, r * r, r) + 1.0f;
  const int32_t bits = ((int32_t)fx + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  const float v = y * scale;
  return x != x ? x : (x < -87.33f ? 0.0f : (x > 88.7228f ? INFINITY : v));
}
static inline float kiln_tanhf(float x) {
  const float ax = fabsf(x);
  const float e = kiln_expf(-2.0f * ax);
  const float big = (1.0f - e) / (1.0f + e);
  const float x2 = x * x;
  const float small = ax * fmaf(x2, fmaf(x2, fmaf(x2, -0.053968254f, 0.133333333f), -0.333333333f), 1.0f);
  const float t = ax < 0.3f ? small : big;
  return x != x ? x : (x < 0.0f ? -t : t);
}
static inline float kiln_erff(float x) {
  const float ax = fabsf(x);
  const float t = 1.0f / fmaf(0.3275911f, ax, 1.0f);
  const float poly = t * fmaf(t, fmaf(t, fmaf(t, fmaf(t, 1.061405429f, -1.453152027f), 1.421413741f), -0.284496736f), 0.254829592f);
  const float big = 1.0f - poly * kiln_expf(-ax * ax);
  const float x2 = x * x;
  const float small = ax * 1.1283791671f * fmaf(x2, fmaf(x2, fmaf(x2, fmaf(x2, 0.0046296296f, -0.0238095238f), 0.1f), -0.3333333333f), 1.0f);
  const float r = ax < 0.5f ? small : big;
  return x != x ? x : (x < 0.0f ? -r : r);
}
static inline float kiln_sigmoid(float x) { return 1.0f / (1.0f + kiln_expf(-x)); }
static inline float kiln_gelu(float x) { return 0.5f * x * (1.0f + kiln_erff(x * 0.70710678118654752f)); }
static inline float kiln_gelu_tanh(float x) { return 0.5f * x * (1.0f + kiln_tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x))); }
static inline float kiln_silu(float x) { return x / (1.0f + kiln_expf(-x)); }
static inline float kiln_softplus(float x) { return x > 20.0f ? x : log1pf(kiln_expf(x)); }
static inline float kiln_fmod_py(float a, float b) { float r = fmodf(a, b); return (r != 0.0f && ((r < 0.0f) != (b < 0.0f))) ? r + b : r; }
static inline int64_t kiln_imod_py(int64_t a, int64_t b) { int64_t r = a % b; return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r; }
static inline int64_t kiln_ipow(int64_t a, int64_t b) { int64_t r = 1; if (b < 0) return a == 1 ? 1 : (a == -1 ? ((b & 1) ? -1 : 1) : 0); while (b) { if (b & 1) r *= a; a *= a; b >>= 1; } return r; }
static inline float kiln_maxf(float a, float b) { return (a != a || a > b) ? a : b; }
static inline float kiln_minf(float a, float b) { return (a != a || a < b) ? a : b; }
static inline double kiln_maxd(double a, double b) { return (a != a || a > b) ? a : b; }
static inline double kiln_mind(double a, double b) { return (a != a || a < b) ? a : b; }
static inline double kiln_fmod_pyd(double a, double b) { double r = fmod(a, b); return (r != 0.0 && ((r < 0.0) != (b < 0.0))) ? r + b : r; }
`;

/** The float16/bfloat16 helpers (half_c.ts) over memcpy bit casts, for kernels that use them. */
export const C_HALF_PRELUDE = `static inline uint32_t kiln_f2u(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }
static inline float kiln_u2f(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }
${halfHelpers('static inline')}`;

/** The integer division, remainder and power helpers (int_c.ts), for kernels that use them. */
export const C_INT_PRELUDE = intHelpers('static inline');

/** float64 versions of the unary ops that differ from float32's (libm's double functions). */
function unaryDouble(op: UnaryOp, a: string): string | undefined {
  switch (op) {
    case 'exp': return `exp(${a})`;
    case 'log': return `log(${a})`;
    case 'sqrt': return `sqrt(${a})`;
    case 'rsqrt': return `(1.0 / sqrt(${a}))`;
    case 'reciprocal': return `(1.0 / ${a})`;
    case 'abs': return `fabs(${a})`;
    case 'relu': return `(${a} < 0.0 ? 0.0 : ${a})`;
    case 'sigmoid': return `(1.0 / (1.0 + exp(-${a})))`;
    case 'silu': return `(${a} / (1.0 + exp(-${a})))`;
    case 'gelu': return `(0.5 * ${a} * (1.0 + erf(${a} * 0.70710678118654752)))`;
    case 'gelu_tanh': return `(0.5 * ${a} * (1.0 + tanh(0.79788456080286536 * (${a} + 0.044715 * ${a} * ${a} * ${a}))))`;
    case 'softplus': return `(${a} > 20.0 ? ${a} : log1p(exp(${a})))`;
    case 'erf': case 'tanh': case 'sin': case 'cos': case 'tan': case 'asin': case 'acos': case 'atan':
    case 'sinh': case 'cosh': case 'asinh': case 'acosh': case 'atanh': case 'floor': case 'ceil':
      return `${op}(${a})`;
    case 'round': return `rint(${a})`;
    default: return undefined;
  }
}

function unary(op: UnaryOp, a: string, dt: EType, operandDt: EType): string {
  if (dt === 'float64') {
    const d = unaryDouble(op, a);
    if (d !== undefined) return d;
  }
  const i = intUnary(op, a, dt);
  if (i !== undefined) return i;
  // float16/bfloat16 values are floats in registers: they take the float32 functions.
  const f = dt === 'float32' || dt === 'float16' || dt === 'bfloat16';
  switch (op) {
    case 'neg': return `(-${a})`;
    case 'abs': return f ? `fabsf(${a})` : `(${a} < 0 ? -${a} : ${a})`;
    case 'exp': return `kiln_expf(${a})`;
    case 'log': return `logf(${a})`;
    case 'sqrt': return `sqrtf(${a})`;
    case 'rsqrt': return `(1.0f / sqrtf(${a}))`;
    case 'sin': return `sinf(${a})`;
    case 'cos': return `cosf(${a})`;
    case 'tan': return `tanf(${a})`;
    case 'tanh': return `kiln_tanhf(${a})`;
    case 'asin': return `asinf(${a})`;
    case 'acos': return `acosf(${a})`;
    case 'atan': return `atanf(${a})`;
    case 'sinh': return `sinhf(${a})`;
    case 'cosh': return `coshf(${a})`;
    case 'asinh': return `asinhf(${a})`;
    case 'acosh': return `acoshf(${a})`;
    case 'atanh': return `atanhf(${a})`;
    case 'sigmoid': return `kiln_sigmoid(${a})`;
    case 'relu': return f ? `(${a} < 0.0f ? 0.0f : ${a})` : `(${a} < 0 ? 0 : ${a})`;
    case 'gelu': return `kiln_gelu(${a})`;
    case 'gelu_tanh': return `kiln_gelu_tanh(${a})`;
    case 'silu': return `kiln_silu(${a})`;
    case 'softplus': return `kiln_softplus(${a})`;
    case 'erf': return `kiln_erff(${a})`;
    case 'floor': return `floorf(${a})`;
    case 'ceil': return `ceilf(${a})`;
    case 'round': return `rintf(${a})`;
    case 'reciprocal': return `(1.0f / ${a})`;
    case 'sign': return `(${cType(dt)})((${a} > 0) - (${a} < 0))`;
    case 'not': return `(uint8_t)!${a}`;
    // An integer operand is never NaN or infinite (and C's isinf refuses it).
    case 'isnan': return operandDt !== 'index' && isFloat(operandDt) ? `(uint8_t)(${a} != ${a})` : '(uint8_t)0';
    case 'isinf': return operandDt !== 'index' && isFloat(operandDt) ? `(uint8_t)(isinf(${a}) != 0)` : '(uint8_t)0';
    default: return op satisfies never;
  }
}

function binary(op: BinaryOp | 'idiv' | 'imod', a: string, b: string, operandDt: EType, dt: EType): string {
  const f = operandDt === 'float32' || operandDt === 'float16' || operandDt === 'bfloat16';
  const d = operandDt === 'float64';
  const i = dt === operandDt ? intBinary(op, a, b, dt) : undefined;
  if (i !== undefined) return i;
  switch (op) {
    case 'add': return `(${a} + ${b})`;
    case 'sub': return `(${a} - ${b})`;
    case 'mul': return dt === 'bool' ? `(uint8_t)(${a} && ${b})` : `(${a} * ${b})`;
    case 'div': return `(${a} / ${b})`;
    case 'idiv': return `(${a} / ${b})`;
    case 'imod': return `(${a} % ${b})`;
    case 'pow': return d ? `pow(${a}, ${b})` : f ? `powf(${a}, ${b})` : `(${cType(dt)})kiln_ipow(${a}, ${b})`;
    case 'maximum': return d ? `kiln_maxd(${a}, ${b})` : f ? `kiln_maxf(${a}, ${b})` : `(${a} > ${b} ? ${a} : ${b})`;
    case 'minimum': return d ? `kiln_mind(${a}, ${b})` : f ? `kiln_minf(${a}, ${b})` : `(${a} < ${b} ? ${a} : ${b})`;
    case 'eq': return `(uint8_t)(${a} == ${b})`;
    case 'ne': return `(uint8_t)(${a} != ${b})`;
    case 'lt': return `(uint8_t)(${a} < ${b})`;
    case 'le': return `(uint8_t)(${a} <= ${b})`;
    case 'gt': return `(uint8_t)(${a} > ${b})`;
    case 'ge': return `(uint8_t)(${a} >= ${b})`;
    case 'and': return `(uint8_t)(${a} && ${b})`;
    case 'or': return `(uint8_t)(${a} || ${b})`;
    case 'xor': return `(uint8_t)((!${a}) != (!${b}))`;
    case 'mod': return d ? `kiln_fmod_pyd(${a}, ${b})` : f ? `kiln_fmod_py(${a}, ${b})` : `(${cType(dt)})kiln_imod_py(${a}, ${b})`;
    case 'fmod': return d ? `fmod(${a}, ${b})` : f ? `fmodf(${a}, ${b})` : `(${a} % ${b})`;
    case 'trunc_div': throw new Error(`c_expr: trunc_div of ${operandDt} (integers only)`);
    default: return op satisfies never;
  }
}

function cast(a: string, from: EType, to: EType): string {
  if (to === 'bool') return `(uint8_t)(${a} != 0)`;
  if (to === 'float16' || to === 'bfloat16') return castToHalf(a, from, to);
  if (saturates(from, to)) return saturatingCast(a, from as DType, to as IntDType, cLiteral);
  const fromFloat = from !== 'index' && isFloat(from);
  if (fromFloat && (to === 'int32' || to === 'int64' || to === 'index')) {
    // Float to int conversion of NaN/inf is undefined in C; saturate instead of trapping.
    return `(${cType(to)})(${a} != ${a} ? 0 : ${a})`;
  }
  return `(${cType(to)})(${a})`;
}

/** How loads and accumulators are spelled (the CUDA backend loads through __ldg, say). */
export interface EmitDialect {
  load(buf: number, index: string, dt: DType): string;
  acc(id: number): string;
}

/** A block of statements with memoised subexpressions; child scopes see their parent's values. */
/**
 * Emits into `scope` the largest load-free subexpressions of `e` that use only the variables
 * in `vars` (and are more than a variable or a constant): emitting `e` later in a child scope
 * then reuses them, so what is invariant in an inner loop is computed outside it. Index
 * arithmetic only: loads stay where they are (a lazy branch may guard them).
 */
export function emitInvariants(scope: Scope, e: Expr, vars: ReadonlySet<string>): void {
  for (const x of invariantParts(e, vars)) scope.emit(x);
}

/** The largest load-free subexpressions of `e` (beyond variables and constants) using only `vars`, each once. */
export function invariantParts(e: Expr, vars: ReadonlySet<string>): Expr[] {
  const hasLoad = (x: Expr): boolean => x.k === 'load' || x.k === 'acc' || children(x).some(hasLoad);
  const out = new Map<string, Expr>();
  const visit = (x: Expr): void => {
    if (x.k === 'var' || x.k === 'const') return;
    const used = varsOf(x);
    if (!hasLoad(x) && [...used].every((v) => vars.has(v))) {
      if (used.size > 0) out.set(exprKey(x), x);
      return;
    }
    children(x).forEach(visit);
  };
  visit(e);
  return [...out.values()];
}

export class Scope {
  readonly lines: string[] = [];
  private readonly memo = new Map<string, string>();
  constructor(
    private readonly dialect: EmitDialect,
    private readonly counter: { n: number },
    private readonly parent?: Scope,
    private readonly indent = '  ',
  ) {}

  /** Makes `e` read as the C expression `text` in this scope and its children (a value computed elsewhere, e.g. a table entry). */
  bind(e: Expr, text: string): void {
    this.memo.set(exprKey(e), text);
  }

  child(indent = this.indent + '  '): Scope {
    return new Scope(this.dialect, this.counter, this, indent);
  }

  private lookup(key: string): string | undefined {
    return this.memo.get(key) ?? this.parent?.lookup(key);
  }

  /** Emits statements computing `e` and returns a C expression (a local's name or a literal). */
  emit(e: Expr): string {
    if (e.k === 'var') return e.name;
    if (e.k === 'sym') return symCName(e.name);
    if (e.k === 'const') return cLiteral(e.v, e.dt);
    if (e.k === 'acc') return this.dialect.acc(e.id);
    if (e.k === 'reg') return e.name;
    const key = exprKey(e);
    const found = this.lookup(key);
    if (found) return found;
    let text: string;
    switch (e.k) {
      case 'load':
        text = loadValue(this.dialect.load(e.buf, this.emit(e.at), e.dt), e.dt);
        break;
      case 'un':
        text = unary(e.op, this.emit(e.a), e.dt, dtOf(e.a));
        break;
      case 'bin':
        text = binary(e.op, this.emit(e.a), this.emit(e.b), dtOf(e.a), e.dt);
        break;
      case 'cast':
        text = cast(this.emit(e.a), dtOf(e.a), e.dt);
        break;
      case 'where': {
        const c = this.emit(e.c);
        if (e.lazy) {
          const name = `t${this.counter.n++}`;
          this.lines.push(`${this.indent}${cType(e.dt)} ${name};`);
          const ta = this.child();
          const va = ta.emit(e.a);
          const tb = this.child();
          const vb = tb.emit(e.b);
          this.lines.push(`${this.indent}if (${c}) {`, ...ta.lines, `${this.indent}  ${name} = ${va};`, `${this.indent}} else {`, ...tb.lines, `${this.indent}  ${name} = ${vb};`, `${this.indent}}`);
          this.memo.set(key, name);
          return name;
        }
        text = `(${c} ? ${this.emit(e.a)} : ${this.emit(e.b)})`;
        break;
      }
      default:
        return e satisfies never;
    }
    const name = `t${this.counter.n++}`;
    this.lines.push(`${this.indent}const ${cType(e.dt)} ${name} = ${text};`);
    this.memo.set(key, name);
    return name;
  }

  /** The indentation of this scope's statements. */
  get indentation(): string {
    return this.indent;
  }

  push(line: string): void {
    this.lines.push(this.indent + line);
  }
}
