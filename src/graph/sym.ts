// Symbolic integer sizes: polynomials with integer coefficients over named size symbols
// (a batch `s0`, a sequence length `s1`), in one canonical form so that equal sizes compare
// equal by their key. Shapes of a symbolic graph hold them beside their hints (graph/ir.ts),
// the loop IR reads them as `sym` leaves (lower/expr.ts), kernels take them as arguments and
// the runtime evaluates them under each call's binding.
//
// Every symbol ranges over [SYM_MIN, SYM_MAX]: never 0 (an empty tensor is specialised), and
// small enough that products of a few stay exact in a double. A call outside that range fails
// the program's guards and is specialised. A symbol may be 1, unlike Inductor's (which
// specialises 0 and 1 because a 1 may broadcast): kiln's builders never broadcast a symbol
// (it meets a 1, giving itself, or itself; anything else is refused, graph/sym_shape.ts), and
// a call's input dims of one symbol are checked equal, so a symbol's value 1 computes the same
// as any other (docs/architecture.md, "Symbolic sizes"). Proofs over symbols (provably…) hold
// from 1 up; only hints stay at least HINT_MIN.

export const SYM_MIN = 1;
export const SYM_MAX = 1 << 20;

/**
 * The least size a symbolic graph is built at (its hints): a 1 in a hint shape is then always
 * a static dim, never a symbol (a reshape's target dim equal to a symbol's hint is read as
 * that symbol: sym_shape.ts matchHints, and an unsqueezed 1 must not be).
 */
export const HINT_MIN = 2;

/** A binding of size symbols to values (one call's sizes). */
export type Binding = ReadonlyMap<string, number>;

/** A monomial's key: its symbols' names, sorted, joined by '*' ('' for the constant term). */
type MonoKey = string;

const monoNames = (m: MonoKey): string[] => (m === '' ? [] : m.split('*'));
const monoKey = (names: readonly string[]): MonoKey => [...names].sort().join('*');

/** The JSON form (plans): [coefficient, symbol names] per term. */
export type SymJSON = [number, string[]][];

export class SymInt {
  /** Terms by monomial, no zero coefficients, in canonical (sorted) order. */
  private readonly terms: ReadonlyMap<MonoKey, number>;

  private constructor(terms: Map<MonoKey, number>) {
    const sorted = [...terms.entries()].filter(([, c]) => c !== 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    this.terms = new Map(sorted);
  }

  static of(v: number | SymInt): SymInt {
    if (v instanceof SymInt) return v;
    if (!Number.isInteger(v)) throw new Error(`SymInt: ${v} is not an integer`);
    return new SymInt(new Map([['', v]]));
  }

  static symbol(name: string): SymInt {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`SymInt: bad symbol name '${name}'`);
    return new SymInt(new Map([[name, 1]]));
  }

  static fromJSON(j: SymJSON): SymInt {
    return new SymInt(new Map(j.map(([c, names]) => [monoKey(names), c])));
  }

  toJSON(): SymJSON {
    return [...this.terms].map(([m, c]) => [c, monoNames(m)]);
  }

  /** The value when no symbol occurs, else undefined. */
  get constant(): number | undefined {
    if (this.terms.size === 0) return 0;
    return this.terms.size === 1 && this.terms.has('') ? this.terms.get('')! : undefined;
  }

  get isConstant(): boolean {
    return this.constant !== undefined;
  }

  /** The symbol itself when this is exactly one symbol, else undefined. */
  get bareSymbol(): string | undefined {
    if (this.terms.size !== 1) return undefined;
    const [m, c] = [...this.terms][0]!;
    return c === 1 && m !== '' && !m.includes('*') ? m : undefined;
  }

  symbols(): string[] {
    const s = new Set<string>();
    for (const m of this.terms.keys()) for (const n of monoNames(m)) s.add(n);
    return [...s].sort();
  }

  add(o: number | SymInt): SymInt {
    const t = new Map(this.terms);
    for (const [m, c] of SymInt.of(o).terms) t.set(m, (t.get(m) ?? 0) + c);
    return new SymInt(t);
  }

  sub(o: number | SymInt): SymInt {
    return this.add(SymInt.of(o).mul(-1));
  }

