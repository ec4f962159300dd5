// Load-time folding over symbolic sizes. Exporters compute shapes with Shape → Gather →
// Concat → Reshape chains (and Range(0, seq), Slice ends, ConstantOfShape targets): over a
// model with symbolic dims (api/symbolic_variant.ts) Shape gives the symbols themselves, and
// the folded values carry them (ConstTensor.sym) beside their values at the hints. This
// follows one folded scratch graph (onnx/emit.ts) node by node: the ops that move elements
// (reshape, permute, expand, slice, cat, gather) move the symbols with them, integer add, sub,
// mul and exact division compute polynomials (graph/sym.ts), and a comparison, minimum or
// maximum over symbols is decided by the symbols' bounds where they decide it for every
// binding, else as it falls at the hints, with a guard that keeps that decision true (as
// Inductor guards a comparison of sizes: Min(seq, 512) is seq, and the plan checks
// seq <= 512 per call); `where` selects by a condition known at load. Anything else (a size cast to float, a division that is not exact) loses the
// symbols: its value is the hints' alone, as before, and compile()'s second build at other
// sizes catches a graph that then depended on them.

import { isInt } from '../graph/dtype.js';
import { type RefTensor, evalNode } from '../graph/evaluate.js';
import type { Graph, Node } from '../graph/ir.js';
import { type Binding, type Dim, type Guard, SymInt, addGuard, nonNegativeGuard } from '../graph/sym.js';

/** A node's elements over the symbols: undefined when all are numbers (its values are), null when lost. */
export type SymElems = Dim[] | undefined | null;

const isSym = (d: Dim): d is SymInt => typeof d !== 'number';

/** A Dim in its simplest form: a number where the polynomial is constant. */
function norm(d: Dim): Dim {
  return isSym(d) && d.isConstant ? d.constant! : d;
}

/**
 * The symbolic elements of every node of `g` (a folded scratch graph) given its inputs'
 * (`inputs[i]` for input node i) and every node's values at the hints (`vals`).
 */
export function foldSymbols(g: Graph, vals: readonly (RefTensor | undefined)[], inputs: readonly SymElems[], hints: Binding, assumed: Guard[]): SymElems[] {
  const ctx: Decide = { hints, assumed };
  const out: SymElems[] = [...inputs];
  const elems = (id: number): Dim[] => out[id] ?? Array.from(vals[id]!.data);
  for (const n of g.nodes) {
    if (n.id < inputs.length) continue;
    const ins = n.inputs.map((i) => out[i]);
    if (ins.some((x) => x === null)) out[n.id] = null;
    else if (ins.every((x) => x === undefined)) out[n.id] = undefined;
    else {
      const r = symNode(n, g, vals, elems, ins, ctx);
      out[n.id] = r === null ? null : r.some(isSym) ? r : undefined;
    }
  }
  return out;
}

/** The source element of each output element of a movement op, by tagging its data inputs' elements. */
function moved(n: Node, vals: readonly (RefTensor | undefined)[], elems: (id: number) => Dim[], data: readonly number[]): Dim[] {
  const pool: Dim[] = [];
  const xs = n.inputs.map((id, k) => {
    const v = vals[id]!;
    if (!data.includes(k)) return v;
    const base = pool.length;
    pool.push(...elems(id));
    return { shape: v.shape, dtype: 'float64' as const, data: Float64Array.from({ length: v.data.length }, (_, i) => base + i) };
  });
  const tags = evalNode({ ...n, dtype: 'float64' } as Node, xs, 'reference');
  return Array.from(tags, (t) => pool[t]!);
}

/** Operand `k` of an elementwise node broadcast to the node's shape. */
function broadcast(n: Node, vals: readonly (RefTensor | undefined)[], elems: (id: number) => Dim[], k: number): Dim[] {
  const id = n.inputs[k]!;
  // A stand-in expand node: evalNode reads only its op, shape and dtype.
  const expand = { op: 'expand', id: n.id, inputs: [id], shape: n.shape, dtype: 'float64' } as unknown as Node;
  return moved(expand, vals, elems, [0]);
}

/** What deciding a comparison at the hints needs: their values, and where its guards go. */
interface Decide {
  hints: Binding;
  assumed: Guard[];
}

/**
 * How a and b compare for every call: by their bounds where those decide it, else as they
 * compare at the hints, with the guard that keeps it so (a − b >= 1, a − b == 0 or
 * b − a >= 1). Undefined when a symbol has no hint (never, for a graph's own symbols).
 */
function order(a: Dim, b: Dim, ctx: Decide): -1 | 0 | 1 | undefined {
  const d = SymInt.of(a).sub(b);
  if (d.isConstant) return Math.sign(d.constant!) as -1 | 0 | 1;
  if (d.sub(1).provablyNonNegative()) return 1;
  if (d.mul(-1).sub(1).provablyNonNegative()) return -1;
  if (d.symbols().some((s) => !ctx.hints.has(s))) return undefined;
  const at = Math.sign(d.eval(ctx.hints)) as -1 | 0 | 1;
  const why = `an ONNX shape computation compared ${SymInt.of(a).key()} with ${SymInt.of(b).key()} as at the traced sizes`;
  if (at === 0) addGuard(ctx.assumed, { expr: d.toJSON(), rel: 'eq', value: 0, why });
  else addGuard(ctx.assumed, nonNegativeGuard(at > 0 ? d.sub(1) : d.mul(-1).sub(1), why));
  return at;
}

