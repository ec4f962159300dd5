// Elementwise ONNX ops: unary math, binary arithmetic and comparisons, logic, the variadic
// Max/Min/Sum/Mean, Where, Clip, Cast. ONNX broadcasting is NumPy's, which the builders do.

import type { GraphBuilder } from '../../graph/builder.js';
import { DTYPES, type DType, isInt } from '../../graph/dtype.js';
import type { BinaryOp, UnaryOp } from '../../graph/ir.js';
import type { ConvertContext } from '../context.js';
import { ONNX_STRING, kilnDType, onnxTypeName } from '../dtypes.js';
import type { OnnxNode } from '../node.js';
import type { OpDef, OpTable } from './types.js';

function unary(fn: UnaryOp): OpDef {
  return { convert: (ctx, n) => ctx.em.emit([ctx.in(n, 0)], (b, [x]) => b.unary(fn, x!)) };
}

/** ONNX binary ops keep the left operand's dtype class; the builders promote like PyTorch. */
function binary(fn: BinaryOp): OpDef {
  return { convert: (ctx, n) => ctx.em.emit([ctx.in(n, 0), ctx.in(n, 1)], (b, [x, y]) => b.binary(fn, x!, y!)) };
}

/**
 * Integer Div truncates toward zero (C and the ONNX reference): trunc_div, exact for every
 * integer type (kiln's div is true division, in float32 for ints).
 */
export function onnxDiv(b: GraphBuilder, x: number, y: number): number {
  return b.binary(isInt(b.dtype(x)) && isInt(b.dtype(y)) ? 'trunc_div' : 'div', x, y);
}

/** Pow's result has the base's dtype whatever the exponent's. */
function pow(b: GraphBuilder, x: number, y: number): number {
  return b.cast(b.binary('pow', x, y), b.dtype(x));
}

function variadic(fn: BinaryOp, mean = false): OpDef {
  return {
    convert(ctx, n) {
      const xs = n.inputs.map((_, k) => ctx.in(n, k));
      return ctx.em.emit(xs, (b, ids) => {
        let acc = ids[0]!;
        for (const id of ids.slice(1)) acc = b.binary(fn, acc, id);
        if (mean) acc = b.binary('div', acc, b.scalar(ids.length, b.dtype(acc)));
        return acc;
      });
    },
  };
}

/** Clip's bounds are attributes before opset 11 and optional inputs after. */
function clip(ctx: ConvertContext, n: OnnxNode) {
  const x = ctx.in(n, 0);
  if (n.opset < 11) {
    const lo = n.float('min', -Infinity);
    const hi = n.float('max', Infinity);
    return ctx.em.emit([x], (b, [x]) => b.binary('minimum', b.binary('maximum', x!, b.scalar(lo, b.dtype(x!))), b.scalar(hi, b.dtype(x!))));
  }
  const lo = ctx.opt(n, 1);
  const hi = ctx.opt(n, 2);
  const ops = [x, ...(lo !== undefined ? [lo] : []), ...(hi !== undefined ? [hi] : [])];
  return ctx.em.emit(ops, (b, ids) => {
    let y = ids[0]!;
    let k = 1;
    const dt = b.dtype(y);
    if (lo !== undefined) y = b.binary('maximum', y, b.cast(ids[k++]!, dt));
    if (hi !== undefined) y = b.binary('minimum', y, b.cast(ids[k++]!, dt));
    return y;
  });
}

export function castTarget(n: OnnxNode): DType | undefined {
  return kilnDType(n.int('to', 0));
}

function checkCast(n: OnnxNode): string[] {
  const to = n.int('to', 0);
  if (kilnDType(to)) return [];
  // Boundary Casts to STRING (producing a graph output) never get here: string_boundary.ts takes them out.
  if (to === ONNX_STRING) return [`to=STRING: a Cast to STRING is supported only as the producer of a graph output that no node reads`];
  return [`to=${onnxTypeName(to)}: kiln supports only ${DTYPES.join(', ')}`];
}

export const elementwiseOps: OpTable = {
  Abs: unary('abs'), Neg: unary('neg'), Exp: unary('exp'), Log: unary('log'), Sqrt: unary('sqrt'),
  Sin: unary('sin'), Cos: unary('cos'), Tan: unary('tan'), Tanh: unary('tanh'), Sigmoid: unary('sigmoid'),
  Relu: unary('relu'), Erf: unary('erf'), Floor: unary('floor'), Ceil: unary('ceil'), Round: unary('round'),
  Reciprocal: unary('reciprocal'), Sign: unary('sign'), Not: unary('not'), IsNaN: unary('isnan'),
  Asin: unary('asin'), Acos: unary('acos'), Atan: unary('atan'), Sinh: unary('sinh'), Cosh: unary('cosh'),
  Asinh: unary('asinh'), Acosh: unary('acosh'), Atanh: unary('atanh'), Softplus: unary('softplus'),
  IsInf: {
    convert(ctx, n) {
      const neg = n.int('detect_negative', 1);
      const pos = n.int('detect_positive', 1);
      return ctx.em.emit([ctx.in(n, 0)], (b, [x]) => {
        const inf = b.unary('isinf', x!);
        if (neg && pos) return inf;
        if (!neg && !pos) return b.binary('and', inf, b.unary('not', inf));
        return b.binary('and', inf, b.binary(pos ? 'gt' : 'lt', x!, b.scalar(0, b.dtype(x!))));
      });
    },
  },
  Add: binary('add'), Sub: binary('sub'), Mul: binary('mul'),
  Div: { convert: (ctx, n) => ctx.em.emit([ctx.in(n, 0), ctx.in(n, 1)], (b, [x, y]) => onnxDiv(b, x!, y!)) },
  Pow: { convert: (ctx, n) => ctx.em.emit([ctx.in(n, 0), ctx.in(n, 1)], (b, [x, y]) => pow(b, x!, y!)) },
  Mod: { convert: (ctx, n) => ctx.em.emit([ctx.in(n, 0), ctx.in(n, 1)], (b, [x, y]) => b.binary(n.int('fmod', 0) ? 'fmod' : 'mod', x!, y!)) },
  Equal: binary('eq'), Less: binary('lt'), LessOrEqual: binary('le'), Greater: binary('gt'), GreaterOrEqual: binary('ge'),
  And: binary('and'), Or: binary('or'), Xor: binary('xor'),
  Max: variadic('maximum'), Min: variadic('minimum'), Sum: variadic('add'), Mean: variadic('add', true),
  Where: {
    convert: (ctx, n) => ctx.em.emit([ctx.in(n, 0), ctx.in(n, 1), ctx.in(n, 2)], (b, [c, x, y]) => b.where(c!, x!, y!)),
  },
  Clip: { convert: clip },
  Cast: {
    check: checkCast,
    convert: (ctx, n) => ctx.em.emit([ctx.in(n, 0)], (b, [x]) => b.cast(x!, castTarget(n)!)),
  },
  CastLike: {
    convert(ctx, n) {
      const to = ctx.em.dtype(ctx.in(n, 1));
      return ctx.em.emit([ctx.in(n, 0)], (b, [x]) => b.cast(x!, to));
    },
  },
  Identity: { convert: (ctx, n) => [ctx.in(n, 0)] },
};
