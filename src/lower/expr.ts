// Scalar expressions of the loop IR. One type serves both values (float/int/bool) and index
// arithmetic (dtype 'index', a 64-bit signed integer), because gathers turn loaded values into
// indices. Constructors fold constants and simplify index arithmetic as they build, using the
// ranges of loop variables, so views (reshape, permute, slice, expand) become cheap affine
// index expressions instead of copies.

import type { DType } from '../graph/dtype.js';
import type { BinaryOp, UnaryOp } from '../graph/ir.js';
import { SYM_MAX, SYM_MIN, type SymInt } from '../graph/sym.js';

export type EType = DType | 'index';

export type Expr =
  /**
   * A loop variable in [0, extent). Over a symbolic extent `ext` (graph/sym.ts), `extent` is
   * its largest value under the symbols' bounds, so numeric ranges stay sound for every binding.
   */
  | { readonly k: 'var'; readonly name: string; readonly extent: number; readonly ext?: SymInt }
  /** A size symbol (a kernel argument), in [SYM_MIN, SYM_MAX]. */
  | { readonly k: 'sym'; readonly name: string }
  | { readonly k: 'const'; readonly v: number; readonly dt: EType }
  | { readonly k: 'load'; readonly buf: number; readonly at: Expr; readonly dt: DType }
  | { readonly k: 'un'; readonly op: UnaryOp; readonly a: Expr; readonly dt: EType }
  | { readonly k: 'bin'; readonly op: BinaryOp | 'idiv' | 'imod'; readonly a: Expr; readonly b: Expr; readonly dt: EType }
  /** `lazy`: only the chosen branch may be evaluated (its loads may be out of bounds otherwise, as in cat). */
  | { readonly k: 'where'; readonly c: Expr; readonly a: Expr; readonly b: Expr; readonly dt: EType; readonly lazy?: boolean }
  | { readonly k: 'cast'; readonly a: Expr; readonly dt: EType }
  /** The finished value of reduction `id` of the enclosing kernel (or the matmul accumulator, id 0). */
  | { readonly k: 'acc'; readonly id: number; readonly dt: DType }
  /**
   * A value the backend already holds in a register (a lane of a vector load, a preloaded row
   * element), named in the target language. It carries the value's dtype, so the code it feeds
   * is typed as the load it replaces: a loop variable standing in for it would read as an
   * index, and `pow` of an index is the integer power.
   */
  | { readonly k: 'reg'; readonly name: string; readonly dt: DType };

export function dtOf(e: Expr): EType {
  return e.k === 'var' || e.k === 'sym' ? 'index' : e.dt;
}

export const loopVar = (name: string, extent: number): Expr => ({ k: 'var', name, extent });
export const reg = (name: string, dt: DType): Expr => ({ k: 'reg', name, dt });
export const cst = (v: number, dt: EType): Expr => ({ k: 'const', v, dt });
export const idx = (v: number): Expr => cst(v, 'index');

/** Inclusive-exclusive bounds [lo, hi) of an index expression, or undefined if unknown. */
export function range(e: Expr): [number, number] | undefined {
  switch (e.k) {
    case 'var':
      return [0, e.extent];
    case 'sym':
      return [SYM_MIN, SYM_MAX + 1];
    case 'const':
      return [e.v, e.v + 1];
    case 'bin': {
      if (e.op === 'maximum' || e.op === 'minimum') return clampRange(e);
      const a = range(e.a);
      const b = range(e.b);
      if (!a || !b) return undefined;
      if (e.op === 'add') return [a[0] + b[0], a[1] + b[1] - 1];
      if (e.op === 'mul' && e.b.k === 'const') {
        const c = e.b.v;
        return c >= 0 ? [a[0] * c, (a[1] - 1) * c + 1] : [(a[1] - 1) * c, a[0] * c + 1];
      }
      if (e.op === 'idiv' && e.b.k === 'const' && e.b.v > 0 && a[0] >= 0) {
        return [Math.floor(a[0] / e.b.v), Math.floor((a[1] - 1) / e.b.v) + 1];
      }
      if (e.op === 'imod' && e.b.k === 'const' && e.b.v > 0 && a[0] >= 0) {
        return a[1] <= e.b.v ? a : [0, e.b.v];
      }
      return undefined;
    }
    case 'cast':
      // Widening an integer to int64 or an index keeps its value.
      return isIntegral(dtOf(e.a)) && (e.dt === 'index' || e.dt === 'int64') ? range(e.a) : undefined;
    default:
      return undefined;
  }
}