  mul(o: number | SymInt): SymInt {
    const t = new Map<MonoKey, number>();
    for (const [ma, ca] of this.terms) {
      for (const [mb, cb] of SymInt.of(o).terms) {
        const m = monoKey([...monoNames(ma), ...monoNames(mb)]);
        t.set(m, (t.get(m) ?? 0) + ca * cb);
      }
    }
    return new SymInt(t);
  }

  /**
   * this / d when d is one term (a coefficient times symbols) dividing every term exactly;
   * undefined when that is not provable (the caller records a guard or refuses).
   */
  divExact(d: number | SymInt): SymInt | undefined {
    const dt = [...SymInt.of(d).terms];
    if (dt.length !== 1) return this.equals(d) ? SymInt.of(1) : undefined;
    const [[dm, dc]] = dt as [[MonoKey, number]];
    const t = new Map<MonoKey, number>();
    for (const [m, c] of this.terms) {
      const rest = removeNames(monoNames(m), monoNames(dm));
      if (rest === undefined || c % dc !== 0) return undefined;
      t.set(monoKey(rest), c / dc);
    }
    return new SymInt(t);
  }

  equals(o: number | SymInt): boolean {
    return this.key() === SymInt.of(o).key();
  }

  eval(b: Binding): number {
    let v = 0;
    for (const [m, c] of this.terms) {
      let p = c;
      for (const n of monoNames(m)) {
        const x = b.get(n);
        if (x === undefined) throw new Error(`SymInt: no value for size symbol ${n} in ${this.key()}`);
        p *= x;
      }
      v += p;
    }
    return v;
  }

