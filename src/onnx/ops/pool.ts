// ONNX pooling and convolution: the window geometry from a node's attributes (pads, auto_pad,
// ceil_mode), the ops themselves over the input's window view in graph/windows.ts.

import { ShapeError, fmtShape, numel } from '../../graph/shape.js';
import { type Win, convolve, pool, poolTaps } from '../../graph/windows.js';
import type { ConvertContext } from '../context.js';
import type { Val } from '../emit.js';
import type { OnnxNode } from '../node.js';
import type { OpTable } from './types.js';

const AUTO_PADS = ['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'];

function windows(n: OnnxNode, spatial: readonly number[], kernel: number[]): Win[] {
  const r = spatial.length;
  const strides = n.ints('strides') ?? new Array<number>(r).fill(1);
  const dils = n.ints('dilations') ?? new Array<number>(r).fill(1);
  const pads = n.ints('pads') ?? new Array<number>(2 * r).fill(0);
  const autoPad = n.string('auto_pad', 'NOTSET');
  const ceil = n.int('ceil_mode', 0) !== 0;
  if (kernel.length !== r) throw new ShapeError(`${n.label}: kernel_shape [${kernel}] for ${r} spatial dims`);
  return spatial.map((len, i) => {
    const k = kernel[i]!;
    const s = strides[i]!;
    const d = dils[i]!;
    const ek = (k - 1) * d + 1;
    let pb = pads[i]!;
    let pe = pads[i + r]!;
    let out: number;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      out = Math.ceil(len / s);
      const total = Math.max((out - 1) * s + ek - len, 0);
      pb = autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
      pe = total - pb;
    } else if (autoPad === 'VALID') {
      pb = pe = 0;
      out = Math.floor((len - ek) / s) + 1;
    } else {
      const span = len + pb + pe - ek;
      out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
      // A ceil-mode window must start inside the input or the leading pad (as PyTorch and ORT).
      if (ceil && (out - 1) * s >= len + pb) out--;
    }
    if (out <= 0) throw new ShapeError(`${n.label}: kernel ${ek} does not fit dim of size ${len} (pads ${pb},${pe})`);
    return { in: len, k, stride: s, dil: d, padBegin: pb, padEnd: pe, out };
  });
}

function checkPool(n: OnnxNode): string[] {
  const issues: string[] = [];
  if (!AUTO_PADS.includes(n.string('auto_pad', 'NOTSET'))) issues.push(`auto_pad='${n.string('auto_pad')}'`);
  if (n.opType !== 'MaxPool' && n.outputs.slice(1).some((o) => o)) issues.push('a second output');
  if (!n.ints('kernel_shape')) issues.push('no kernel_shape');
  return issues;
}

/**
 * Max and average pooling: one reduction over the tap dims of the input's window view (max
 * pads with the dtype's lowest value, average with 0 and divides by the taps counted), so one
 * kernel whatever the kernel size. MaxPool's Indices are an argmax over the same taps (the
 * same kernel), turned into flat input indices by index arithmetic.
 */
function poolOp(kind: 'max' | 'avg') {
  return (ctx: ConvertContext, n: OnnxNode): Val[] => {
    const x = ctx.in(n, 0);
    const shape = ctx.shape(x);
    const wins = windows(n, shape.slice(2), n.ints('kernel_shape')!);
    const includePad = n.int('count_include_pad', 0) !== 0;
    const wantIndices = kind === 'max' && !!n.outputs[1];
    const columnMajor = n.int('storage_order', 0) === 1;
    return ctx.em.emit([x], (b, [x]) => {
      if (!wantIndices) return pool(b, x!, wins, kind, includePad);
      const outShape = wins.map((w) => w.out);
      const r = wins.length;
      const taps = poolTaps(b, x!, wins, 'max');
      const rank = 2 + r;
      const y = b.reduce('max', taps, rank, false);
      // Tap t of the window at o reads input position o·stride + tap·dilation − pad per dim;
      // indices are flat over the whole input: (n, c) plane offset + position in the plane.
      let t = b.reduce('argmax', taps, rank, false);
      const [N, C] = shape as [number, number];
      const plane = numel(shape.slice(2));
      const unit = [N, C, ...outShape.map(() => 1)];
      let flat = b.binary('add', b.iota(unit, 0, 0, C * plane, 'int64'), b.iota(unit, 1, 0, plane, 'int64'));
      const strides: number[] = [];
      let acc = 1;
      for (const i of columnMajor ? wins.map((_, i) => i) : wins.map((_, i) => r - 1 - i)) {
        strides[i] = acc;
        acc *= wins[i]!.in;
      }
      for (let i = r - 1; i >= 0; i--) {
        const w = wins[i]!;
        const k = b.scalar(w.k, 'int64');
        const tap = b.binary('mod', t, k);
        t = b.binary('trunc_div', t, k);
        const at = [1, 1, ...outShape.map((o, j) => (j === i ? o : 1))];
        const pos = b.binary('add', b.iota(at, 2 + i, -w.padBegin, w.stride, 'int64'), b.binary('mul', tap, b.scalar(w.dil, 'int64')));
        flat = b.binary('add', flat, b.binary('mul', pos, b.scalar(strides[i]!, 'int64')));
      }
      return [y, flat];
    });
  };
}

