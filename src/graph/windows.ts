// Convolution and pooling over the window view of a tensor (GraphBuilder.window: each spatial
// dim becomes window positions × taps, padding read as a fill value), shared by the ONNX
// importer (onnx/ops/pool.ts, which derives the geometry from a node's attributes) and the
// traced functions (frontend/conv.ts): pooling is a reduction over the taps, a conv a reduction
// of window × weight or a matmul whose operand is the window view itself (an implicit GEMM).
// The kernel count per op is constant: it does not grow with the kernel size or the group
// count. The dims before the spatial ones (batch, channels) may be symbolic; the spatial ones
// are static (the geometry is computed from them).

import type { GraphBuilder } from './builder.js';
import { isInt } from './dtype.js';
import { intRange } from './int.js';
import { ShapeError, numel } from './shape.js';

/** Window geometry of one spatial dim. */
export interface Win {
  in: number;
  k: number;
  stride: number;
  dil: number;
  padBegin: number;
  padEnd: number;
  out: number;
}

/** Floor-mode windows (PyTorch's conv and pooling): `pad` on both sides of each spatial dim. */
export function floorWindows(spatial: readonly number[], k: readonly number[], stride: readonly number[], pad: readonly number[], dil: readonly number[]): Win[] {
  return spatial.map((len, i) => {
    const ek = (k[i]! - 1) * dil[i]! + 1;
    const out = Math.floor((len + 2 * pad[i]! - ek) / stride[i]!) + 1;
    if (out <= 0) throw new ShapeError(`a window of ${ek} does not fit spatial dim ${i} of size ${len} (padding ${pad[i]})`);
    return { in: len, k: k[i]!, stride: stride[i]!, dil: dil[i]!, padBegin: pad[i]!, padEnd: pad[i]!, out };
  });
}

/** The window view of x over its spatial dims (from dim 2), padding reading `fill`. */
export function windowOf(b: GraphBuilder, x: number, wins: Win[], fill: number): number {
  return b.window(
    x,
    wins.map((w, i) => {
      // padAfter: exactly what the last window needs (ceil mode may need more than the pads,
      // floor mode may leave trailing elements unread).
      const need = (w.out - 1) * w.stride + (w.k - 1) * w.dil + 1;
      return { dim: i + 2, k: w.k, stride: w.stride, dilation: w.dil, padBefore: w.padBegin, padAfter: need - w.in - w.padBegin };
    }),
    fill,
  );
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

/**
 * The taps of x's window view, flattened into one trailing dim: [N, C, O..., taps] (max and
 * argmax then reduce over one domain). Max pooling pads with the lowest value of the dtype:
 * for floats the lowest float32 rather than -inf (a plain literal in every backend's source),
 * for ints their minimum.
 */
export function poolTaps(b: GraphBuilder, x: number, wins: Win[], kind: 'max' | 'avg'): number {
  const dt = b.dtype(x);
  const lowest = isInt(dt) ? intRange(dt)[0] : -3.4028234663852886e38;
  const xw = windowOf(b, x, wins, kind === 'max' ? lowest : 0);
  return b.reshape(xw, [...b.shape(x).slice(0, 2), ...wins.map((w) => w.out), numel(wins.map((w) => w.k))]);
}

/** Max or average pooling of x over `wins`: one reduction over the taps (average divides by the taps counted). */
export function pool(b: GraphBuilder, x: number, wins: Win[], kind: 'max' | 'avg', includePad: boolean): number {
  const taps = poolTaps(b, x, wins, kind);
  const rank = 2 + wins.length;
  if (kind === 'max') return b.reduce('max', taps, rank, false);
  const sum = b.reduce('sum', taps, rank, false);
  const counts = avgCounts(wins, includePad);
  const uniform = counts.every((c) => c === counts[0]);
  return b.binary('div', sum, uniform ? b.scalar(counts[0]!, b.dtype(x)) : b.constant(counts, wins.map((w) => w.out), b.dtype(x)));
}

/** y = conv(x, w) + bias over windows `wins`; w is [M, C/group, k...]. */
export function convolve(b: GraphBuilder, x: number, w: number, bias: number | undefined, wins: Win[], group: number): number {
  const [N, C] = b.shape(x) as [number, number];
  const M = b.shape(w)[0]!;
  const kernel = wins.map((win) => win.k);
  const outSpatial = wins.map((win) => win.out);
  const r = wins.length;
  const P = numel(outSpatial);
  const K = numel(kernel);
  const Cg = C / group;
  const Mg = M / group;
  let y: number;
  const pointwise = wins.every((win) => win.k === 1 && win.stride === 1 && win.padBegin === 0 && win.out === win.in);
  if (pointwise) {
    // [G, Mg, Cg] @ [N, G, Cg, P]: strided operands, a plain (batched) matmul.
    const wm = b.reshape(w, group > 1 ? [group, Mg, Cg] : [M, Cg]);
    const xm = b.reshape(x, group > 1 ? [N, group, Cg, P] : [N, Cg, P]);
    y = b.matmul(wm, xm);
  } else if (Cg === 1 || Mg <= 8) {
    // Direct: y[n, m, o] = Σ_{cg, t} X[n, g·Cg + cg, window(o, t)] · W[m, cg, t], g = m / Mg.
    const xw = windowOf(b, x, wins, 0); // [N, C, O..., K...]
    const tapDims = Array.from({ length: r }, (_, i) => 3 + r + i);
    // [N, G, Cg, O..., K...] → [N, G, O..., Cg, K...] → broadcast over Mg → [N, M, O..., Cg, K...]
    let v = b.reshape(xw, [N, group, Cg, ...outSpatial, ...kernel]);
    v = b.permute(v, [0, 1, ...outSpatial.map((_, i) => 3 + i), 2, ...tapDims]);
    if (Mg > 1) {
      v = b.reshape(v, [N, group, 1, ...outSpatial, Cg, ...kernel]);
      v = b.expand(v, [N, group, Mg, ...outSpatial, Cg, ...kernel]);
    }
    v = b.reshape(v, [N, M, ...outSpatial, Cg, ...kernel]);
    const wv = b.reshape(w, [M, ...outSpatial.map(() => 1), Cg, ...kernel]);
    const prod = b.binary('mul', v, wv);
    y = b.reduce('sum', prod, Array.from({ length: 1 + r }, (_, i) => 2 + r + i), false);
  } else {
    const xw = windowOf(b, x, wins, 0); // [N, C, O..., K...]
    // [N, C, K..., O...] → [N, G, Cg·K, P]: the implicit B operand.
    let cols = b.permute(xw, [0, 1, ...kernel.map((_, i) => 2 + r + i), ...outSpatial.map((_, i) => 2 + i)]);
    cols = b.reshape(cols, group > 1 ? [N, group, Cg * K, P] : [N, Cg * K, P]);
    const wm = b.reshape(w, group > 1 ? [group, Mg, Cg * K] : [M, Cg * K]);
    y = b.matmul(wm, cols);
  }
  y = b.reshape(y, [N, M, ...outSpatial]);
  if (bias !== undefined) y = b.binary('add', y, b.reshape(bias, [M, ...outSpatial.map(() => 1)]));
  return y;
}
