// Neural-network ops: MatMul, Gemm, Softmax/LogSoftmax/Hardmax, LayerNormalization,
// BatchNormalization (inference) and InstanceNormalization.

import type { GraphBuilder } from '../../graph/builder.js';
import { ShapeError, normDim, numel } from '../../graph/shape.js';
import type { ConvertContext } from '../context.js';
import type { Val } from '../emit.js';
import type { OnnxNode } from '../node.js';
import type { OpTable } from './types.js';

type SoftKind = 'softmax' | 'logsoftmax' | 'hardmax';

function softOver(b: GraphBuilder, x: number, axis: number, kind: SoftKind): number {
  if (kind === 'hardmax') {
    // One-hot of the first maximum along the axis.
    const arg = b.reduce('argmax', x, axis, true);
    const pos = b.iota(b.shape(x), axis, 0, 1, 'int64');
    return b.cast(b.binary('eq', pos, arg), b.dtype(x));
  }
  const shifted = b.binary('sub', x, b.reduce('max', x, axis, true));
  const e = b.unary('exp', shifted);
  const sum = b.reduce('sum', e, axis, true);
  return kind === 'softmax' ? b.binary('div', e, sum) : b.binary('sub', shifted, b.unary('log', sum));
}

/**
 * Opset 13 normalises along one axis (default -1). Older opsets flatten to 2-D at `axis`
 * (default 1) and normalise each row over all trailing dims.
 */
function softmaxLike(kind: SoftKind) {
  return {
    convert(ctx: ConvertContext, n: OnnxNode): Val[] {
      const x = ctx.in(n, 0);
      const shape = ctx.shape(x);
      if (n.opset >= 13) {
        const axis = normDim(n.opType, n.int('axis', -1), shape.length);
        return ctx.em.emit([x], (b, [x]) => softOver(b, x!, axis, kind));
      }
      const a = n.int('axis', 1);
      const axis = a < 0 ? a + shape.length : a;
      if (axis < 0 || axis > shape.length) throw new ShapeError(`${n.opType}: axis ${a} out of range for rank ${shape.length}`);
      const flat = [numel(shape.slice(0, axis)), numel(shape.slice(axis))];
      return ctx.em.emit([x], (b, [x]) => b.reshape(softOver(b, b.reshape(x!, flat), 1, kind), shape));
    },
  };
}

function gemm(ctx: ConvertContext, n: OnnxNode): Val[] {
  const alpha = n.float('alpha', 1);
  const beta = n.float('beta', 1);
  const ta = n.int('transA', 0) !== 0;
  const tb = n.int('transB', 0) !== 0;
  const c = ctx.opt(n, 2);
  const operands = [ctx.in(n, 0), ctx.in(n, 1), ...(c === undefined ? [] : [c])];
  return ctx.em.emit(operands, (b, [a, w, c]) => {
    const f = (v: number) => b.scalar(v, b.dtype(a!));
    let y = b.matmul(ta ? b.permute(a!, [1, 0]) : a!, tb ? b.permute(w!, [1, 0]) : w!);
    if (alpha !== 1) y = b.binary('mul', y, f(alpha));
    if (c !== undefined && beta !== 0) y = b.binary('add', y, beta === 1 ? c : b.binary('mul', c, f(beta)));
    return y;
  });
}

/** LayerNormalization (opset 17): normalise over dims axis..rank-1; optional Mean and InvStdDev outputs. */
function layerNorm(ctx: ConvertContext, n: OnnxNode): Val[] {
  const x = ctx.in(n, 0);
  const rank = ctx.shape(x).length;
  const axis = normDim('LayerNormalization', n.int('axis', -1), rank);
  const eps = n.float('epsilon', 1e-5);
  const bias = ctx.opt(n, 2);
  const wantStats = n.outputs.slice(1).some((o) => o !== '');
  const operands = [x, ctx.in(n, 1), ...(bias === undefined ? [] : [bias])];
  return ctx.em.emit(operands, (b, [x, scale, bias]) => {
    const dims = Array.from({ length: rank - axis }, (_, i) => axis + i);
    const count = b.scalar(numel(dims.map((d) => b.shape(x!)[d]!)), 'float32');
    const xf = b.cast(x!, 'float32');
    const mean = b.binary('div', b.reduce('sum', xf, dims, true), count);
    const centered = b.binary('sub', xf, mean);
    const variance = b.binary('div', b.reduce('sum', b.binary('mul', centered, centered), dims, true), count);
    const inv = b.unary('rsqrt', b.binary('add', variance, b.scalar(eps, 'float32')));
    let y = b.binary('mul', b.binary('mul', centered, inv), scale!);
    if (bias !== undefined) y = b.binary('add', y, bias);
    y = b.cast(y, b.dtype(x!));
    return wantStats ? [y, mean, inv] : [y];
  });
}

