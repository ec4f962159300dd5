// Reading ONNX protobufs: the model, its tensors (inline, raw or external data) and the
// declared types of its values. This is the only file that touches onnx-proto's classes.

import { createRequire } from 'node:module';
import type onnxProto from 'onnx-proto';
import { type AnyTypedArray, type DType, allocTyped, byteSize, isFloat, viewTyped } from '../graph/dtype.js';
import { mappedFileOf } from '../graph/host_mapping.js';
import { saturateToBig } from '../graph/int.js';
import { numel } from '../graph/shape.js';
import { ConstTensor } from './const_tensor.js';
import { kilnDType, onnxTypeName } from './dtypes.js';
import { OnnxParseError } from './errors.js';
import { readExternal } from './external_data.js';
import { mappedTensor } from './file_source.js';

type OnnxNamespace = typeof onnxProto.onnx;
let loaded: OnnxNamespace | undefined;
/**
 * onnx-proto's generated classes, loaded on first use: the package (with protobufjs) takes
 * ~45 ms to import, which a program that never loads an ONNX file should not pay.
 */
export function onnxNs(): OnnxNamespace {
  return (loaded ??= (createRequire(import.meta.url)('onnx-proto') as typeof onnxProto).onnx);
}
export type ModelProto = onnxProto.onnx.ModelProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;

type Longish = number | { toNumber(): number };
export function num(x: Longish | null | undefined): number {
  if (x === null || x === undefined) return 0;
  return typeof x === 'number' ? x : x.toNumber();
}

/** Decodes a model, turning protobuf's terse failures into an OnnxParseError naming the file. */
export function decodeModel(bytes: Uint8Array, file: string): ModelProto {
  let m: ModelProto;
  try {
    m = onnxNs().ModelProto.decode(bytes);
  } catch (e) {
    throw new OnnxParseError(file, `protobuf decode failed: ${(e as Error).message}`);
  }
  // Arbitrary bytes sometimes decode as a protobuf with no graph; a real model always has one.
  if (!m.graph) throw new OnnxParseError(file, 'no graph in the file');
  if (!m.irVersion) throw new OnnxParseError(file, 'no ir_version');
  return m;
}

/** The decoded TensorProto of a .pb file (the ONNX test data format). */
export function decodeTensorFile(bytes: Uint8Array, file: string): TensorProto {
  try {
    return onnxNs().TensorProto.decode(bytes);
  } catch (e) {
    throw new OnnxParseError(file, `protobuf decode failed: ${(e as Error).message}`);
  }
}

export function tensorDims(t: TensorProto): number[] {
  return (t.dims ?? []).map((d) => num(d as Longish));
}

/**
 * A decoded int64/uint64 field as a bigint. protobufjs gives a Long where the long package is
 * installed (exact through its decimal text) and otherwise a number: exact below 2^53, the
 * nearest double above (raw_data, which exporters write, is always exact). A number at or
 * past the top of the range, as the maximum rounds to, is the maximum.
 */
function longToBig(v: unknown, dt: 'int64' | 'uint64'): bigint {
  if (typeof v === 'number') return saturateToBig(v, dt);
  const b = BigInt(String(v));
  return dt === 'int64' ? BigInt.asIntN(64, b) : BigInt.asUintN(64, b);
}

/** Copies little-endian bytes into an aligned typed array (raw_data slices are often unaligned). */
function fromRaw(dtype: DType, raw: Uint8Array, n: number, name: string): AnyTypedArray {
  const width = byteSize(dtype);
  if (raw.byteLength !== n * width) throw new Error(`raw data holds ${raw.byteLength} bytes, expected ${n * width}`);
  const mapped = mappedFileOf(raw);
  if (mapped) {
    // Copies may be made long after the load (a build for new sizes): a file changed since it
    // was mapped is an error naming it, never a read of a lost page (SIGBUS).
    mapped.check();
    // Float data in a mapped model file, aligned for its type, is used in place (file_source.ts);
    // integers (shape data, which builds read in JS) and anything else are copied out, as are
    // a user's bytes (theirs to change).
    if (isFloat(dtype) && raw.byteOffset % width === 0 && n > 0 && mappedTensor(raw, name)) return viewTyped(dtype, raw.buffer, raw.byteOffset, n);
  }
  const buf = new ArrayBuffer(n * width);
  new Uint8Array(buf).set(raw);
  return viewTyped(dtype, buf, 0, n);
}

