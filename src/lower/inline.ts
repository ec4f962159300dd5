// Inlining: the value of a graph node at a multi-index, as a loop-IR expression. Pointwise
// producers and views are inlined recursively (they cost index arithmetic, not memory);
// nodes the scheduler realized are read from their buffer or, when they are computed by the
// kernel being built at the same point, taken from its accumulator.

import type { DType } from '../graph/dtype.js';
import { type Graph, type Node, dimsOf } from '../graph/ir.js';
import { type Expr, cst, dtOf, iadd, idx, imul, range } from './expr.js';
import { type Dim, SymInt } from '../graph/sym.js';
import { symExpr } from './sym_index.js';
import { broadcastIndex, viewInputIndex, windowInput } from './views.js';

/** How the kernel being built resolves realized nodes. */
export interface InlineContext {
  graph: Graph;
  /** True for nodes that are materialised (inputs, buffers, reductions, matmuls…): never inlined. */
  isRealized(id: number): boolean;
  /**
   * Expression for reading realized node `id` at `idxs` (acc, load or constant). A scheduler
   * for which the read is impossible in the kernel it builds notes why and returns a load
   * anyway: it discards the whole expression then (schedule/fuse.ts).
   */
  readRealized(node: Node, idxs: readonly Expr[]): Expr;
}

export function valueAt(ctx: InlineContext, id: number, idxs: readonly Expr[]): Expr {
  const node = ctx.graph.node(id);
  if (ctx.isRealized(id)) return ctx.readRealized(node, idxs);
  const input = (i: number) => ctx.graph.node(node.inputs[i]!);
  const at = (i: number, ix: readonly Expr[]) => valueAt(ctx, node.inputs[i]!, ix);
  const bcast = (i: number) => at(i, broadcastIndex(idxs, dimsOf(input(i))));
  switch (node.op) {
    case 'const':
      if (node.data.length !== 1) throw new Error('inline: non-scalar constants must be realized');
      return cst(node.data[0]!, node.dtype);
    case 'unary':
      return { k: 'un', op: node.fn, a: at(0, idxs), dt: node.dtype };
    case 'binary': {
      const a = bcast(0);
      const b = bcast(1);
      // x ** 2 and x ** 3 of floats (GPT-2's tanh GELU, variance sums) as products: powf is a
      // libm call that keeps the loop scalar (~20 ns an element on the CPU), where x·x·x
      // vectorizes; within 2 ulp of it.
      if (node.fn === 'pow' && b.k === 'const' && (b.v === 2 || b.v === 3) && (node.dtype === 'float32' || node.dtype === 'float64')) {
        const sq: Expr = { k: 'bin', op: 'mul', a, b: a, dt: node.dtype };
        return b.v === 2 ? sq : { k: 'bin', op: 'mul', a: sq, b: a, dt: node.dtype };
      }
      return { k: 'bin', op: node.fn, a, b, dt: node.dtype };
    }
    case 'where':
      return { k: 'where', c: bcast(0), a: bcast(1), b: bcast(2), dt: node.dtype };
    case 'cast':
      return { k: 'cast', a: at(0, idxs), dt: node.dtype };
    case 'reshape':
    case 'permute':
    case 'expand':
    case 'slice':
      return at(0, viewInputIndex(node, dimsOf(input(0)), idxs)!);
    case 'window': {
      // Padding reads the fill value; the index there is clamped into the input, so the value
      // is read unconditionally and selected (no branch).
      const w = windowInput(node, input(0).shape, idxs);
      const v = at(0, w.idxs);
      return w.inside ? { k: 'where', c: w.inside, a: v, b: cst(node.fill, node.dtype), dt: node.dtype } : v;
    }
    case 'cat': {
      // Piecewise along the axis; the codegen emits `where` as a lazy ternary, so the
      // out-of-range branch's load is never executed.
      // Offsets along a symbolic axis are formulas (size arguments in the code).
      const parts = node.inputs.map((_, i) => i);
      let offset: Dim = 0;
      const pieces = parts.map((i) => {
        const shifted = [...idxs];
        shifted[node.axis] = iadd(idxs[node.axis]!, symExpr(typeof offset === 'number' ? -offset : offset.mul(-1)));
        const n = dimsOf(input(i))[node.axis]!;
        offset = typeof offset === 'number' && typeof n === 'number' ? offset + n : SymInt.of(offset).add(n);
        return { end: offset, value: at(i, shifted) };
      });
      let e = pieces[pieces.length - 1]!.value;
      for (let p = pieces.length - 2; p >= 0; p--) {
        const cond: Expr = { k: 'bin', op: 'lt', a: idxs[node.axis]!, b: symExpr(pieces[p]!.end), dt: 'bool' };
        e = { k: 'where', c: cond, a: pieces[p]!.value, b: e, dt: node.dtype, lazy: true };
      }
      return e;
    }
    case 'gather': {
      const data = input(0);
      const indices = input(1);
      const axis = node.axis;
      const k = indices.shape.length;
      const raw: Expr = { k: 'cast', a: at(1, idxs.slice(axis, axis + k)), dt: 'index' };
      // The indexed dim's size: a size argument where symbolic (its numeric bound is its hint's
      // largest value, so the range tests below only skip a wrap or clamp provably unneeded).
      const nDim = dimsOf(data)[axis]!;
      const n = typeof nDim === 'number' ? nDim : undefined;
      const size: Expr = symExpr(nDim);
      const neg: Expr = { k: 'bin', op: 'lt', a: raw, b: idx(0), dt: 'bool' };
      // An index known to be nonnegative (GatherND's clamped offsets) needs no wrap.
      const wrapped: Expr = (range(raw)?.[0] ?? -1) >= 0 ? raw : { k: 'where', c: neg, a: iadd(raw, size), b: raw, dt: 'index' };
      // Still out of range: clamped for the load, so memory stays in bounds (the run reports
      // the bad index: Graph.indexChecks). Known-good indices (GatherND's) need no clamp.
      const wr = range(wrapped);
      const clamped: Expr =
        n !== undefined && wr && wr[0] >= 0 && wr[1] <= n
          ? wrapped
          : { k: 'bin', op: 'maximum', a: { k: 'bin', op: 'minimum', a: wrapped, b: n !== undefined ? idx(Math.max(n - 1, 0)) : iadd(size, idx(-1)), dt: 'index' }, b: idx(0), dt: 'index' };
      return at(0, [...idxs.slice(0, axis), clamped, ...idxs.slice(axis + k)]);
    }
    case 'iota': {
      const pos = imul(idxs[node.axis]!, 1);
      const v: Expr = { k: 'cast', a: pos, dt: node.dtype };
      const scaled: Expr = node.step === 1 ? v : { k: 'bin', op: 'mul', a: v, b: cst(node.step, node.dtype), dt: node.dtype };
      return node.start === 0 ? scaled : { k: 'bin', op: 'add', a: scaled, b: cst(node.start, node.dtype), dt: node.dtype };
    }
    case 'input':
    case 'reduce':
    case 'matmul':
    case 'cumsum':
    case 'scatter':
      throw new Error(`inline: ${node.op} node ${id} must be realized`);
    default:
      return node satisfies never;
  }
}

/** Casts an expression to `dt` unless it already has that type. */
export function castTo(e: Expr, dt: DType): Expr {
  return dtOf(e) === dt ? e : { k: 'cast', a: e, dt };
}