function isIntegral(dt: EType): boolean {
  return dt === 'index' || dt === 'bool' || /^u?int/.test(dt);
}

/**
 * Bounds of an integer maximum/minimum with a constant, including a clamp of an unbounded
 * value (max(min(x, hi), lo), as GatherND's importer writes): [lo, hi + 1).
 */
function clampRange(e: Expr & { k: 'bin' }): [number, number] | undefined {
  if (e.b.k !== 'const' || !isIntegral(e.dt)) return undefined;
  const c = e.b.v;
  const inner = e.a.k === 'bin' && e.a.b.k === 'const' && e.a.op === (e.op === 'maximum' ? 'minimum' : 'maximum') ? e.a.b.v : undefined;
  const a = range(e.a);
  if (e.op === 'maximum') {
    if (a) return [Math.max(a[0], c), Math.max(a[1], c + 1)];
    return inner === undefined ? undefined : [c, Math.max(c, inner) + 1];
  }
  if (a) return [Math.min(a[0], c), Math.min(a[1], c + 1)];
  return inner === undefined ? undefined : [Math.min(inner, c), c + 1];
}

/** Splits an index sum into its terms (flattening nested adds). */
export function terms(e: Expr): Expr[] {
  return e.k === 'bin' && e.op === 'add' && e.dt === 'index' ? [...terms(e.a), ...terms(e.b)] : [e];
}

/** The constant multiplier of a term: x*c → [x, c]; c → [1, c]. */
export function coeff(t: Expr): [Expr | undefined, number] {
  if (t.k === 'const') return [undefined, t.v];
  if (t.k === 'bin' && t.op === 'mul' && t.b.k === 'const') return [t.a, t.b.v];
  return [t, 1];
}

export function sumOf(ts: Expr[]): Expr {
  if (ts.length === 0) return idx(0);
  return ts.reduce((acc, t) => ({ k: 'bin', op: 'add', a: acc, b: t, dt: 'index' }) as Expr);
}

export function iadd(a: Expr, b: Expr): Expr {
  // Collect like terms so (x*3 + y) + x*2 becomes x*5 + y; constants go last.
  const all = [...terms(a), ...terms(b)];
  let c = 0;
  const keyed = new Map<string, [Expr, number]>();
  for (const t of all) {
    const [base, k] = coeff(t);
    if (!base) {
      c += k;
      continue;
    }
    const key = exprKey(base);
    const prev = keyed.get(key);
    keyed.set(key, [base, (prev?.[1] ?? 0) + k]);
  }
  // x // c * c + x % c = x (for the nonnegative x that index arithmetic handles): undoes the
  // div/mod of unflatten when flatten recombines the same dims.
  for (let changed = true; changed; ) {
    changed = false;
    for (const [key, [base, k]] of keyed) {
      if (base.k !== 'bin' || base.op !== 'imod') continue;
      // The division term: (x // c)·c·k for a constant c; over a symbolic size D (an index
      // expression), (x // D)·D with the same coefficient k.
      const divKey =
        base.b.k === 'const'
          ? exprKey(idiv(base.a, base.b.v))
          : exprKey({ k: 'bin', op: 'mul', a: { k: 'bin', op: 'idiv', a: base.a, b: base.b, dt: 'index' }, b: base.b, dt: 'index' });
      const div = keyed.get(divKey);
      if (!div || div[1] !== (base.b.k === 'const' ? k * base.b.v : k) || (range(base.a)?.[0] ?? -1) < 0) continue;
      keyed.delete(divKey);
      keyed.delete(key);
      const prev = keyed.get(exprKey(base.a));
      keyed.set(exprKey(base.a), [base.a, (prev?.[1] ?? 0) + k]);
      changed = true;
      break;
    }
  }
  const out: Expr[] = [];
  for (const [base, k] of keyed.values()) if (k !== 0) out.push(k === 1 ? base : rawMul(base, k));
  if (c !== 0 || out.length === 0) out.push(idx(c));
  return sumOf(out);
}

