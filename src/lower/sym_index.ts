// Index arithmetic over symbolic sizes: the loop IR's index expressions where a stride, an
// extent or a divisor is a SymInt (graph/sym.ts). A product of size symbols is an Expr of
// `sym` leaves; a term of an index sum is then x · (symbols) · k, and these constructors keep
// that form so like terms still collect (expr.ts's iadd). Division and remainder by a
// symbolic size split off the terms that are exact multiples of it and simplify the rest away
// only when it provably lies in [0, size) for every binding; otherwise the division stays in
// the code (correct, just slower). Static sizes take expr.ts's constructors unchanged, so a
// static graph lowers exactly as it did.

import { SYM_MAX, SymInt, type Dim } from '../graph/sym.js';
import { type Expr, coeff, exprKey, iadd, idiv, idx, imod, imul, loopVar, range, sumOf, terms } from './expr.js';

/** The C name of a size symbol's kernel argument. */
export const symCName = (name: string): string => `sz_${name}`;

const symLeaf = (name: string): Expr => ({ k: 'sym', name });

/** The symbols of a product of `sym` leaves, or undefined when `e` is not one. */
function monoNames(e: Expr): string[] | undefined {
  if (e.k === 'sym') return [e.name];
  if (e.k === 'bin' && e.op === 'mul' && e.dt === 'index') {
    const a = monoNames(e.a);
    const b = a && monoNames(e.b);
    return a && b ? [...a, ...b] : undefined;
  }
  return undefined;
}

/** The product of the named symbols, in canonical (sorted) order. */
function monoExpr(names: readonly string[]): Expr {
  const sorted = [...names].sort();
  return sorted.slice(1).reduce<Expr>((p, n) => ({ k: 'bin', op: 'mul', a: p, b: symLeaf(n), dt: 'index' }), symLeaf(sorted[0]!));
}

/** A term of an index sum as x · Π names · k (x undefined: a pure size term). */
export interface SymTerm {
  x: Expr | undefined;
  names: string[];
  k: number;
}

export function splitTerm(t: Expr): SymTerm {
  const [base, k] = coeff(t);
  if (!base) return { x: undefined, names: [], k };
  const whole = monoNames(base);
  if (whole) return { x: undefined, names: whole, k };
  if (base.k === 'bin' && base.op === 'mul' && base.dt === 'index') {
    const names = monoNames(base.b);
    if (names) return { x: base.a, names, k };
  }
  return { x: base, names: [], k };
}

function joinTerm(t: SymTerm): Expr {
  if (t.names.length === 0) return t.x ? imul(t.x, t.k) : idx(t.k);
  const mono = monoExpr(t.names);
  return imul(t.x ? { k: 'bin', op: 'mul', a: t.x, b: mono, dt: 'index' } : mono, t.k);
}

/** A SymInt as an index expression. */
export function symExpr(s: Dim): Expr {
  if (typeof s === 'number') return idx(s);
  const c = s.constant;
  if (c !== undefined) return idx(c);
  return s.toJSON().map(([k, names]) => joinTerm({ x: undefined, names, k })).reduce(iadd);
}

/** A loop variable over [0, ext): symbolic extents keep numeric ranges at their bound. */
export function loopVarDim(name: string, ext: Dim): Expr {
  if (typeof ext === 'number') return loopVar(name, ext);
  const c = ext.constant;
  if (c !== undefined) return loopVar(name, c);
  return { k: 'var', name, extent: ext.upperBound() ?? SYM_MAX, ext };
}

/** a · d. */
export function imulDim(a: Expr, d: Dim): Expr {
  if (typeof d === 'number') return imul(a, d);
  const c = d.constant;
  if (c !== undefined) return imul(a, c);
  const out: Expr[] = [];
  for (const t of terms(a)) {
    const st = splitTerm(t);
    for (const [k, names] of d.toJSON()) out.push(joinTerm({ x: st.x, names: [...st.names, ...names], k: st.k * k }));
  }
  return out.reduce(iadd);
}

/** Splits `a`'s terms into quotients of those that are exact multiples of d (one term c·M), and the rest. */
function splitMultiples(a: Expr, d: SymInt): { quotient: Expr[]; rest: Expr[] } | undefined {
  const dj = d.toJSON();
  if (dj.length !== 1) return undefined;
  const [[dc, dnames]] = dj as [[number, string[]]];
  const quotient: Expr[] = [];
  const rest: Expr[] = [];
  for (const t of terms(a)) {
    const st = splitTerm(t);
    const left = [...st.names];
    const all = dnames.every((n) => {
      const i = left.indexOf(n);
      if (i < 0) return false;
      left.splice(i, 1);
      return true;
    });
    if (all && st.k % dc === 0) quotient.push(joinTerm({ x: st.x, names: left, k: st.k / dc }));
    else rest.push(t);
  }
  return { quotient, rest };
}

/**
 * range(), and also that of a window's clamped position where(pos ≥ 0 [and pos < n], pos, 0)
 * (views.ts windowInput), which range() leaves unknown: pos's range cut by its conditions, and
 * 0. A conv's flat input index then bounds, so a symbolic batch's division and remainder drop
 * (the static program's index arithmetic, not a per-element division by a size argument).
 */
