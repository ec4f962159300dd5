// Free functions of the public API: where, cat, layerNorm (and a few helpers users expect).

import { promote } from '../graph/dtype.js';
import { ShapeError, fmtShape } from '../graph/shape.js';
import { NDArray } from '../graph/ndarray.js';
import { Tensor, type TensorLike, operandId, tracerOf } from './tensor.js';

function dtypeOf(x: TensorLike) {
  return x instanceof Tensor || x instanceof NDArray ? x.dtype : undefined;
}

export function where(cond: TensorLike, a: TensorLike, b: TensorLike): Tensor {
  const t = tracerOf('where', [cond, a, b]);
  const like = dtypeOf(a) ?? dtypeOf(b) ?? 'float32';
  const ca = operandId(t, cond, 'bool');
  const ia = operandId(t, a, like);
  const ib = operandId(t, b, dtypeOf(b) ?? like);
  return new Tensor(t, t.b.where(ca, ia, ib));
}

export function cat(tensors: readonly (Tensor | NDArray)[], dim: number): Tensor {
  const t = tracerOf('cat', tensors);
  let dt = dtypeOf(tensors[0]!) ?? 'float32';
  for (const x of tensors) dt = promote(dt, dtypeOf(x)!, 'cat');
  return new Tensor(t, t.b.cat(tensors.map((x) => operandId(t, x, dt)), dim));
}

/** Layer normalisation over the trailing `normalizedShape` dims (biased variance, as PyTorch). */
export function layerNorm(
  x: Tensor,
  normalizedShape: number | readonly number[],
  weight?: Tensor | NDArray,
  bias?: Tensor | NDArray,
  eps = 1e-5,
): Tensor {
  const ns = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
  const tail = x.shape.slice(x.ndim - ns.length);
  if (ns.length > x.ndim || tail.some((d, i) => d !== ns[i])) {
    throw new ShapeError(`layerNorm: normalizedShape ${fmtShape(ns)} does not match the trailing dims of ${fmtShape(x.shape)}`);
  }
  const dims = ns.map((_, i) => i - ns.length);
  return x.inOpmath((xf) => {
    const mean = xf.mean(dims, true);
    const centered = xf.sub(mean);
    const variance = centered.mul(centered).mean(dims, true);
    let y = centered.mul(variance.add(eps).rsqrt());
    if (weight !== undefined) y = y.mul(weight);
    if (bias !== undefined) y = y.add(bias);
    return y;
  });
}