function rawMul(a: Expr, c: number): Expr {
  return { k: 'bin', op: 'mul', a, b: idx(c), dt: 'index' };
}

export function imul(a: Expr, c: number): Expr {
  if (c === 0) return idx(0);
  if (c === 1) return a;
  if (a.k === 'const') return idx(a.v * c);
  const ts = terms(a);
  if (ts.length > 1) return ts.map((t) => imul(t, c)).reduce(iadd);
  const [base, k] = coeff(a);
  return base ? rawMul(base, k * c) : idx(k * c);
}

export function idiv(a: Expr, c: number): Expr {
  if (c === 1) return a;
  const r = range(a);
  if (r && r[0] >= 0 && r[1] <= c) return idx(0);
  if (a.k === 'const') return idx(Math.floor(a.v / c));
  // (x*c*k + y) / c = x*k + y/c when 0 <= y < c... only split exact multiples off a nonnegative remainder.
  const ts = terms(a);
  const divisible: Expr[] = [];
  const rest: Expr[] = [];
  for (const t of ts) {
    const [base, k] = coeff(t);
    if (k % c === 0) divisible.push(base ? imul(base, k / c) : idx(k / c));
    else rest.push(t);
  }
  if (divisible.length > 0) {
    const restSum = sumOf(rest);
    const rr = range(restSum);
    if (rr && rr[0] >= 0) {
      return iadd(divisible.reduce(iadd), rest.length ? idiv(restSum, c) : idx(0));
    }
  }
  // (x*k + y) / c = x / (c/k) when k divides c, 0 <= y < k and x >= 0: a reshape that merged
  // dims (y the inner one), read back through a coarser split.
  if (ts.length > 1) {
    for (const t of ts) {
      const [base, k] = coeff(t);
      if (!base || k <= 1 || c % k !== 0) continue;
      const rr = range(sumOf(ts.filter((u) => u !== t)));
      const rb = range(base);
      if (rr && rr[0] >= 0 && rr[1] <= k && rb && rb[0] >= 0) return idiv(base, c / k);
    }
  }
  // (x / a) / b = x / (a*b)
  if (a.k === 'bin' && a.op === 'idiv' && a.b.k === 'const' && (range(a.a)?.[0] ?? -1) >= 0) return idiv(a.a, a.b.v * c);
  // (q·X + y) / (q·c') = X / c' when 0 ≤ y < q (a flat index over [.., A, B] divided past B).
  const split = commonFactor(ts, c);
  if (split) return idiv(split.x, c / split.q);
  return { k: 'bin', op: 'idiv', a, b: idx(c), dt: 'index' };
}

export function imod(a: Expr, c: number): Expr {
  if (c === 1) return idx(0);
  const r = range(a);
  if (r && r[0] >= 0 && r[1] <= c) return a;
  if (a.k === 'const') return idx(((a.v % c) + c) % c);
  const ts = terms(a);
  const kept = ts.filter((t) => coeff(t)[1] % c !== 0);
  if (kept.length < ts.length) {
    const s = sumOf(kept);
    const rr = range(s);
    if (rr && rr[0] >= 0) return imod(s, c);
  }
  // (x % (c*k)) % c = x % c
  if (a.k === 'bin' && a.op === 'imod' && a.b.k === 'const' && a.b.v % c === 0) return imod(a.a, c);
  // (q·X + y) % (q·c') = (X % c')·q + y when 0 ≤ y < q.
  const split = commonFactor(ts, c);
  if (split) return iadd(imul(imod(split.x, c / split.q), split.q), split.y);
  return { k: 'bin', op: 'imod', a, b: idx(c), dt: 'index' };
}

