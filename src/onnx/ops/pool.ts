// Pooling and convolution, built from strided slices of the padded input: one slice per
// kernel offset, combined with max/sum (pooling) or stacked into columns for a matmul
// (convolution, "im2col"). Fine for the small kernels of the models kiln targets; there is
// no dedicated conv kernel.

import type { GraphBuilder } from '../../graph/builder.js';
import { isInt } from '../../graph/dtype.js';
import { intRange } from '../../graph/int.js';
import type { SliceDim } from '../../graph/ir.js';
import { ShapeError, fmtShape, numel } from '../../graph/shape.js';
import type { ConvertContext } from '../context.js';
import type { Val } from '../emit.js';
import type { OnnxNode } from '../node.js';
import type { OpTable } from './types.js';

/** Window geometry of one spatial dim. */
interface Win {
  in: number;
  k: number;
  stride: number;
  dil: number;
  padBegin: number;
  padEnd: number;
  out: number;
}

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

/** x padded with `fill` so that every window of every spatial dim (from dim 2) lies inside. */
function padInput(b: GraphBuilder, x: number, wins: Win[], fill: number): number {
  wins.forEach((w, i) => {
    const axis = i + 2;
    const need = (w.out - 1) * w.stride + (w.k - 1) * w.dil + 1;
    const after = Math.max(need - w.in - w.padBegin, 0);
    const parts: number[] = [];
    const block = (size: number) => {
      const shape = b.shape(x).map((d, k) => (k === axis ? size : d));
      return b.expand(b.scalar(fill, b.dtype(x)), shape);
    };
    if (w.padBegin > 0) parts.push(block(w.padBegin));
    parts.push(x);
    if (after > 0) parts.push(block(after));
    x = parts.length > 1 ? b.cat(parts, axis) : x;
  });
  return x;
}

/** Every kernel offset, as one index per spatial dim. */
function offsets(wins: Win[]): number[][] {
  let all: number[][] = [[]];
  for (const w of wins) all = all.flatMap((o) => Array.from({ length: w.k }, (_, j) => [...o, j]));
  return all;
}

/** The [N, C, out...] slice of the padded input seen by kernel offset `off`. */
function windowSlice(b: GraphBuilder, xp: number, wins: Win[], off: number[]): number {
  const shape = b.shape(xp);
  const dims: SliceDim[] = shape.map((d, i) => {
    if (i < 2) return { start: 0, step: 1, size: d };
    const w = wins[i - 2]!;
    return { start: off[i - 2]! * w.dil, step: w.stride, size: w.out };
  });
  return b.sliceDims(xp, dims);
}

/** Per output position, how many kernel taps average over (pads included or not). */
function avgCounts(wins: Win[], includePad: boolean): number[] {
  const outShape = wins.map((w) => w.out);
  const counts: number[] = [];
  const n = numel(outShape);
  for (let flat = 0; flat < n; flat++) {
    let rem = flat;
    let count = 1;
    for (let i = wins.length - 1; i >= 0; i--) {
      const w = wins[i]!;
      const o = rem % w.out;
      rem = Math.floor(rem / w.out);
      let c = 0;
      for (let j = 0; j < w.k; j++) {
        const pos = o * w.stride + j * w.dil - w.padBegin;
        const lo = includePad ? -w.padBegin : 0;
        const hi = includePad ? w.in + w.padEnd : w.in;
        if (pos >= lo && pos < hi) c++;
      }
      count *= c;
    }
    counts.push(count);
  }
  return counts;
}

function checkPool(n: OnnxNode): string[] {
  const issues: string[] = [];
  if (!AUTO_PADS.includes(n.string('auto_pad', 'NOTSET'))) issues.push(`auto_pad='${n.string('auto_pad')}'`);
  if (n.opType !== 'MaxPool' && n.outputs.slice(1).some((o) => o)) issues.push('a second output');
  if (!n.ints('kernel_shape')) issues.push('no kernel_shape');
  return issues;
}

/** Flat index into the spatial dims of the input for each output position, at kernel offset `off` (-1: padding). */
function tapIndices(wins: Win[], off: number[], columnMajor: boolean): number[] {
  const outShape = wins.map((w) => w.out);
  const strides: number[] = [];
  let acc = 1;
  const order = columnMajor ? wins.map((_, i) => i) : wins.map((_, i) => wins.length - 1 - i);
  for (const i of order) {
    strides[i] = acc;
    acc *= wins[i]!.in;
  }
  const res: number[] = [];
  for (let flat = 0; flat < numel(outShape); flat++) {
    let rem = flat;
    let idx = 0;
    for (let i = wins.length - 1; i >= 0; i--) {
      const w = wins[i]!;
      const o = rem % w.out;
      rem = Math.floor(rem / w.out);
      const pos = o * w.stride + off[i]! * w.dil - w.padBegin;
      idx = idx < 0 || pos < 0 || pos >= w.in ? -1 : idx + pos * strides[i]!;
    }
    res.push(idx);
  }
  return res;
}

