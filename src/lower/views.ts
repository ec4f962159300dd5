// Index transforms of the view ops: given the index into a view's output, the index into its
// input. Shared by inlining (pointwise producers) and the strided-operand analysis (matmul).

import type { Node } from '../graph/ir.js';
import { contiguousStrides, type Shape } from '../graph/shape.js';
import { type Expr, iadd, idiv, idx, imod, imul } from './expr.js';

/** Row-major flat offset of a multi-index; size-1 dims contribute nothing. */
export function flatten(idxs: readonly Expr[], shape: Shape): Expr {
  const strides = contiguousStrides(shape);
  let flat = idx(0);
  for (let d = 0; d < shape.length; d++) if (shape[d] !== 1) flat = iadd(flat, imul(idxs[d]!, strides[d]!));
  return flat;
}

/** The multi-index of `shape` for a flat row-major offset. */
export function unflatten(flat: Expr, shape: Shape): Expr[] {
  // An empty tensor has no elements to address (and zero strides would divide by zero).
  if (shape.includes(0)) return shape.map(() => idx(0));
  const strides = contiguousStrides(shape);
  return shape.map((n, d) => (n === 1 ? idx(0) : imod(idiv(flat, strides[d]!), n)));
}

/** NumPy broadcasting: the index into an operand of shape `inShape` for output index `idxs`. */
export function broadcastIndex(idxs: readonly Expr[], inShape: Shape): Expr[] {
  const off = idxs.length - inShape.length;
  return inShape.map((d, i) => (d === 1 ? idx(0) : idxs[i + off]!));
}

/** Input index of a view op (reshape, permute, expand, slice), or undefined for non-views. */
export function viewInputIndex(node: Node, inShape: Shape, idxs: readonly Expr[]): Expr[] | undefined {
  switch (node.op) {
    case 'reshape':
      return unflatten(flatten(idxs, node.shape), inShape);
    case 'permute': {
      const out = new Array<Expr>(inShape.length);
      node.perm.forEach((p, i) => (out[p] = idxs[i]!));
      return out;
    }
    case 'expand':
      return broadcastIndex(idxs, inShape);
    case 'slice':
      return node.dims.map((s, d) => iadd(idx(s.start), imul(idxs[d]!, s.step)));
    default:
      return undefined;
  }
}

/** Strides of a view: element offset = offset + Σ idx[d]·strides[d]. */
export interface StridedView {
  base: number;
  offset: number;
  strides: number[];
}

/** Applies a view op to a strided view of its input; undefined when the result is not strided (some reshapes). */
export function composeView(node: Node, input: StridedView, inShape: Shape): StridedView | undefined {
  switch (node.op) {
    case 'permute':
      return { ...input, strides: node.perm.map((p) => input.strides[p]!) };
    case 'expand': {
      const off = node.shape.length - inShape.length;
      return {
        ...input,
        strides: node.shape.map((_, d) => (d < off || inShape[d - off] === 1 ? 0 : input.strides[d - off]!)),
      };
    }
    case 'slice': {
      let offset = input.offset;
      node.dims.forEach((s, d) => (offset += s.start * input.strides[d]!));
      return { base: input.base, offset, strides: node.dims.map((s, d) => s.step * input.strides[d]!) };
    }
    case 'reshape':
      return reshapeStrides(input, inShape, node.shape);
    default:
      return undefined;
  }
}

/** Strides after a reshape when every output dim maps onto a run of input dims that is itself contiguous. */
function reshapeStrides(v: StridedView, inShape: Shape, outShape: Shape): StridedView | undefined {
  // Drop size-1 dims from the input; they carry no stride information.
  const dims = inShape.map((n, i) => ({ n, s: v.strides[i]! })).filter((d) => d.n !== 1);
  const out: number[] = [];
  let i = 0;
  for (const n of outShape) {
    if (n === 1) {
      out.push(0);
      continue;
    }
    // Gather input dims until their product is n (merge) or split one input dim.
    if (i >= dims.length) return undefined;
    const d = dims[i]!;
    if (d.n === n) {
      out.push(d.s);
      i++;
    } else if (d.n % n === 0) {
      // Split: the output dim takes the outer part of this input dim.
      const inner = d.n / n;
      out.push(d.s * inner);
      dims[i] = { n: inner, s: d.s };
    } else {
      // Merge: consecutive input dims must be contiguous with each other.
      let prod = d.n;
      let stride = d.s;
      i++;
      while (prod < n && i < dims.length) {
        const e = dims[i]!;
        if (stride !== e.s * e.n) return undefined;
        prod *= e.n;
        stride = e.s;
        i++;
        if (prod > n) return undefined;
      }
      if (prod !== n) return undefined;
      out.push(stride);
    }
  }
  if (i !== dims.length) return undefined;
  return { ...v, strides: out };
}
