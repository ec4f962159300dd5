// ONNX element types and the kiln dtypes they map to: float32, float64, float16, bfloat16,
// int8, uint8, int16, uint16, int32, uint32, int64, uint64 and bool. Every other ONNX type is
// reported as unsupported rather than silently converted, since a converted type would give
// answers that differ from the model's. (STRING has no kiln dtype: strings are converted on
// the host at a model's boundary, strings.ts.)

import type { DType } from '../graph/dtype.js';

export const ONNX_TYPE_NAMES: Record<number, string> = {
  0: 'UNDEFINED', 1: 'FLOAT', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16', 6: 'INT32', 7: 'INT64',
  8: 'STRING', 9: 'BOOL', 10: 'FLOAT16', 11: 'DOUBLE', 12: 'UINT32', 13: 'UINT64', 14: 'COMPLEX64',
  15: 'COMPLEX128', 16: 'BFLOAT16', 17: 'FLOAT8E4M3FN', 18: 'FLOAT8E4M3FNUZ', 19: 'FLOAT8E5M2', 20: 'FLOAT8E5M2FNUZ',
  21: 'UINT4', 22: 'INT4',
};

const FROM_KILN: Record<DType, number> = {
  float32: 1, float64: 11, float16: 10, bfloat16: 16, int8: 3, uint8: 2, int16: 5, uint16: 4, int32: 6, uint32: 12, int64: 7, uint64: 13, bool: 9,
};
const TO_KILN: Record<number, DType> = Object.fromEntries(Object.entries(FROM_KILN).map(([d, t]) => [t, d as DType]));

/** TensorProto.DataType STRING. */
export const ONNX_STRING = 8;

export function onnxTypeName(t: number): string {
  return ONNX_TYPE_NAMES[t] ?? `type ${t}`;
}

/** The kiln dtype for an ONNX element type, or undefined when kiln has none. */
export function kilnDType(t: number): DType | undefined {
  return TO_KILN[t];
}

export function onnxDType(d: DType): number {
  return FROM_KILN[d];
}
