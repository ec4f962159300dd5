// NDArray: concrete tensor data that the user hands to and gets back from kiln. Host data
// lives in a typed array; CUDA results stay on the device until toTypedArray(). float16 and
// bfloat16 data is a Uint16Array of raw bits (JS has no 16-bit float array): NDArray.from
// takes such bits as they are and converts anything else from numbers; toArray() decodes.
// Integer dtypes live in the typed array of their width and sign (uint64: BigUint64Array).

import { type AnyTypedArray, type DType, allocTyped, isDType, numbersToTyped, typedToNumbers } from '../graph/dtype.js';
import { ShapeError, assertValidShape, fmtShape, numel, type Shape } from '../graph/shape.js';

export type Device = 'cpu' | 'cuda';

/** Device-resident storage, provided by a backend runtime (kept abstract so the frontend knows no CUDA). */
export interface DeviceStorage {
  readonly device: Device;
  /** Copies the data to the host. */
  read(): Promise<AnyTypedArray>;
  /** Releases the memory (idempotent). */
  release(): void;
}

export interface NDArrayOptions {
  dtype?: DType;
}

export class NDArray {
  /**
   * Internal, for the CPU runtime (src/backends/cpu/runtime.ts): the address of the host data
   * once a CPU program has taken it. Host data, once there, is never replaced, so its address
   * holds as long as this array.
   */
  cpuAddress: bigint | undefined = undefined;

  /**
   * Internal (src/api/index_checks.ts): for a device result of a program with run-time index
   * checks, awaited before the data is first read back; it throws when an index was out of range.
   */
  readCheck: (() => Promise<void>) | undefined = undefined;

  private constructor(
    readonly shape: readonly number[],
    readonly dtype: DType,
    private host: AnyTypedArray | undefined,
    private deviceStorage: DeviceStorage | undefined,
  ) {}

  /**
   * Wraps (without copying, when the typed array already matches the dtype) host data. For
   * float16/bfloat16 a Uint16Array is taken as raw bits; numbers (arrays, Float32Array...)
   * are rounded to the nearest half value.
   */
  static from(data: ArrayLike<number> | ArrayLike<bigint> | AnyTypedArray | readonly boolean[], shape: Shape, options: NDArrayOptions = {}): NDArray {
    assertValidShape('NDArray.from', shape);
    const dtype = options.dtype ?? inferDType(data);
    if (!isDType(dtype)) throw new TypeError(`NDArray.from: unsupported dtype ${String(dtype)}`);
    const n = numel(shape);
    if (data.length !== n) {
      throw new ShapeError(`NDArray.from: ${data.length} values do not match shape ${fmtShape(shape)} (${n} elements)`);
    }
    return new NDArray([...shape], dtype, toTyped(data, dtype), undefined);
  }

  static fromDevice(storage: DeviceStorage, shape: Shape, dtype: DType): NDArray {
    return new NDArray([...shape], dtype, undefined, storage);
  }

  get device(): Device {
    return this.deviceStorage?.device ?? 'cpu';
  }

  get size(): number {
    return numel(this.shape);
  }

  /** The host data, when the array lives on the host (no copy). */
  hostData(): AnyTypedArray | undefined {
    return this.host;
  }

  deviceData(): DeviceStorage | undefined {
    return this.deviceStorage;
  }

  async toTypedArray(): Promise<AnyTypedArray> {
    if (this.host) return this.host;
    if (this.readCheck) await this.readCheck();
    this.host = await this.deviceStorage!.read();
    return this.host;
  }

  /** Synchronous access for host arrays; throws for device arrays. */
  toTypedArraySync(): AnyTypedArray {
    if (!this.host) throw new Error('NDArray: data is on the device; use await toTypedArray()');
    return this.host;
  }

  /** The values as numbers: half types decoded, 64-bit ints through Number (exact up to 2^53), bool as 0/1. */
  async toArray(): Promise<number[]> {
    return Array.from(typedToNumbers(this.dtype, await this.toTypedArray()));
  }

  /** toArray() for host arrays; throws for device arrays. */
  toArraySync(): number[] {
    return Array.from(typedToNumbers(this.dtype, this.toTypedArraySync()));
  }

  toString(): string {
    return `NDArray(${fmtShape(this.shape)}, ${this.dtype}, ${this.device})`;
  }
}

function inferDType(data: unknown): DType {
  if (data instanceof Float32Array) return 'float32';
  // A Float64Array is float64: its precision is never dropped silently (ask for { dtype: 'float32' }).
  if (data instanceof Float64Array) return 'float64';
  // 16-bit patterns could be float16 or bfloat16 bits, or plain integers: make the caller say.
  if (data instanceof Uint16Array) {
    throw new TypeError("NDArray.from: a Uint16Array needs { dtype: 'float16' } or { dtype: 'bfloat16' } (it is taken as raw bits), or { dtype: 'uint16' }");
  }
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof BigUint64Array) return 'uint64';
  // Bytes are bool, as they always were: uint8 data says { dtype: 'uint8' }.
  if (data instanceof Uint8Array) return 'bool';
  if (Array.isArray(data) && data.length > 0 && typeof data[0] === 'boolean') return 'bool';
  return 'float32';
}

function toTyped(data: ArrayLike<number> | ArrayLike<bigint> | AnyTypedArray | readonly boolean[], dtype: DType): AnyTypedArray {
  // A typed array of the dtype's own kind is taken as it is (half types: as raw bits).
  if (ArrayBuffer.isView(data) && data.constructor === allocTyped(dtype, 0).constructor) return data as AnyTypedArray;
  // bigints into 64-bit integer types go exactly, modulo 2^64 (a number would round past 2^53).
  if ((dtype === 'int64' || dtype === 'uint64') && data.length > 0 && typeof data[0] === 'bigint') {
    const big = data as ArrayLike<bigint>;
    const wrap = dtype === 'int64' ? BigInt.asIntN : BigInt.asUintN;
    const out = allocTyped(dtype, data.length) as BigInt64Array | BigUint64Array;
    for (let i = 0; i < big.length; i++) out[i] = wrap(64, big[i]!);
    return out;
  }
  const nums = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) nums[i] = Number(data[i]);
  return numbersToTyped(dtype, nums);
}
