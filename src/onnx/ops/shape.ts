// Ops that move or reinterpret data without computing: Reshape, Flatten, Squeeze, Unsqueeze,
// Transpose, Expand, Concat, and the shape queries Shape and Size. Their shape arguments
// must be known at load time (kiln's shapes are static); Shape of any value is, since every
// kiln value has a static shape, which is what lets exporters' shape chains fold.

import { ShapeError, broadcastShapes, fmtShape, normDim, numel } from '../../graph/shape.js';
import { type Dim, symNumel } from '../../graph/sym.js';
import { broadcastDims } from '../../graph/sym_shape.js';
import { ConstTensor } from '../const_tensor.js';
import type { ConvertContext } from '../context.js';
import type { Val } from '../emit.js';
import type { OnnxNode } from '../node.js';
import type { OpTable } from './types.js';

/** ONNX Reshape's target: 0 copies the input dim (unless allowzero), -1 is inferred later. */
export function reshapeTarget(inShape: readonly number[], target: number[], allowzero: boolean): number[] {
  return target.map((d, i) => {
    if (d === 0 && !allowzero) {
      if (i >= inShape.length) throw new ShapeError(`Reshape: 0 at position ${i} copies a dim that ${fmtShape(inShape)} lacks`);
      return inShape[i]!;
    }
    return d;
  });
}

/** Squeeze/Unsqueeze axes: an attribute before opset 13, an input from 13. */
function axesOf(ctx: ConvertContext, n: OnnxNode): number[] | undefined {
  return n.ints('axes') ?? ctx.intsIn(n, 1, 'axes');
}

function squeeze(ctx: ConvertContext, n: OnnxNode) {
  const x = ctx.in(n, 0);
  const shape = ctx.shape(x);
  const axes = axesOf(ctx, n);
  const drop = axes ? axes.map((a) => normDim('Squeeze', a, shape.length)) : shape.flatMap((d, i) => (d === 1 ? [i] : []));
  for (const a of drop) if (shape[a] !== 1) throw new ShapeError(`Squeeze: dim ${a} of ${fmtShape(shape)} is not 1`);
  const out = shape.filter((_, i) => !drop.includes(i));
  const sym = keptDims(ctx, x, (_, i) => !drop.includes(i));
  return ctx.em.emit([x], (b, [x]) => b.reshape(x!, out, sym));
}

/**
 * A symbolic value's dims as a reshape's explicit target (the dims it keeps, in order): hints
 * matched by position would take a symbol for another where two symbols' hints are equal.
 */
function keptDims(ctx: ConvertContext, x: Val, keep: (d: Dim, i: number) => boolean): Dim[] | undefined {
  return x instanceof ConstTensor || !ctx.em.b.sym(x) ? undefined : ctx.dims(x).filter(keep);
}

function unsqueeze(ctx: ConvertContext, n: OnnxNode) {
  const x = ctx.in(n, 0);
  const shape = ctx.shape(x);
  const axes = axesOf(ctx, n) ?? [];
  const rank = shape.length + axes.length;
  const ins = new Set(axes.map((a) => normDim('Unsqueeze', a, rank)));
  if (ins.size !== axes.length) throw new ShapeError(`Unsqueeze: repeated axis in [${axes.join(',')}]`);
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) out.push(ins.has(i) ? 1 : shape[k++]!);
  const kept = keptDims(ctx, x, () => true);
  let j = 0;
  const sym = kept && out.map((_, i) => (ins.has(i) ? 1 : kept[j++]!));
  return ctx.em.emit([x], (b, [x]) => b.reshape(x!, out, sym));
}

function shapeOf(ctx: ConvertContext, n: OnnxNode) {
  const x = ctx.in(n, 0);
  const shape = ctx.shape(x);
  const r = shape.length;
  // start/end (opset 15) clamp into [0, rank] after adding rank to negatives.
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const start = clamp(n.int('start', 0));
  const end = clamp(n.int('end', r));
  const dims = shape.slice(start, Math.max(start, end));
  // Symbolic dims are their symbols (values at the hints): the chains fold over them (sym_fold.ts).
  return [ConstTensor.sizes([dims.length], dims, ctx.dims(x).slice(start, Math.max(start, end)))];
}

/** A target shape's elements as sizes, with ONNX Reshape's 0 copying the input's dim. */
function symTarget(dims: readonly Dim[], inDims: readonly Dim[], allowzero: boolean): Dim[] {
  return dims.map((d, i) => (d === 0 && !allowzero && i < inDims.length ? inDims[i]! : d));
}

export const shapeOps: OpTable = {
  Reshape: {
    convert(ctx, n) {
      const x = ctx.in(n, 0);
      const t = n.opset < 5 ? undefined : ctx.constIn(n, 1, 'the target shape');
      const target = t ? t.values() : n.ints('shape') ?? [];
      const allowzero = n.int('allowzero', 0) !== 0;
      const out = reshapeTarget(ctx.shape(x), target, allowzero);
      const sym = t?.sym ? symTarget(t.sym, ctx.dims(x), allowzero) : undefined;
      return ctx.em.emit([x], (b, [x]) => b.reshape(x!, out, sym));
    },
  },
  Flatten: {
    convert(ctx, n) {
      const x = ctx.in(n, 0);
      const shape = ctx.shape(x);
      // axis may equal rank (everything in the first dim); negative axes count from rank.
      const a = n.int('axis', 1);
      const axis = a < 0 ? a + shape.length : a;
      if (axis < 0 || axis > shape.length) throw new ShapeError(`Flatten: axis ${a} out of range for rank ${shape.length}`);
      const out = [numel(shape.slice(0, axis)), numel(shape.slice(axis))];
      const dims = keptDims(ctx, x, () => true);
      const sym = dims && [dims.slice(0, axis), dims.slice(axis)].map((part) => symNumel(part).constant ?? symNumel(part));
      return ctx.em.emit([x], (b, [x]) => b.reshape(x!, out, sym));
    },
  },
  Squeeze: { convert: squeeze },
  Unsqueeze: { convert: unsqueeze },
  Transpose: {
    convert(ctx, n) {
      const x = ctx.in(n, 0);
      const rank = ctx.shape(x).length;
      const perm = n.ints('perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
      return ctx.em.emit([x], (b, [x]) => b.permute(x!, perm));
    },
  },
  Expand: {
    convert(ctx, n) {
      const x = ctx.in(n, 0);
      // Expand broadcasts both ways: a 1 in the target keeps the input's dim.
      const t = ctx.constIn(n, 1, 'the target shape');
      const out = broadcastShapes('Expand', ctx.shape(x), t.values());
      const sym = t.sym ? broadcastDims('Expand', ctx.dims(x), t.sym) : undefined;
      return ctx.em.emit([x], (b, [x]) => b.expand(x!, out, sym));
    },
  },
  Concat: {
    convert(ctx, n) {
      const xs = n.inputs.map((_, k) => ctx.in(n, k));
      const axis = n.int('axis', 0);
      return ctx.em.emit(xs, (b, ids) => b.cat(ids, axis));
    },
  },
  Shape: { convert: shapeOf },
  Size: {
    convert(ctx, n) {
      const x = ctx.in(n, 0);
      return [ConstTensor.sizes([], [numel(ctx.shape(x))], [symNumel(ctx.dims(x)).constant ?? symNumel(ctx.dims(x))])];
    },
  },
};