/**
 * A TensorProto as a ConstTensor; throws (with the type's name) for element types kiln
 * lacks. `baseDir` locates external data files.
 */
export function tensorFromProto(t: TensorProto, baseDir?: string, weight = false): ConstTensor {
  const dims = tensorDims(t);
  const dtype = kilnDType(t.dataType ?? 0);
  if (!dtype) throw new Error(`tensor '${t.name ?? ''}' has element type ${onnxTypeName(t.dataType ?? 0)}, which kiln does not support`);
  const n = numel(dims);
  let data: AnyTypedArray | number[];
  if (t.dataLocation === onnxNs().TensorProto.DataLocation.EXTERNAL) {
    data = readExternal(t, baseDir, dtype, n);
  } else if (t.rawData && t.rawData.byteLength > 0) {
    data = fromRaw(dtype, t.rawData, n, t.name ?? '');
  } else if (dtype === 'float32') {
    data = Float32Array.from(t.floatData ?? []);
  } else if (dtype === 'float64') {
    data = Float64Array.from(t.doubleData ?? []);
  } else if (dtype === 'int64') {
    data = BigInt64Array.from((t.int64Data ?? []).map((v) => longToBig(v, 'int64')));
  } else if (dtype === 'uint64' || dtype === 'uint32') {
    // UINT32 and UINT64 live in uint64_data.
    const big = (t.uint64Data ?? []).map((v) => longToBig(v, 'uint64'));
    data = dtype === 'uint64' ? BigUint64Array.from(big) : Uint32Array.from(big, (v) => Number(BigInt.asUintN(32, v)));
  } else if (dtype === 'bool') {
    data = Uint8Array.from((t.int32Data ?? []).map((v) => (v ? 1 : 0)));
  } else {
    // int32 and every narrower type (int8, uint8, int16, uint16, and float16/bfloat16 as
    // their bit patterns) keep one value per int32_data entry, in its low bits.
    const ints = t.int32Data ?? [];
    const out = allocTyped(dtype, ints.length) as Exclude<AnyTypedArray, BigInt64Array | BigUint64Array>;
    ints.forEach((v, i) => (out[i] = v));
    data = out;
  }
  if (data.length !== n) throw new Error(`tensor '${t.name ?? ''}' holds ${data.length} values for dims [${dims.join(',')}]`);
  return new ConstTensor(dims, dtype, data, weight);
}

export interface DeclaredType {
  /** The ONNX element type (kept raw so unsupported types can be named). */
  elemType: number;
  /** Concrete dims as numbers; symbolic dims as their name (or '?' when unnamed). */
  dims: (number | string)[] | undefined;
  /** 'tensor', or the kind of a non-tensor type (sequence, map, optional...) */
  kind: string;
}

export function declaredType(v: ValueInfoProto): DeclaredType {
  const ty = v.type;
  if (!ty) return { elemType: 0, dims: undefined, kind: 'tensor' };
  if (!ty.tensorType) {
    const kind = ty.sequenceType ? 'sequence' : ty.mapType ? 'map' : (ty as { optionalType?: unknown }).optionalType ? 'optional' : 'sparse or unknown';
    return { elemType: 0, dims: undefined, kind };
  }
  const shape = ty.tensorType.shape;
  // Dimension is a oneof: `value` names the member that was set (neither: an unknown dim).
  const dims = shape
    ? (shape.dim ?? []).map((d) => {
        const which = (d as { value?: string }).value;
        if (which === 'dimValue') return num(d.dimValue as Longish);
        return which === 'dimParam' && d.dimParam ? d.dimParam : '?';
      })
    : undefined;
  return { elemType: ty.tensorType.elemType ?? 0, dims, kind: 'tensor' };
}
