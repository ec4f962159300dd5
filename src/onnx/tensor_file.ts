// ONNX test-data tensors (.pb files holding one TensorProto), as NDArrays.

import { readFileSync } from 'node:fs';
import { NDArray } from '../frontend/ndarray.js';
import { decodeTensorFile, tensorFromProto } from './proto.js';

export function parseTensorPb(bytes: Uint8Array, file = '<tensor>'): NDArray {
  const t = decodeTensorFile(bytes, file);
  try {
    return tensorFromProto(t).toNDArray();
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
}

export function readTensorPb(file: string): NDArray {
  return parseTensorPb(readFileSync(file), file);
}
