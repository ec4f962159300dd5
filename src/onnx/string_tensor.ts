// String tensors, which exist only at an ONNX model's boundary: a STRING graph input read by
// Cast, or a STRING graph output written by Cast. Kernels never hold strings; the model
// wrapper parses and formats them on the host (strings.ts).

import { assertValidShape, fmtShape, numel, ShapeError, type Shape } from '../graph/shape.js';
import type { NDArray } from '../graph/ndarray.js';

export class StringTensor {
  readonly dtype = 'string' as const;
  readonly shape: readonly number[];
  readonly data: readonly string[];

  constructor(data: readonly string[], shape: Shape) {
    assertValidShape('StringTensor', shape);
    if (data.length !== numel(shape)) {
      throw new ShapeError(`StringTensor: ${data.length} strings do not match shape ${fmtShape(shape)} (${numel(shape)} elements)`);
    }
    this.data = [...data];
    this.shape = [...shape];
  }

  get size(): number {
    return this.data.length;
  }

  toString(): string {
    return `StringTensor(${fmtShape(this.shape)})`;
  }
}

/** What an ONNX model takes and returns: numeric tensors, or strings at its boundary. */
export type OnnxValue = NDArray | StringTensor;