function compare(op: string, a: Dim, b: Dim, ctx: Decide): boolean | undefined {
  // a >= b (or a < b) for every binding though a == b for some (seq >= 1: a size may be 1) is
  // decided by the bounds too, with no guard; order() alone decides only strict orders.
  const d = SymInt.of(a).sub(b);
  if ((op === 'ge' || op === 'lt') && d.provablyNonNegative()) return op === 'ge';
  if ((op === 'le' || op === 'gt') && d.mul(-1).provablyNonNegative()) return op === 'le';
  const o = order(a, b, ctx);
  if (o === undefined) return undefined;
  switch (op) {
    case 'eq': return o === 0;
    case 'ne': return o !== 0;
    case 'lt': return o < 0;
    case 'le': return o <= 0;
    case 'gt': return o > 0;
    case 'ge': return o >= 0;
    default: return undefined;
  }
}

function binary(op: string, a: Dim, b: Dim, ctx: Decide): Dim | null {
  if (!isSym(a) && !isSym(b)) return null; // numbers: the caller takes the hint values
  switch (op) {
    case 'add': return norm(SymInt.of(a).add(b));
    case 'sub': return norm(SymInt.of(a).sub(b));
    case 'mul': return norm(SymInt.of(a).mul(b));
    case 'trunc_div': {
      const q = SymInt.of(a).divExact(b);
      return q === undefined ? null : norm(q);
    }
    case 'maximum':
    case 'minimum': {
      // Needs only a ≥ b or a ≤ b: proved by the bounds, else as at the hints, guarded (not strictly).
      const d = SymInt.of(a).sub(b);
      let ge = d.provablyNonNegative();
      if (!ge && !d.mul(-1).provablyNonNegative()) {
        if (d.symbols().some((x) => !ctx.hints.has(x))) return null;
        ge = d.eval(ctx.hints) >= 0;
        addGuard(ctx.assumed, nonNegativeGuard(ge ? d : d.mul(-1), `an ONNX shape computation took the ${op} of ${SymInt.of(a).key()} and ${SymInt.of(b).key()} as at the traced sizes`));
      }
      return op === 'maximum' ? (ge ? a : b) : ge ? b : a;
    }
    default: {
      if (!['eq', 'ne', 'lt', 'le', 'gt', 'ge'].includes(op)) return null;
      const c = compare(op, a, b, ctx);
      return c === undefined ? null : c ? 1 : 0;
    }
  }
}

function symNode(n: Node, g: Graph, vals: readonly (RefTensor | undefined)[], elems: (id: number) => Dim[], ins: readonly SymElems[], ctx: Decide): Dim[] | null {
  const hint = (i: number) => Array.from(vals[n.id]!.data)[i]!;
  switch (n.op) {
    case 'reshape':
      return elems(n.inputs[0]!);
    case 'permute':
    case 'expand':
    case 'slice':
      return moved(n, vals, elems, [0]);
    case 'cat':
      return moved(n, vals, elems, n.inputs.map((_, k) => k));
    case 'gather':
      // Symbols as indices would pick an element per binding.
      return ins[1] === undefined ? moved(n, vals, elems, [0]) : null;
    case 'cast':
      // Sizes stay sizes through casts (a float one is data: emit.ts computes it per call);
      // float arithmetic on them is not followed.
      return n.to === 'bool' ? null : elems(n.inputs[0]!);
    case 'unary':
      return n.fn === 'neg' ? elems(n.inputs[0]!).map((d) => norm(SymInt.of(d).mul(-1))) : null;
    case 'binary': {
      if (!isInt(g.node(n.inputs[0]!).dtype) && g.node(n.inputs[0]!).dtype !== 'bool') return null;
      const [a, b] = [broadcast(n, vals, elems, 0), broadcast(n, vals, elems, 1)];
      const r: Dim[] = [];
      for (let i = 0; i < a.length; i++) {
        const v = binary(n.fn, a[i]!, b[i]!, ctx);
        if (v === null && (isSym(a[i]!) || isSym(b[i]!))) return null;
        r.push(v ?? hint(i));
      }
      return r;
    }
    case 'where': {
      if (ins[0] !== undefined) return null;
      const cond = broadcast(n, vals, (id) => Array.from(vals[id]!.data), 0);
      const [a, b] = [broadcast(n, vals, elems, 1), broadcast(n, vals, elems, 2)];
      return cond.map((t, i) => (t !== 0 ? a[i]! : b[i]!));
    }
    case 'reduce': {
      // A whole vector's product or sum (numel of a shape).
      const x = g.node(n.inputs[0]!);
      if (x.shape.length !== 1 || n.axes.length !== 1 || (n.fn !== 'prod' && n.fn !== 'sum')) return null;
      const xs = elems(x.id);
      const r = xs.reduce<SymInt>((p, d) => (n.fn === 'prod' ? p.mul(d) : p.add(d)), SymInt.of(n.fn === 'prod' ? 1 : 0));
      return [norm(r)];
    }
    default:
      return null;
  }
}
