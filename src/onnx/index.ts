// Public surface of the ONNX importer.

export { loadOnnx, type LoadOptions } from './load.js';
export type { ModelInput, OnnxModel, OnnxModelInfo } from './model_api.js';
export { OnnxInputError, OnnxModelError, OnnxParseError, OnnxUnsupportedError } from './errors.js';
export { supportedOps } from './ops/index.js';
export { readNpy, writeNpy } from './npy.js';
export { readTensorPb } from './tensor_file.js';
export { StringTensor, type OnnxValue } from './string_tensor.js';
