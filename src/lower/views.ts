// Index transforms of the view ops: given the index into a view's output, the index into its
// input. Shared by inlining (pointwise producers) and the strided-operand analysis (matmul).

import { type Node, dimsOf } from '../graph/ir.js';
import { contiguousStrides, type Shape } from '../graph/shape.js';
import { type Dim, SymInt, symStrides } from '../graph/sym.js';
import { type Expr, iadd, idiv, idx, imod, imul, range } from './expr.js';
import { idivDim, imodDim, imulDim, symExpr } from './sym_index.js';

const isStatic = (dims: readonly Dim[]): dims is Shape => dims.every((d) => typeof d === 'number');

/** Row-major flat offset of a multi-index; size-1 dims contribute nothing. Symbolic dims give symbolic strides. */
export function flatten(idxs: readonly Expr[], shape: readonly Dim[]): Expr {
  if (!isStatic(shape)) {
    const strides = symStrides(shape);
    let flat = idx(0);
    for (let d = 0; d < shape.length; d++) if (shape[d] !== 1) flat = iadd(flat, imulDim(idxs[d]!, strides[d]!));
    return flat;
  }
  const strides = contiguousStrides(shape);
  let flat = idx(0);
  for (let d = 0; d < shape.length; d++) if (shape[d] !== 1) flat = iadd(flat, imul(idxs[d]!, strides[d]!));
  return flat;
}

/** The multi-index of `shape` for a flat row-major offset. */
export function unflatten(flat: Expr, shape: readonly Dim[]): Expr[] {
  if (!isStatic(shape)) {
    const strides = symStrides(shape);
    return shape.map((n, d) => (n === 1 ? idx(0) : imodDim(idivDim(flat, strides[d]!), n)));
  }
  // An empty tensor has no elements to address (and zero strides would divide by zero).
  if (shape.includes(0)) return shape.map(() => idx(0));
  const strides = contiguousStrides(shape);
  return shape.map((n, d) => (n === 1 ? idx(0) : imod(idiv(flat, strides[d]!), n)));
}

/** NumPy broadcasting: the index into an operand of shape `inShape` for output index `idxs` (a symbolic dim is never 1). */
export function broadcastIndex(idxs: readonly Expr[], inShape: readonly Dim[]): Expr[] {
  const off = idxs.length - inShape.length;
  return inShape.map((d, i) => (d === 1 ? idx(0) : idxs[i + off]!));
}

/** Input index of a view op (reshape, permute, expand, slice), or undefined for non-views (a window: windowInput). */
export function viewInputIndex(node: Node, inShape: readonly Dim[], idxs: readonly Expr[]): Expr[] | undefined {
  switch (node.op) {
    case 'reshape':
      return unflatten(flatten(idxs, dimsOf(node)), inShape);
    case 'permute': {
      const out = new Array<Expr>(inShape.length);
      node.perm.forEach((p, i) => (out[p] = idxs[i]!));
      return out;
    }
    case 'expand':
      return broadcastIndex(idxs, inShape);
    case 'slice':
      return node.dims.map((s, d) => iadd(s.symStart ? symExpr(SymInt.fromJSON(s.symStart)) : idx(s.start), imul(idxs[d]!, s.step)));
    default:
      return undefined;
  }
}

/**
 * Input index of a window view at output index `idxs`, and the condition that it lies inside
 * the input (undefined when every position does: no padding is read). Outside, the view reads
 * its fill value; the index returned there is clamped into the input, so reading it is safe.
 */
export function windowInput(node: Node & { op: 'window' }, inShape: Shape, idxs: readonly Expr[]): { idxs: Expr[]; inside: Expr | undefined } {
  const rank = inShape.length;
  const out = idxs.slice(0, rank);
  let inside: Expr | undefined;
  node.dims.forEach((d, w) => {
    const pos = iadd(iadd(imul(idxs[d.dim]!, d.stride), imul(idxs[rank + w]!, d.dilation)), idx(-d.pad));
    const r = range(pos);
    let ok: Expr | undefined;
    const and = (c: Expr) => (ok = ok ? { k: 'bin', op: 'and', a: ok, b: c, dt: 'bool' } : c);
    if (!r || r[0] < 0) and({ k: 'bin', op: 'ge', a: pos, b: idx(0), dt: 'bool' });
    if (!r || r[1] > inShape[d.dim]!) and({ k: 'bin', op: 'lt', a: pos, b: idx(inShape[d.dim]!), dt: 'bool' });
    // In the padding the position is clamped to 0, so the value can be read unconditionally
    // (a select, no branch: loops over positions vectorize) and then replaced by the fill.
    out[d.dim] = ok ? { k: 'where', c: ok, a: pos, b: idx(0), dt: 'index' } : pos;
    if (ok) inside = inside ? { k: 'bin', op: 'and', a: inside, b: ok, dt: 'bool' } : ok;
  });
  return { idxs: out, inside };
}

/** True when a window view never reads padding (every position lies inside the input). */
export function windowUnpadded(node: Node & { op: 'window' }, inShape: Shape): boolean {
  return node.dims.every((d) => d.pad === 0 && (d.out - 1) * d.stride + (d.k - 1) * d.dilation < inShape[d.dim]!);
}

/** Strides of a view: element offset = offset + Σ idx[d]·strides[d]. */
export interface StridedView {
  base: number;
  offset: number;
  /** The strides; where `sym` is set, their values at the hints only. */
  strides: number[];
  /** Symbolic strides, for views of a base with symbolic sizes (use these, never `strides`). */
  sym?: Dim[];
}