  /** Terms in print order: higher degree first, then by name, the constant last. */
  private printOrder(): [MonoKey, number][] {
    const degree = (m: MonoKey) => monoNames(m).length;
    return [...this.terms].sort(([a], [b]) => degree(b) - degree(a) || (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Canonical text (also the debug form): `2*s0*s1 + s1 + 3`. */
  key(): string {
    if (this.terms.size === 0) return '0';
    return this.printOrder()
      .map(([m, c]) => (m === '' ? String(c) : c === 1 ? m : `${c}*${m}`))
      .join(' + ')
      .replace(/\+ -/g, '- ');
  }

  toString(): string {
    return this.key();
  }

  /** C text, each symbol written as `cName(symbol)`; int64 arithmetic. */
  toC(cName: (sym: string) => string): string {
    if (this.terms.size === 0) return '0';
    const parts = this.printOrder().map(([m, c]) => {
      const names = monoNames(m).map(cName);
      if (names.length === 0) return `${c}LL`;
      return c === 1 ? names.join(' * ') : `${c}LL * ${names.join(' * ')}`;
    });
    return parts.length === 1 ? parts[0]! : `(${parts.join(' + ')})`;
  }

  /** Whether this is ≥ 0 for every value of its symbols in [SYM_MIN, SYM_MAX] (a sufficient test). */
  provablyNonNegative(): boolean {
    // Substitute s = SYM_MIN + t (t ≥ 0): nonnegative coefficients in t prove it.
    let p: SymInt = SymInt.of(0);
    for (const [m, c] of this.terms) {
      let term: SymInt = SymInt.of(c);
      for (const n of monoNames(m)) term = term.mul(SymInt.symbol(n).add(SYM_MIN));
      p = p.add(term);
    }
    return [...p.terms.values()].every((c) => c >= 0);
  }

  /** this ≤ o for every binding (provably). */
  provablyLE(o: number | SymInt): boolean {
    return SymInt.of(o).sub(this).provablyNonNegative();
  }

  /** Largest value over the symbols' range (monotone when coefficients are nonnegative; else undefined). */
  upperBound(): number | undefined {
    if ([...this.terms.values()].some((c) => c < 0)) return undefined;
    return this.eval(new Map(this.symbols().map((s) => [s, SYM_MAX])));
  }
}

/** `names` less one occurrence of each of `remove`, or undefined when one is missing. */
function removeNames(names: string[], remove: readonly string[]): string[] | undefined {
  const left = [...names];
  for (const r of remove) {
    const i = left.indexOf(r);
    if (i < 0) return undefined;
    left.splice(i, 1);
  }
  return left;
}

/** A dim of a symbolic shape: a plain number when static. */
export type Dim = number | SymInt;

export function dimKey(d: Dim): string {
  return typeof d === 'number' ? String(d) : d.key();
}

export function symNumel(dims: readonly Dim[]): SymInt {
  return dims.reduce<SymInt>((p, d) => p.mul(d), SymInt.of(1));
}

/** Row-major strides of a symbolic shape. */
export function symStrides(dims: readonly Dim[]): SymInt[] {
  const s = new Array<SymInt>(dims.length);
  let acc = SymInt.of(1);
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc = acc.mul(dims[i]!);
  }
  return s;
}

/** `[s0, 64]`: a symbolic shape's debug form. */
export function fmtDims(dims: readonly Dim[]): string {
  return `[${dims.map(dimKey).join(',')}]`;
}

/**
 * A fact a compiled program assumes about its sizes, checked per call: `expr` compared with
 * `value`. Builders and codegen record one where a decision depends on a size they only
 * know a hint of; a call whose sizes break one runs a specialised program instead.
 */
export interface Guard {
  expr: SymJSON;
  rel: 'eq' | 'le' | 'ge' | 'divisible';
  value: number;
  /** Why it was recorded (the decision it keeps valid), for KILN_DEBUG and errors. */
  why: string;
}

export function guardHolds(g: Guard, b: Binding): boolean {
  return guardHoldsFor(g, SymInt.fromJSON(g.expr).eval(b));
}

/** Whether guard `g` holds when its expression's value is `v`. */
export function guardHoldsFor(g: Guard, v: number): boolean {
  switch (g.rel) {
    case 'eq': return v === g.value;
    case 'le': return v <= g.value;
    case 'ge': return v >= g.value;
    case 'divisible': return v % g.value === 0;
    default: return g.rel satisfies never;
  }
}

/**
 * The guard that `e` >= 0 for every call, written as its symbols' part against a number
 * (s1 <= 512 rather than 512 - s1 >= 0); undefined when the bounds prove it for every binding.
 */
export function nonNegativeGuard(e: SymInt, why: string): Guard | undefined {
  if (e.provablyNonNegative()) return undefined;
  const c = e.toJSON().find(([, names]) => names.length === 0)?.[0] ?? 0;
  const v = e.sub(c);
  if (v.isConstant) throw new Error(`guard: ${why} fails at every size (${c} < 0)`);
  return v.toJSON().every(([k]) => k < 0) ? { expr: v.mul(-1).toJSON(), rel: 'le', value: c, why } : { expr: v.toJSON(), rel: 'ge', value: -c, why };
}

/** Adds `g` to `guards` unless an equal one is there. */
export function addGuard(guards: Guard[], g: Guard | undefined): void {
  if (g && !guards.some((h) => JSON.stringify(h) === JSON.stringify(g))) guards.push(g);
}

export function fmtGuard(g: Guard): string {
  const rel = { eq: '==', le: '<=', ge: '>=', divisible: '%' }[g.rel];
  return `${SymInt.fromJSON(g.expr).key()} ${rel} ${g.value}${g.rel === 'divisible' ? ' == 0' : ''} (${g.why})`;
}

/** Thrown where a symbolic size reaches a path that only handles static ones: the caller specialises. */
export class SymbolicUnsupportedError extends Error {
  /** `symbols`: the size symbols the refused decision involves (made static, the rest may stay symbolic). */
  constructor(
    readonly reason: string,
    readonly symbols: readonly string[] = [],
  ) {
    super(`not symbolic yet: ${reason}`);
    this.name = 'SymbolicUnsupportedError';
  }
}

/** A call whose sizes break a symbolic program's guard: compile() runs a specialisation instead. */
export class GuardFailure extends Error {
  constructor(
    readonly guard: Guard,
    readonly binding: Binding,
  ) {
    super(`sizes ${[...binding].map(([k, v]) => `${k}=${v}`).join(', ')} break the program's guard ${fmtGuard(guard)}: this program cannot run them (compile() and a loaded ONNX model compile a program for such shapes of their own)`);
    this.name = 'GuardFailure';
  }
}