function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * A factor q of c (1 < q < c) with the sum `ts` = q·X + y, X ≥ 0 and 0 ≤ y < q: then
 * (q·X + y) / c = X / (c/q) and (q·X + y) % c = (X % (c/q))·q + y. Tries q = gcd(c, coefficient)
 * for each term's coefficient, largest first.
 */
function commonFactor(ts: readonly Expr[], c: number): { q: number; x: Expr; y: Expr } | undefined {
  const qs = [...new Set(ts.map((t) => gcd(c, coeff(t)[1])))].filter((q) => q > 1 && q < c).sort((p, q) => q - p);
  for (const q of qs) {
    const big: Expr[] = [];
    const small: Expr[] = [];
    for (const t of ts) {
      const [base, k] = coeff(t);
      if (k % q === 0) big.push(base ? imul(base, k / q) : idx(k / q));
      else small.push(t);
    }
    if (big.length === 0) continue;
    const x = big.reduce(iadd);
    const y = sumOf(small);
    const rx = range(x);
    const ry = range(y);
    if (rx && ry && rx[0] >= 0 && ry[0] >= 0 && ry[1] <= q) return { q, x, y };
  }
  return undefined;
}

/** A structural key: equal keys mean equal expressions. */
export function exprKey(e: Expr): string {
  switch (e.k) {
    case 'var':
      return e.name;
    case 'sym':
      return `$${e.name}`;
    case 'const':
      return `${e.v}:${e.dt}`;
    case 'load':
      return `L${e.buf}[${exprKey(e.at)}]`;
    case 'un':
      return `${e.op}(${exprKey(e.a)})`;
    case 'bin':
      return `(${exprKey(e.a)} ${e.op} ${exprKey(e.b)}):${e.dt}`;
    case 'where':
      return `?${e.lazy ? 'L' : ''}(${exprKey(e.c)},${exprKey(e.a)},${exprKey(e.b)}):${e.dt}`;
    case 'cast':
      return `${e.dt}(${exprKey(e.a)})`;
    case 'acc':
      return `acc${e.id}`;
    case 'reg':
      return `R(${e.name}):${e.dt}`;
    default:
      return e satisfies never;
  }
}

/** Names of the loop variables an expression uses. */
export function varsOf(e: Expr, out = new Set<string>()): Set<string> {
  if (e.k === 'var') out.add(e.name);
  for (const c of children(e)) varsOf(c, out);
  return out;
}

/** Number of nodes, counting shared subtrees each time they occur (the cost of inlining). */
export function exprSize(e: Expr): number {
  return children(e).reduce((n, c) => n + exprSize(c), 1);
}

/** Human-readable form for KILN_DEBUG=loops. */
export function fmtExpr(e: Expr): string {
  switch (e.k) {
    case 'var':
      return e.name;
    case 'sym':
      return `$${e.name}`;
    case 'const':
      return String(e.v);
    case 'load':
      return `b${e.buf}[${fmtExpr(e.at)}]`;
    case 'un':
      return `${e.op}(${fmtExpr(e.a)})`;
    case 'bin': {
      const sym: Record<string, string> = { add: '+', sub: '-', mul: '*', div: '/', idiv: '//', imod: '%' };
      return sym[e.op] ? `(${fmtExpr(e.a)} ${sym[e.op]} ${fmtExpr(e.b)})` : `${e.op}(${fmtExpr(e.a)}, ${fmtExpr(e.b)})`;
    }
    case 'where':
      return `where(${fmtExpr(e.c)}, ${fmtExpr(e.a)}, ${fmtExpr(e.b)})`;
    case 'cast':
      return `${e.dt}(${fmtExpr(e.a)})`;
    case 'acc':
      return `acc${e.id}`;
    case 'reg':
      return `reg(${e.name})`;
    default:
      return e satisfies never;
  }
}

