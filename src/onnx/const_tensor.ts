// A tensor whose value the importer knows at load time: an initializer, a Constant node, a
// graph input the caller fixed, or the result of folding ops over those. Exporters compute
// shapes with Shape → Gather → Concat → Reshape chains; keeping such values concrete lets
// every shape argument be read in JS instead of becoming (unsupported) dynamic shapes.

import { type AnyTypedArray, type DType, numbersToTyped, typedToNumbers } from '../graph/dtype.js';
import { numel } from '../graph/shape.js';
import { NDArray } from '../graph/ndarray.js';

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

  /**
   * The values as JS numbers (half types decoded; int64 beyond 2^53 loses precision, which
   * shape math never needs).
   */
  values(): number[] {
    this.nums ??= Array.from(typedToNumbers(this.dtype, this.typed!));
    return this.nums;
  }

  /**
   * Whether values() holds every value exactly: int64 and uint64 values past 2^53 do not (the
   * importer then keeps the tensor as typed data: a parameter, never a folded constant).
   */
  exactAsNumbers(): boolean {
    if (this.dtype !== 'int64' && this.dtype !== 'uint64') return true;
    if (!this.typed) return this.nums!.every((v) => Number.isSafeInteger(v));
    const limit = BigInt(Number.MAX_SAFE_INTEGER);
    for (const v of this.typed as BigInt64Array | BigUint64Array) if (v > limit || v < -limit) return false;
    return true;
  }

  /** The values as the typed array of the dtype (exact for data read from the file; half types as bits). */
  typedArray(): AnyTypedArray {
    this.typed ??= numbersToTyped(this.dtype, this.nums!);
    return this.typed;
  }

  toNDArray(): NDArray {
    return NDArray.from(this.typedArray(), this.shape, { dtype: this.dtype });
  }

  static fromNDArray(a: NDArray): ConstTensor {
    return new ConstTensor(a.shape, a.dtype, a.toTypedArraySync());
  }
}
