// A tensor whose value the importer knows at load time: an initializer, a Constant node, a
// graph input the caller fixed, or the result of folding ops over those. Exporters compute
// shapes with Shape → Gather → Concat → Reshape chains; keeping such values concrete lets
// every shape argument be read in JS instead of becoming (unsupported) dynamic shapes.

import { type AnyTypedArray, type DType, allocTyped } from '../graph/dtype.js';
import { numel } from '../graph/shape.js';
import { NDArray } from '../frontend/ndarray.js';

const I64_MAX = 2n ** 63n - 1n;
const I64_MIN = -(2n ** 63n);

/** A JS number as an int64, saturating (int64 values are carried as numbers while folding). */
export function toBigInt64(v: number): bigint {
  if (!Number.isFinite(v)) return v > 0 ? I64_MAX : v < 0 ? I64_MIN : 0n;
  const b = BigInt(Math.trunc(v));
  return b > I64_MAX ? I64_MAX : b < I64_MIN ? I64_MIN : b;
}

export class ConstTensor {
  private nums: number[] | undefined;
  private typed: AnyTypedArray | undefined;

  /**
   * `weight` marks initializers that are model weights: they become graph parameters (bound
   * at run time, keyed by shape only) rather than constants baked into kernels.
   */
  constructor(
    readonly shape: readonly number[],
    readonly dtype: DType,
    data: number[] | AnyTypedArray,
    readonly weight = false,
  ) {
    if (Array.isArray(data)) this.nums = data;
    else this.typed = data;
  }

  static scalar(v: number, dtype: DType): ConstTensor {
    return new ConstTensor([], dtype, [v]);
  }

  get size(): number {
    return numel(this.shape);
  }

  /** The values as JS numbers (int64 beyond 2^53 loses precision, which shape math never needs). */
  values(): number[] {
    if (!this.nums) {
      const t = this.typed!;
      this.nums = new Array<number>(t.length);
      for (let i = 0; i < t.length; i++) this.nums[i] = Number(t[i]);
    }
    return this.nums;
  }

  /** The values as the typed array of the dtype (exact for data read from the file). */
  typedArray(): AnyTypedArray {
    if (!this.typed) {
      const out = allocTyped(this.dtype, this.nums!.length);
      const v = this.nums!;
      if (out instanceof BigInt64Array) for (let i = 0; i < v.length; i++) out[i] = toBigInt64(v[i]!);
      else if (out instanceof Uint8Array) for (let i = 0; i < v.length; i++) out[i] = v[i] ? 1 : 0;
      else out.set(v);
      this.typed = out;
    }
    return this.typed;
  }

  toNDArray(): NDArray {
    return NDArray.from(this.typedArray(), this.shape, { dtype: this.dtype });
  }

  static fromNDArray(a: NDArray): ConstTensor {
    return new ConstTensor(a.shape, a.dtype, a.toTypedArraySync());
  }
}
