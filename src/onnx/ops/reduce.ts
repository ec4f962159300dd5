// Reductions. Axes moved from an attribute to an input in opset 13 for ReduceSum and in
// opset 18 for the others; both forms are read here, and an absent or empty axes list
// means "all axes" unless noop_with_empty_axes asks for the identity.

import type { GraphBuilder } from '../../graph/builder.js';
import { isHalf, isInt } from '../../graph/dtype.js';
import { normDims, numel } from '../../graph/shape.js';
import { symNumel } from '../../graph/sym.js';
import type { ConvertContext } from '../context.js';
import type { OnnxNode } from '../node.js';
import type { OpDef, OpTable } from './types.js';

/** The reduction over `axes` (normalised, non-empty) of x, and what to do under noop. */
interface Reducer {
  reduce(b: GraphBuilder, x: number, axes: number[], keep: boolean): number;
  /** The elementwise part alone: the result when noop_with_empty_axes skips the reduction. */
  noop(b: GraphBuilder, x: number): number;
}

const s = (b: GraphBuilder, v: number, like: number) => b.scalar(v, b.dtype(like));
/** Integer inputs give integer results (truncated) as in the ONNX reference. */
const keepType = (b: GraphBuilder, y: number, like: number) => (isInt(b.dtype(like)) ? b.cast(y, b.dtype(like)) : y);

const REDUCERS: Record<string, Reducer> = {
  ReduceSum: { reduce: (b, x, a, k) => b.reduce('sum', x, a, k), noop: (_b, x) => x },
  ReduceMax: { reduce: (b, x, a, k) => b.reduce('max', x, a, k), noop: (_b, x) => x },
  ReduceMin: { reduce: (b, x, a, k) => b.reduce('min', x, a, k), noop: (_b, x) => x },
  ReduceProd: { reduce: (b, x, a, k) => b.reduce('prod', x, a, k), noop: (_b, x) => x },
  ReduceMean: {
    reduce: (b, x, a, k) => {
      const count = numel(a.map((d) => b.shape(x)[d]!));
      // Over symbolic dims (a mean over the sequence) the count is computed per call.
      const symCount = symNumel(a.map((d) => b.dims(x)[d]!));
      // Half inputs sum and divide in float32 (a count past 65504 is inf in float16), rounded once.
      const dt = b.dtype(x);
      const xs = isHalf(dt) ? b.cast(x, 'float32') : x;
      const divisor = symCount.isConstant ? s(b, count, xs) : b.cast(b.sizeScalar(symCount), b.dtype(xs));
      const mean = b.binary('div', b.reduce('sum', xs, a, k), divisor);
      return isHalf(dt) ? b.cast(mean, dt) : keepType(b, mean, x);
    },
    noop: (_b, x) => x,
  },
  ReduceL1: { reduce: (b, x, a, k) => b.reduce('sum', b.unary('abs', x), a, k), noop: (b, x) => b.unary('abs', x) },
  ReduceL2: {
    reduce: (b, x, a, k) => keepType(b, b.unary('sqrt', b.reduce('sum', b.binary('mul', x, x), a, k)), x),
    noop: (b, x) => b.unary('abs', x),
  },
  ReduceSumSquare: { reduce: (b, x, a, k) => b.reduce('sum', b.binary('mul', x, x), a, k), noop: (b, x) => b.binary('mul', x, x) },
  ReduceLogSum: { reduce: (b, x, a, k) => b.unary('log', b.reduce('sum', x, a, k)), noop: (b, x) => b.unary('log', x) },
  ReduceLogSumExp: {
    // max + log(sum(exp(x - max))): exact for large inputs where exp(x) overflows.
    reduce: (b, x, a, k) => {
      const m = b.reduce('max', x, a, true);
      const lse = b.binary('add', b.unary('log', b.reduce('sum', b.unary('exp', b.binary('sub', x, m)), a, true)), m);
      return k ? lse : b.reshape(lse, b.shape(lse).filter((_, i) => !a.includes(i)));
    },
    noop: (_b, x) => x,
  },
};

/** The node's axes: the attribute (older opsets) or input 1 (newer); undefined when absent. */
function readAxes(ctx: ConvertContext, n: OnnxNode): number[] | undefined {
  const attr = n.ints('axes');
  if (attr) return attr;
  return ctx.intsIn(n, 1, 'axes');
}

function reduceOp(r: Reducer): OpDef {
  return {
    convert(ctx, n) {
      const x = ctx.in(n, 0);
      const rank = ctx.shape(x).length;
      const keep = n.int('keepdims', 1) !== 0;
      const axes = readAxes(ctx, n) ?? [];
      if (axes.length === 0 && n.int('noop_with_empty_axes', 0)) return ctx.em.emit([x], (b, [x]) => r.noop(b, x!));
      const dims = normDims(n.opType, axes.length ? axes : undefined, rank);
      return ctx.em.emit([x], (b, [x]) => (dims.length === 0 ? r.noop(b, x!) : r.reduce(b, x!, dims, keep)));
    },
  };
}

function argOp(fn: 'argmax' | 'argmin'): OpDef {
  return {
    convert(ctx, n) {
      const axis = n.int('axis', 0);
      const keep = n.int('keepdims', 1) !== 0;
      const last = n.int('select_last_index', 0) !== 0;
      return ctx.em.emit([ctx.in(n, 0)], (b, [x]) => b.reduce(fn, x!, axis, keep, last));
    },
  };
}

export const reduceOps: OpTable = {
  ...Object.fromEntries(Object.entries(REDUCERS).map(([k, r]) => [k, reduceOp(r)])),
  ArgMax: argOp('argmax'),
  ArgMin: argOp('argmin'),
};