/** Per-channel (dim 1) parameter of length C reshaped to broadcast against [N, C, ...]. */
function channel(b: GraphBuilder, p: number, rank: number): number {
  const c = b.shape(p)[0]!;
  return b.reshape(p, [c, ...new Array<number>(rank - 2).fill(1)]);
}

function batchNorm(ctx: ConvertContext, n: OnnxNode): Val[] {
  const eps = n.float('epsilon', 1e-5);
  const momentum = n.float('momentum', 0.9);
  const training = n.int('training_mode', 0) !== 0;
  const operands = [0, 1, 2, 3, 4].map((k) => ctx.in(n, k));
  return ctx.em.emit(operands, (b, [x, scale, bias, mean, variance]) => {
    const shape = b.shape(x!);
    const r = shape.length;
    if (r < 2) throw new ShapeError(`BatchNormalization: input of rank ${r}`);
    const f = (v: number) => b.scalar(v, 'float32');
    let m = channel(b, mean!, r);
    let v = channel(b, variance!, r);
    const outs: number[] = [];
    if (training) {
      // Batch statistics over every dim but the channel (biased variance), as the reference.
      const dims = shape.map((_, i) => i).filter((i) => i !== 1);
      const count = f(numel(dims.map((d) => shape[d]!)));
      const bm = b.binary('div', b.reduce('sum', x!, dims, true), count);
      const c = b.binary('sub', x!, bm);
      const bv = b.binary('div', b.reduce('sum', b.binary('mul', c, c), dims, true), count);
      const running = (old: number, cur: number) =>
        b.binary('add', b.binary('mul', old, f(momentum)), b.binary('mul', b.reshape(cur, b.shape(old)), f(1 - momentum)));
      outs.push(running(mean!, bm), running(variance!, bv));
      m = bm;
      v = bv;
    }
    const inv = b.unary('rsqrt', b.binary('add', v, f(eps)));
    const norm = b.binary('mul', b.binary('sub', x!, m), inv);
    const y = b.binary('add', b.binary('mul', norm, channel(b, scale!, r)), channel(b, bias!, r));
    return [y, ...outs];
  });
}

function instanceNorm(ctx: ConvertContext, n: OnnxNode): Val[] {
  const eps = n.float('epsilon', 1e-5);
  const operands = [0, 1, 2].map((k) => ctx.in(n, k));
  return ctx.em.emit(operands, (b, [x, scale, bias]) => {
    const shape = b.shape(x!);
    const r = shape.length;
    const dims = Array.from({ length: r - 2 }, (_, i) => i + 2);
    const count = b.scalar(numel(dims.map((d) => shape[d]!)), 'float32');
    const mean = b.binary('div', b.reduce('sum', x!, dims, true), count);
    const c = b.binary('sub', x!, mean);
    const variance = b.binary('div', b.reduce('sum', b.binary('mul', c, c), dims, true), count);
    const norm = b.binary('mul', c, b.unary('rsqrt', b.binary('add', variance, b.scalar(eps, 'float32'))));
    return b.binary('add', b.binary('mul', norm, channel(b, scale!, r)), channel(b, bias!, r));
  });
}

export const nnOps: OpTable = {
  MatMul: { convert: (ctx, n) => ctx.em.emit([ctx.in(n, 0), ctx.in(n, 1)], (b, [a, w]) => b.matmul(a!, w!)) },
  Gemm: { convert: gemm },
  Softmax: softmaxLike('softmax'),
  LogSoftmax: softmaxLike('logsoftmax'),
  Hardmax: softmaxLike('hardmax'),
  LayerNormalization: {
    check: (n) => (n.int('stash_type', 1) === 1 ? [] : [`stash_type=${n.int('stash_type', 1)} (only 1, float32, is supported)`]),
    convert: layerNorm,
  },
  BatchNormalization: {
    convert: batchNorm,
  },
  InstanceNormalization: { convert: instanceNorm },
};