function pool(kind: 'max' | 'avg') {
  return (ctx: ConvertContext, n: OnnxNode): Val[] => {
    const x = ctx.in(n, 0);
    const shape = ctx.shape(x);
    const wins = windows(n, shape.slice(2), n.ints('kernel_shape')!);
    const includePad = n.int('count_include_pad', 0) !== 0;
    const wantIndices = kind === 'max' && !!n.outputs[1];
    return ctx.em.emit([x], (b, [x]) => {
      // Max pooling pads with the lowest value of the dtype: for floats the lowest float32
      // rather than -inf (a plain literal in every backend's source), for ints their minimum.
      const dt = b.dtype(x!);
      const lowest = isInt(dt) ? intRange(dt)[0] : -3.4028234663852886e38;
      const xp = padInput(b, x!, wins, kind === 'max' ? lowest : 0);
      const outShape = wins.map((w) => w.out);
      let acc: number | undefined;
      let idx: number | undefined;
      for (const off of offsets(wins)) {
        const s = windowSlice(b, xp, wins, off);
        if (acc === undefined) {
          acc = s;
          if (wantIndices) idx = b.constant(tapIndices(wins, off, n.int('storage_order', 0) === 1), outShape, 'int64');
        } else if (wantIndices) {
          // Strictly greater: the first maximum in window order wins, as in the reference.
          const gt = b.binary('gt', s, acc);
          acc = b.where(gt, s, acc);
          idx = b.where(gt, b.constant(tapIndices(wins, off, n.int('storage_order', 0) === 1), outShape, 'int64'), idx!);
        } else acc = b.binary(kind === 'max' ? 'maximum' : 'add', acc, s);
      }
      if (kind === 'max') {
        if (!wantIndices) return acc!;
        // Indices are flat over the whole input: add the (n, c) plane offset.
        const [N, C] = shape as [number, number];
        const plane = numel(shape.slice(2));
        const unit = [N, C, ...outShape.map(() => 1)];
        const base = b.binary('add', b.iota(unit, 0, 0, C * plane, 'int64'), b.iota(unit, 1, 0, plane, 'int64'));
        return [acc!, b.binary('add', idx!, base)];
      }
      const counts = avgCounts(wins, includePad);
      return b.binary('div', acc!, b.constant(counts, outShape, b.dtype(x!)));
    });
  };
}

function conv(ctx: ConvertContext, n: OnnxNode): Val[] {
  const x = ctx.in(n, 0);
  const w = ctx.in(n, 1);
  const bias = ctx.opt(n, 2);
  const xs = ctx.shape(x);
  const ws = ctx.shape(w);
  const group = n.int('group', 1);
  const kernel = n.ints('kernel_shape') ?? ws.slice(2);
  const wins = windows(n, xs.slice(2), kernel);
  const [N, C] = xs as [number, number];
  const M = ws[0]!;
  if (C % group !== 0 || M % group !== 0 || ws[1] !== C / group) {
    throw new ShapeError(`${n.label}: weights ${fmtShape(ws)} do not fit input ${fmtShape(xs)} with group ${group}`);
  }
  const outSpatial = wins.map((win) => win.out);
  const P = numel(outSpatial);
  const K = numel(kernel);
  const operands = [x, w, ...(bias === undefined ? [] : [bias])];
  return ctx.em.emit(operands, (b, [x, w, bias]) => {
    const xp = padInput(b, x!, wins, 0);
    // Columns [N, C, K, P]: one slice per kernel offset, then merged to [N, C*K, P].
    const taps = offsets(wins).map((off) => b.reshape(windowSlice(b, xp, wins, off), [N, C, 1, P]));
    const cols = b.reshape(taps.length > 1 ? b.cat(taps, 2) : taps[0]!, [N, C * K, P]);
    const Cg = C / group;
    const Mg = M / group;
    const outs: number[] = [];
    for (let g = 0; g < group; g++) {
      const wg = b.reshape(group > 1 ? b.slice(w!, 0, g * Mg, (g + 1) * Mg) : w!, [Mg, Cg * K]);
      const cg = group > 1 ? b.slice(cols, 1, g * Cg * K, (g + 1) * Cg * K) : cols;
      outs.push(b.matmul(wg, cg));
    }
    let y = b.reshape(outs.length > 1 ? b.cat(outs, 1) : outs[0]!, [N, M, ...outSpatial]);
    if (bias !== undefined) y = b.binary('add', y, b.reshape(bias, [M, ...outSpatial.map(() => 1)]));
    return y;
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
  MaxPool: { check: checkPool, convert: pool('max') },
  AveragePool: { check: checkPool, convert: pool('avg') },
  GlobalMaxPool: { convert: globalPool('max') },
  GlobalAveragePool: { convert: globalPool('sum') },
  Conv: {
    check: (n) => (AUTO_PADS.includes(n.string('auto_pad', 'NOTSET')) ? [] : [`auto_pad='${n.string('auto_pad')}'`]),
    convert: conv,
  },
};