/**
 * Convolution. Taps of the window view of x (zero padding) are read through index arithmetic,
 * never copied, and the kernel count does not depend on the kernel size or the group count:
 * - a 1×1 stride-1 unpadded conv is a matmul of the weights with x itself;
 * - convs with one input channel per group (depthwise) or few outputs per group are one
 *   reduction over (input channel of the group, taps) of window × weight, bias fused;
 * - every other conv is an implicit GEMM: per batch n and group g, W[g] [Mg, Cg·K] times the
 *   window view [Cg·K, P] (a matmul operand realize.ts leaves as an index expression),
 *   groups a batch dim of the matmul, bias and what follows fused as its epilogue.
 */
function conv(ctx: ConvertContext, n: OnnxNode): Val[] {
  const x = ctx.in(n, 0);
  const w = ctx.in(n, 1);
  const bias = ctx.opt(n, 2);
  const xs = ctx.shape(x);
  const ws = ctx.shape(w);
  const group = n.int('group', 1);
  const kernel = n.ints('kernel_shape') ?? ws.slice(2);
  const wins = windows(n, xs.slice(2), kernel);
  const C = xs[1]!;
  const M = ws[0]!;
  if (C % group !== 0 || M % group !== 0 || ws[1] !== C / group || ws.length !== xs.length || kernel.some((k, i) => k !== ws[i + 2])) {
    throw new ShapeError(`${n.label}: weights ${fmtShape(ws)} do not fit input ${fmtShape(xs)} with group ${group} and kernel_shape [${kernel}]`);
  }
  const operands = [x, w, ...(bias === undefined ? [] : [bias])];
  return ctx.em.emit(operands, (b, [x, w, bias]) => convolve(b, x!, w!, bias, wins, group));
}

/**
 * ConvTranspose as the conv it is equivalent to: over the input with stride−1 zeros between
 * elements (a `cat` with zero blocks, inlined), padded by dilation·(k−1) − pads (cropped where
 * negative), with the weights transposed per group and flipped, at stride 1: the conv paths
 * above, so one kernel again whatever the kernel size or group count.
 */
