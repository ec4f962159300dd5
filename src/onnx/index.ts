// Public surface of the ONNX importer.

export { loadOnnx, type LoadOptions } from './load.js';
export { OnnxModel, type OnnxModelInfo } from './model.js';
export type { ModelInput } from './check.js';
export { OnnxInputError, OnnxModelError, OnnxParseError, OnnxUnsupportedError } from './errors.js';
export { supportedOps } from './ops/index.js';
export { readNpy, writeNpy } from './npy.js';
export { readTensorPb } from './tensor_file.js';
export { StringTensor, type OnnxValue } from './string_tensor.js';
