// ONNX test-data tensors (.pb files holding one TensorProto), as NDArrays (or StringTensors
// for STRING tensors, which only a model's boundary can take).

import { readFileSync } from 'node:fs';
import { ONNX_STRING } from './dtypes.js';
import { decodeTensorFile, tensorDims, tensorFromProto } from './proto.js';
import { StringTensor, type OnnxValue } from './string_tensor.js';

export function parseTensorPb(bytes: Uint8Array, file = '<tensor>'): OnnxValue {
  const t = decodeTensorFile(bytes, file);
  try {
    if (t.dataType === ONNX_STRING) {
      // string_data holds bytes; ONNX strings are UTF-8 text.
      const dec = new TextDecoder();
      return new StringTensor((t.stringData ?? []).map((b) => dec.decode(b)), tensorDims(t));
    }
    return tensorFromProto(t).toNDArray();
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
}

export function readTensorPb(file: string): OnnxValue {
  return parseTensorPb(readFileSync(file), file);
}
