// Convolution and pooling of traced tensors, PyTorch's conv2d / max_pool2d / avg_pool2d (N, C,
// H, W layout, floor mode, symmetric padding), built by graph/windows.ts as the ONNX importer's
// Conv and pools are: a batch (any dim before the spatial ones) may be a size symbol under
// compile(fn, { dynamic }).

import { ShapeError, fmtShape } from '../graph/shape.js';
import type { NDArray } from '../graph/ndarray.js';
import { convolve, floorWindows, pool } from '../graph/windows.js';
import { Tensor, operandId, tracerOf } from './tensor.js';

/** A size per spatial dim, or one for both. */
type Pair = number | readonly [number, number];

const pair = (name: string, v: Pair, min: number): [number, number] => {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (p.some((n) => !Number.isInteger(n) || n < min)) throw new ShapeError(`${name} must be integers >= ${min}, got ${JSON.stringify(v)}`);
  return p;
};

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

/** y = conv2d(x, weight) + bias: x [N, C, H, W], weight [M, C / groups, kH, kW], bias [M]. */
export function conv2d(x: Tensor, weight: Tensor | NDArray, bias?: Tensor | NDArray, options: Conv2dOptions = {}): Tensor {
  const t = tracerOf('conv2d', [x, weight, ...(bias ? [bias] : [])]);
  const groups = options.groups ?? 1;
  const ws = weight.shape;
  if (x.ndim !== 4 || ws.length !== 4 || !Number.isInteger(groups) || groups < 1 || x.shape[1]! % groups !== 0 || ws[0]! % groups !== 0 || ws[1] !== x.shape[1]! / groups) {
    throw new ShapeError(`conv2d: weight ${fmtShape(ws)} does not fit input ${fmtShape(x.shape)} with groups ${groups}`);
  }
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== ws[0])) throw new ShapeError(`conv2d: bias ${fmtShape(bias.shape)} for ${ws[0]} output channels`);
  const wins = floorWindows(x.shape.slice(2), ws.slice(2), pair('conv2d: stride', options.stride ?? 1, 1), pair('conv2d: padding', options.padding ?? 0, 0), pair('conv2d: dilation', options.dilation ?? 1, 1));
  const w = operandId(t, weight, x.dtype);
  const b = bias === undefined ? undefined : operandId(t, bias, x.dtype);
  return new Tensor(t, convolve(t.b, x.id, w, b, wins, groups));
}

export interface Pool2dOptions {
  /** Defaults to the kernel size, as PyTorch's. */
  stride?: Pair;
  padding?: Pair;
}

function pool2d(kind: 'max' | 'avg', x: Tensor, kernel: Pair, options: Pool2dOptions): Tensor {
  const name = `${kind}Pool2d`;
  if (x.ndim !== 4) throw new ShapeError(`${name}: expects [N, C, H, W], got ${fmtShape(x.shape)}`);
  const k = pair(`${name}: kernel`, kernel, 1);
  const wins = floorWindows(x.shape.slice(2), k, pair(`${name}: stride`, options.stride ?? k, 1), pair(`${name}: padding`, options.padding ?? 0, 0), [1, 1]);
  // PyTorch's avg_pool2d counts the padding (count_include_pad=True).
  return new Tensor(x.tracer, pool(x.tracer.b, x.id, wins, kind, true));
}

export const maxPool2d = (x: Tensor, kernel: Pair, options: Pool2dOptions = {}): Tensor => pool2d('max', x, kernel, options);
export const avgPool2d = (x: Tensor, kernel: Pair, options: Pool2dOptions = {}): Tensor => pool2d('avg', x, kernel, options);