function convTranspose(ctx: ConvertContext, n: OnnxNode): Val[] {
  const x = ctx.in(n, 0);
  const w = ctx.in(n, 1);
  const bias = ctx.opt(n, 2);
  const xs = ctx.shape(x);
  const ws = ctx.shape(w);
  const group = n.int('group', 1);
  const spatial = xs.slice(2);
  const r = spatial.length;
  const kernel = n.ints('kernel_shape') ?? ws.slice(2);
  const C = xs[1]!;
  const Cg = C / group;
  const Mg = ws[1]!;
  const M = Mg * group;
  if (C % group !== 0 || ws[0] !== C || ws.length !== xs.length || kernel.length !== r || kernel.some((k, i) => k !== ws[i + 2])) {
    throw new ShapeError(`${n.label}: weights ${fmtShape(ws)} do not fit input ${fmtShape(xs)} with group ${group} and kernel_shape [${kernel}]`);
  }
  const strides = n.ints('strides') ?? new Array<number>(r).fill(1);
  const dils = n.ints('dilations') ?? new Array<number>(r).fill(1);
  const outPad = n.ints('output_padding') ?? new Array<number>(r).fill(0);
  const outputShape = n.ints('output_shape');
  const autoPad = n.string('auto_pad', 'NOTSET');
  let pads = n.ints('pads') ?? new Array<number>(2 * r).fill(0);
  const full = (i: number) => strides[i]! * (spatial[i]! - 1) + outPad[i]! + (kernel[i]! - 1) * dils[i]! + 1;
  if (outputShape || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const want = outputShape ? outputShape.slice(-r) : spatial.map((d, i) => d * strides[i]!);
    pads = new Array<number>(2 * r).fill(0);
    for (let i = 0; i < r; i++) {
      const total = full(i) - want[i]!;
      const half = Math.floor(total / 2);
      [pads[i], pads[i + r]] = autoPad === 'SAME_UPPER' ? [half, total - half] : [total - half, half];
    }
  } else if (autoPad === 'VALID') pads = new Array<number>(2 * r).fill(0);
  const operands = [x, w, ...(bias === undefined ? [] : [bias])];
  return ctx.em.emit(operands, (b, [x, w, bias]) => {
    let xv = x!;
    const wins: Win[] = [];
    for (let i = 0; i < r; i++) {
      const axis = 2 + i;
      const s = strides[i]!;
      const len = spatial[i]!;
      if (s > 1) {
        // Zero-stuffing: [.., len, ..] → [.., len, s, ..] with zeros after each element → [.., (len−1)·s + 1, ..].
        const sh = b.shape(xv);
        const one = [...sh.slice(0, axis + 1), 1, ...sh.slice(axis + 1)];
        const zeros = b.expand(b.scalar(0, b.dtype(xv)), one.map((d, j) => (j === axis + 1 ? s - 1 : d)));
        xv = b.cat([b.reshape(xv, one), zeros], axis + 1);
        xv = b.reshape(xv, sh.map((d, j) => (j === axis ? d * s : d)));
        xv = b.slice(xv, axis, 0, (len - 1) * s + 1);
      }
      const ek = (kernel[i]! - 1) * dils[i]!;
      let pb = ek - pads[i]!;
      let pe = ek - pads[i + r]! + outPad[i]!;
      // Negative padding crops.
      if (pb < 0 || pe < 0) {
        const L = b.shape(xv)[axis]!;
        xv = b.slice(xv, axis, Math.max(-pb, 0), L - Math.max(-pe, 0));
        pb = Math.max(pb, 0);
        pe = Math.max(pe, 0);
      }
      const L = b.shape(xv)[axis]!;
      const out = L + pb + pe - ek;
      if (out <= 0) throw new ShapeError(`${n.label}: output size ${out} for spatial dim ${i}`);
      wins.push({ in: L, k: kernel[i]!, stride: 1, dil: dils[i]!, padBegin: pb, padEnd: pe, out });
    }
    // Flipped along every tap dim, then [C, Mg, k...] = [G, Cg, Mg, k...] → [G, Mg, Cg, k...] →
    // [M, Cg, k...]: the flip and the permute are strided, so at most one copy of the weights.
    let wv = b.sliceDims(w!, ws.map((d, j) => (j < 2 ? { start: 0, step: 1, size: d } : { start: d - 1, step: -1, size: d })));
    wv = b.reshape(wv, [group, Cg, Mg, ...kernel]);
    wv = b.permute(wv, [0, 2, 1, ...kernel.map((_, i) => 3 + i)]);
    wv = b.reshape(wv, [M, Cg, ...kernel]);
    return convolve(b, xv, wv, bias, wins, group);
  });
}

function globalPool(fn: 'sum' | 'max') {
  return (ctx: ConvertContext, n: OnnxNode): Val[] =>
    ctx.em.emit([ctx.in(n, 0)], (b, [x]) => {
      const s = b.shape(x!);
      const dims = s.map((_, i) => i).slice(2);
      const r = b.reduce(fn, x!, dims, true);
      return fn === 'max' ? r : b.binary('div', r, b.scalar(numel(dims.map((d) => s[d]!)), b.dtype(x!)));
    });
}

export const poolOps: OpTable = {
  MaxPool: { check: checkPool, convert: poolOp('max') },
  AveragePool: { check: checkPool, convert: poolOp('avg') },
  GlobalMaxPool: { convert: globalPool('max') },
  GlobalAveragePool: { convert: globalPool('sum') },
  Conv: {
    check: (n) => (AUTO_PADS.includes(n.string('auto_pad', 'NOTSET')) ? [] : [`auto_pad='${n.string('auto_pad')}'`]),
    convert: conv,
  },
  ConvTranspose: {
    check: (n) => (AUTO_PADS.includes(n.string('auto_pad', 'NOTSET')) ? [] : [`auto_pad='${n.string('auto_pad')}'`]),
    convert: convTranspose,
  },
};