/**
 * Rebuilds `e` with loop variables replaced (index arithmetic re-simplified on the way), so a
 * backend can express a kernel's multi-dimensional point through its own thread indices.
 */
export function substitute(e: Expr, vars: ReadonlyMap<string, Expr>): Expr {
  switch (e.k) {
    case 'var':
      return vars.get(e.name) ?? e;
    case 'sym':
    case 'const':
    case 'acc':
    case 'reg':
      return e;
    case 'load':
      return { ...e, at: substitute(e.at, vars) };
    case 'un':
    case 'cast':
      return { ...e, a: substitute(e.a, vars) };
    case 'where':
      return { ...e, c: substitute(e.c, vars), a: substitute(e.a, vars), b: substitute(e.b, vars) };
    case 'bin': {
      const a = substitute(e.a, vars);
      const b = substitute(e.b, vars);
      if (e.dt === 'index' && b.k === 'const') {
        if (e.op === 'add') return iadd(a, b);
        if (e.op === 'mul') return imul(a, b.v);
        if (e.op === 'idiv') return idiv(a, b.v);
        if (e.op === 'imod') return imod(a, b.v);
      }
      if (e.dt === 'index' && e.op === 'add') return iadd(a, b);
      return { ...e, a, b };
    }
    default:
      return e satisfies never;
  }
}

/** Evaluates an index expression with integer variable values (no loads). */
export function evalIndex(e: Expr, env: ReadonlyMap<string, number>): number {
  switch (e.k) {
    case 'var':
      return env.get(e.name) ?? 0;
    case 'sym': {
      const v = env.get(e.name);
      if (v === undefined) throw new Error(`evalIndex: no value for size symbol ${e.name}`);
      return v;
    }
    case 'const':
      return e.v;
    case 'bin': {
      const a = evalIndex(e.a, env);
      const b = evalIndex(e.b, env);
      switch (e.op) {
        case 'add': return a + b;
        case 'mul': return a * b;
        case 'idiv': return Math.floor(a / b);
        case 'imod': return ((a % b) + b) % b;
        // Conditions on indices (a window's padding test), as 0/1.
        case 'lt': return Number(a < b);
        case 'le': return Number(a <= b);
        case 'gt': return Number(a > b);
        case 'ge': return Number(a >= b);
        case 'eq': return Number(a === b);
        case 'ne': return Number(a !== b);
        case 'and': return Number(a !== 0 && b !== 0);
        case 'or': return Number(a !== 0 || b !== 0);
        default: break;
      }
      throw new Error(`evalIndex: unsupported op ${e.op}`);
    }
    case 'where':
      return evalIndex(e.c, env) !== 0 ? evalIndex(e.a, env) : evalIndex(e.b, env);
    default:
      throw new Error(`evalIndex: not an index expression (${e.k})`);
  }
}

/** The direct subexpressions of `e`. */
export function children(e: Expr): Expr[] {
  switch (e.k) {
    case 'var':
    case 'sym':
    case 'const':
    case 'acc':
    case 'reg':
      return [];
    case 'load':
      return [e.at];
    case 'un':
    case 'cast':
      return [e.a];
    case 'bin':
      return [e.a, e.b];
    case 'where':
      return [e.c, e.a, e.b];
    default:
      return e satisfies never;
  }
}

/** `e` with each direct subexpression replaced by `f(child)` (no re-simplification). */
export function mapChildren(e: Expr, f: (c: Expr) => Expr): Expr {
  switch (e.k) {
    case 'var':
    case 'sym':
    case 'const':
    case 'acc':
    case 'reg':
      return e;
    case 'load':
      return { ...e, at: f(e.at) };
    case 'un':
    case 'cast':
      return { ...e, a: f(e.a) };
    case 'bin':
      return { ...e, a: f(e.a), b: f(e.b) };
    case 'where':
      return { ...e, c: f(e.c), a: f(e.a), b: f(e.b) };
    default:
      return e satisfies never;
  }
}
