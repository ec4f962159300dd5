// What the graph IR's scatter op computes, over JS numbers: one definition for the reference
// interpreter and the ONNX importer's load-time folding, through their evaluator (evaluate.ts).
// Updates are applied one at a time in row-major order of `updates`, so duplicate indices
// with a reduction combine in that order and, without one, the last update wins; an index
// still out of range after negative indices wrap drops its update.

import type { DType } from './dtype.js';
import { binaryFnFor } from './elementwise_ref.js';
import type { ScatterReduction } from './ir.js';
import { contiguousStrides, numel, type Shape } from './shape.js';

export interface ScatterAttrs {
  form: 'nd' | 'elements';
  axis: number;
  reduction: ScatterReduction;
}

/** The combined value of an existing element and an update (bool: add is or, mul is and). */
export function scatterCombine(reduction: ScatterReduction, dt: DType): (old: number, upd: number) => number {
  switch (reduction) {
    case 'none':
      return (_old, upd) => upd;
    case 'add':
      return binaryFnFor('add', dt);
    case 'mul':
      return binaryFnFor('mul', dt);
    case 'max':
      return binaryFnFor('maximum', dt);
    case 'min':
      return binaryFnFor('minimum', dt);
    default:
      return reduction satisfies never;
  }
}

/** An index along a dim of size n with negative values wrapped, or -1 when out of range. */
export function wrapIndex(i: number, n: number): number {
  const w = i < 0 ? i + n : i;
  return w >= 0 && w < n ? w : -1;
}

/**
 * The scatter's result: a copy of `data` with every update combined in. `round` applies the
 * result dtype's semantics after each update (a kernel stores every combined value).
 */
export function scatterRef(
  a: ScatterAttrs,
  dataShape: Shape,
  data: ArrayLike<number>,
  indicesShape: Shape,
  indices: ArrayLike<number>,
  updates: ArrayLike<number>,
  dt: DType,
  round: (v: number) => number,
): Float64Array {
  const out = Float64Array.from(data);
  const combine = scatterCombine(a.reduction, dt);
  const strides = contiguousStrides(dataShape);
  const put = (p: number, u: number) => (out[p] = round(combine(out[p]!, updates[u]!)));
  if (a.form === 'nd') {
    const k = indicesShape[indicesShape.length - 1]!;
    const count = numel(indicesShape.slice(0, -1));
    const slice = numel(dataShape.slice(k));
    for (let u = 0; u < count; u++) {
      let base = 0;
      let ok = true;
      for (let t = 0; t < k; t++) {
        const w = wrapIndex(indices[u * k + t]!, dataShape[t]!);
        if (w < 0) ok = false;
        base += w * strides[t]!;
      }
      if (!ok) continue;
      for (let j = 0; j < slice; j++) put(base + j, u * slice + j);
    }
    return out;
  }
  const axis = a.axis;
  const n = numel(indicesShape);
  const coord = new Array<number>(indicesShape.length).fill(0);
  for (let i = 0; i < n; i++) {
    const w = wrapIndex(indices[i]!, dataShape[axis]!);
    if (w >= 0) {
      let p = 0;
      for (let d = 0; d < coord.length; d++) p += (d === axis ? w : coord[d]!) * strides[d]!;
      put(p, i);
    }
    for (let d = coord.length - 1; d >= 0; d--) {
      if (++coord[d]! < indicesShape[d]!) break;
      coord[d] = 0;
    }
  }
  return out;
}
