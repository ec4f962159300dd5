// Public surface of the ONNX importer (loadOnnx and OnnxModel, which compile the imported
// graphs, are api/'s: api/load_onnx.ts, api/onnx_model.ts).

export type { ModelInput } from './model_api.js';
export { OnnxInputError, OnnxModelError, OnnxParseError, OnnxUnsupportedError } from './errors.js';
export { supportedOps } from './ops/index.js';
export { readNpy, writeNpy } from './npy.js';
export { readTensorPb } from './tensor_file.js';
export { StringTensor, type OnnxValue } from './string_tensor.js';
