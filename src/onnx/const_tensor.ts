// A tensor whose value the importer knows at load time: an initializer, a Constant node, a
// graph input the caller fixed, or the result of folding ops over those. Exporters compute
// shapes with Shape → Gather → Concat → Reshape chains; keeping such values concrete lets
// every shape argument be read in JS instead of becoming (unsupported) dynamic shapes.

import { type AnyTypedArray, type DType, numbersToTyped, typedToNumbers } from '../graph/dtype.js';
import { numel } from '../graph/shape.js';
import { NDArray } from '../graph/ndarray.js';
import type { Dim } from '../graph/sym.js';

/**
 * The initializers whose values one import read (see readValues). The ONNX graph cache keys a
 * stored conversion by these tensors' contents: a model of the same structure whose
 * shape-determining data differs must not reuse the conversion (conversion_record.ts).
 */
export interface ValueReads {
  /** Names of initializers whose values the import read. */
  readonly initializers: Set<string>;
  /** Set when the import read a tensor the key cannot name (a Constant node's external data). */
  unkeyable: boolean;
}

let recording: ValueReads | undefined;

/** Runs `fn` (an import) noting every initializer whose values it reads. */
export function recordValueReads<T>(reads: ValueReads, fn: () => T): T {
  const prev = recording;
  recording = reads;
  try {
    return fn();
  } finally {
    recording = prev;
  }
}

/** Marks the running import as not cacheable by structure (it read data the model bytes do not hold). */
export function noteUnkeyableRead(): void {
  if (recording) recording.unkeyable = true;
}

export class ConstTensor {
  private nums: number[] | undefined;
  private typed: AnyTypedArray | undefined;
  private array: NDArray | undefined;
  /**
   * The initializer this tensor holds, if any: reading its values (values(), typedArray(),
   * exactAsNumbers()) is recorded, since the graph then depends on them; handing it to the
   * graph as a parameter (toNDArray()) is not.
   */
  source: string | undefined;
  /**
   * Over symbolic sizes (api/symbolic_variant.ts): each element as a size formula, where some
   * element depends on the size symbols (Shape of a symbolic value, and what folds from it:
   * onnx/sym_fold.ts). `values()` then holds the values at the hints.
   */
  sym: readonly Dim[] | undefined;

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

  /** An int64 tensor of sizes: `sym` set where some element is symbolic (values at the hints). */
  static sizes(shape: readonly number[], hints: number[], dims: readonly Dim[]): ConstTensor {
    const t = new ConstTensor(shape, 'int64', hints);
    if (dims.some((d) => typeof d !== 'number')) t.sym = dims.slice();
    return t;
  }

  /** Each element as a size formula (a number where static). */
  dims(): Dim[] {
    return this.sym ? this.sym.slice() : this.values().slice();
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
    this.noteRead();
    this.nums ??= Array.from(typedToNumbers(this.dtype, this.typed!));
    return this.nums;
  }

  /**
   * Whether values() holds every value exactly: int64 and uint64 values past 2^53 do not (the
   * importer then keeps the tensor as typed data: a parameter, never a folded constant).
   */
  exactAsNumbers(): boolean {
    if (this.dtype !== 'int64' && this.dtype !== 'uint64') return true;
    this.noteRead();
    if (!this.typed) return this.nums!.every((v) => Number.isSafeInteger(v));
    const limit = BigInt(Number.MAX_SAFE_INTEGER);
    for (const v of this.typed as BigInt64Array | BigUint64Array) if (v > limit || v < -limit) return false;
    return true;
  }

  /** The values as the typed array of the dtype (exact for data read from the file; half types as bits). */
  typedArray(): AnyTypedArray {
    this.noteRead();
    return this.data();
  }

  /**
   * The tensor as an NDArray over the same data, one object per tensor: every graph built from
   * a model (one per value of its value inputs) passes the same NDArray for a weight, so a
   * device keeps one copy of it (CUDA uploads once per NDArray object).
   */
  toNDArray(): NDArray {
    this.array ??= NDArray.from(this.data(), this.shape, { dtype: this.dtype });
    return this.array;
  }

  private data(): AnyTypedArray {
    this.typed ??= numbersToTyped(this.dtype, this.nums!);
    return this.typed;
  }

  private noteRead(): void {
    if (recording && this.source !== undefined) recording.initializers.add(this.source);
  }

  static fromNDArray(a: NDArray): ConstTensor {
    return new ConstTensor(a.shape, a.dtype, a.toTypedArraySync());
  }
}