/** A contiguous view of node `n`'s buffer (symbolic strides where its dims are symbolic). */
export function contiguousView(n: Node): StridedView {
  const v: StridedView = { base: n.id, offset: 0, strides: contiguousStrides(n.shape) };
  if (n.sym) v.sym = symStrides(n.sym).map((s) => s.constant ?? s);
  return v;
}

/**
 * Applies a view op to a strided view of its input (`inDims`: the input's dims, symbolic where
 * it has any); undefined when the result is not strided (some reshapes; over symbolic strides,
 * windows, slices at a start of symbolic offset and reshapes whose sizes do not divide exactly).
 */
export function composeView(node: Node, input: StridedView, inShape: Shape, inDims: readonly Dim[] = inShape): StridedView | undefined {
  // Over symbolic sizes the strides at the hints go with the symbolic ones (`sym`), which the
  // kernels use; each op maps both the same way.
  const sym = input.sym;
  switch (node.op) {
    case 'permute':
      return { ...input, strides: node.perm.map((p) => input.strides[p]!), ...(sym ? { sym: node.perm.map((p) => sym[p]!) } : {}) };
    case 'expand': {
      const off = node.shape.length - inShape.length;
      const keep = (d: number) => !(d < off || inShape[d - off] === 1);
      return {
        ...input,
        strides: node.shape.map((_, d) => (keep(d) ? input.strides[d - off]! : 0)),
        ...(sym ? { sym: node.shape.map((_, d) => (keep(d) ? sym[d - off]! : 0)) } : {}),
      };
    }
    case 'slice': {
      // The offset is a number: a start that depends on sizes, or a start along a dim of
      // symbolic stride, would make it a formula.
      if (node.dims.some((s) => s.symStart)) return undefined;
      let offset = input.offset;
      for (const [d, s] of node.dims.entries()) {
        if (s.start === 0) continue;
        const stride = sym ? SymInt.of(sym[d]!).constant : input.strides[d]!;
        if (stride === undefined) return undefined;
        offset += s.start * stride;
      }
      const strides = node.dims.map((s, d) => s.step * input.strides[d]!);
      if (!sym) return { base: input.base, offset, strides };
      return { base: input.base, offset, strides, sym: node.dims.map((s, d) => SymInt.of(sym[d]!).mul(s.step)).map((v) => v.constant ?? v) };
    }
    case 'reshape': {
      if (!sym) return reshapeStrides(input, inShape, node.shape);
      const strides = reshapeDimStrides(sym, inDims, dimsOf(node));
      return strides && { ...input, strides: reshapeStrides(input, inShape, node.shape)?.strides ?? node.shape.map(() => 0), sym: strides.map((s) => s.constant ?? s) };
    }
    case 'window': {
      // Without padding a window is strided: a position steps stride·s, a tap dilation·s.
      if (sym || !windowUnpadded(node, inShape)) return undefined;
      const strides = [...input.strides];
      for (const d of node.dims) strides[d.dim] = d.stride * input.strides[d.dim]!;
      return { ...input, strides: [...strides, ...node.dims.map((d) => d.dilation * input.strides[d.dim]!)] };
    }
    default:
      return undefined;
  }
}

/** Strides after a reshape when every output dim maps onto a run of input dims that is itself contiguous. */
function reshapeStrides(v: StridedView, inShape: Shape, outShape: Shape): StridedView | undefined {
  const out = reshapeDimStrides(v.strides, inShape, outShape);
  return out && { ...v, strides: out.map((s) => s.constant!) };
}

/**
 * The strides of a reshape of a view with these strides, over static or symbolic dims: each
 * output dim maps onto a run of input dims (merged when contiguous with each other, or the
 * outer part of one split), sizes and strides compared, divided and multiplied as polynomials
 * (a static dim inside a symbolic one has a symbolic stride; s0·s1 splits into s0 and s1, and
 * s0 and s1 merge into s0·s1, where the division is exact). Undefined when that is not provable.
 */
function reshapeDimStrides(strides: readonly Dim[], inDims: readonly Dim[], outDims: readonly Dim[]): SymInt[] | undefined {
  // Size-1 input dims carry no stride information.
  const dims = inDims.flatMap((n, i) => (n === 1 ? [] : [{ n: SymInt.of(n), s: SymInt.of(strides[i]!) }]));
  const out: SymInt[] = [];
  let i = 0;
  for (const n0 of outDims) {
    if (n0 === 1) {
      out.push(SymInt.of(0));
      continue;
    }
    if (i >= dims.length) return undefined;
    const n = SymInt.of(n0);
    const d = dims[i]!;
    if (d.n.equals(n)) {
      out.push(d.s);
      i++;
      continue;
    }
    // Split: the output dim takes the outer part of this input dim (n divides it exactly).
    const inner = d.n.divExact(n);
    if (inner !== undefined) {
      out.push(d.s.mul(inner));
      dims[i] = { n: inner, s: d.s };
      continue;
    }
    // Merge: consecutive input dims, contiguous with each other, whose sizes multiply to n.
    let prod = d.n;
    let stride = d.s;
    i++;
    while (!prod.equals(n)) {
      const e = dims[i];
      if (e === undefined || n.divExact(prod) === undefined || !stride.equals(e.s.mul(e.n))) return undefined;
      prod = prod.mul(e.n);
      stride = e.s;
      i++;
    }
    out.push(stride);
  }
  return i === dims.length ? out : undefined;
}