function indexRange(e: Expr): [number, number] | undefined {
  const r = range(e);
  if (r || e.k !== 'where' || e.b.k !== 'const' || e.b.v !== 0) return r;
  const pos = range(e.a);
  if (!pos) return undefined;
  let [lo, hi] = pos;
  const key = exprKey(e.a);
  const conds: Expr[] = [e.c];
  for (let c = conds.pop(); c !== undefined; c = conds.pop()) {
    if (c.k !== 'bin') continue;
    if (c.op === 'and') conds.push(c.a, c.b);
    else if (c.b.k === 'const' && exprKey(c.a) === key) {
      if (c.op === 'ge') lo = Math.max(lo, c.b.v);
      else if (c.op === 'lt') hi = Math.min(hi, c.b.v);
    }
  }
  return [Math.min(lo, 0), Math.max(hi, 1)];
}

/** The largest value of a nonnegative index expression as a SymInt, or undefined. */
function symUpper(e: Expr): SymInt | undefined {
  let total = SymInt.of(0);
  for (const t of terms(e)) {
    const st = splitTerm(t);
    if (st.k < 0) return undefined;
    let xmax: SymInt;
    if (!st.x) xmax = SymInt.of(1);
    else if (st.x.k === 'var' && st.x.ext) xmax = st.x.ext.sub(1);
    else if (st.x.k === 'bin' && st.x.op === 'idiv' && divisorOf(st.x.b)) {
      // x // d ≤ (max x + 1) / d − 1 when d divides max x + 1 exactly (a flat index over [.., d]).
      const up = symUpper(st.x.a);
      const q = up?.add(1).divExact(divisorOf(st.x.b)!);
      if (!q) return undefined;
      xmax = q.sub(1);
    } else {
      const r = indexRange(st.x);
      if (!r || r[0] < 0 || !Number.isFinite(r[1])) return undefined;
      xmax = SymInt.of(r[1] - 1);
    }
    total = total.add(st.names.reduce((p, n) => p.mul(SymInt.symbol(n)), xmax).mul(st.k));
  }
  return total;
}

/** A divisor expression as a SymInt: a constant or a product of size symbols. */
function divisorOf(e: Expr): SymInt | undefined {
  if (e.k === 'const') return SymInt.of(e.v);
  const names = monoNames(e);
  return names ? names.reduce((p, n) => p.mul(SymInt.symbol(n)), SymInt.of(1)) : undefined;
}

/** Whether e ≥ 0 for every binding (numeric ranges, and divisions and products of such by sizes). */
function nonNegative(e: Expr): boolean {
  const r = indexRange(e);
  if (r) return r[0] >= 0;
  if (e.k !== 'bin' || e.dt !== 'index') return false;
  if (e.op === 'add') return nonNegative(e.a) && nonNegative(e.b);
  if (e.op === 'idiv' || e.op === 'imod' || e.op === 'mul') return nonNegative(e.a) && divisorOf(e.b) !== undefined && nonNegative(e.b);
  return false;
}

/** Whether 0 ≤ e < d for every binding. */
function provablyBelow(e: Expr, d: SymInt): boolean {
  if (!nonNegative(e)) return false;
  const up = symUpper(e);
  return up !== undefined && up.add(1).provablyLE(d);
}

const raw = (op: 'idiv' | 'imod', a: Expr, d: SymInt): Expr => ({ k: 'bin', op, a, b: symExpr(d), dt: 'index' });

/** Floor division of a nonnegative index by a size. */
export function idivDim(a: Expr, d: Dim): Expr {
  if (typeof d === 'number') return idiv(a, d);
  const c = d.constant;
  if (c !== undefined) return idiv(a, c);
  if (provablyBelow(a, d)) return idx(0);
  // a // (c·D) = (a // c) // D for a nonnegative a: the constant part first, where the static
  // simplifier folds it (unflatten's (m·64 + n) // (64·s1) with n < 64 is m // s1, which
  // flatten's x // D · D + x % D then recombines into m).
  const dTerms = d.toJSON();
  const dc = dTerms[0]![0];
  if (dTerms.length === 1 && dc > 1 && nonNegative(a)) return idivDim(idiv(a, dc), d.divExact(dc)!);
  const split = splitMultiples(a, d);
  if (!split || split.quotient.length === 0) return raw('idiv', a, d);
  const rest = sumOf(split.rest);
  if ((range(rest)?.[0] ?? -1) < 0) return raw('idiv', a, d);
  // (d·q + y) / d = q + y / d for integers: exact whatever y is.
  const restPart = split.rest.length === 0 || provablyBelow(rest, d) ? idx(0) : raw('idiv', rest, d);
  return iadd(split.quotient.reduce(iadd), restPart);
}

/** Remainder of a nonnegative index by a size. */
export function imodDim(a: Expr, d: Dim): Expr {
  if (typeof d === 'number') return imod(a, d);
  const c = d.constant;
  if (c !== undefined) return imod(a, c);
  const split = splitMultiples(a, d);
  if (split && split.rest.length === 0) return idx(0);
  const rest = split ? sumOf(split.rest) : a;
  if (provablyBelow(rest, d)) return rest;
  // C's % truncates: only a rest known nonnegative may replace the (nonnegative) whole.
  return raw('imod', (indexRange(rest)?.[0] ?? -1) >= 0 ? rest : a, d);
}
