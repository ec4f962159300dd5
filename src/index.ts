// kiln's public API (DESIGN.md): compile, NDArray, Tensor, loadOnnx, counters.
// Its declarations must compile under `skipLibCheck: false` (test/package_types.test.ts): the
// ONNX exports come from files whose imports never reach onnx-proto's generated declarations,
// which name a global `Long` they do not declare (api/onnx_model_api.ts).

export { compile, type CompiledFunction, type CompiledResult, type FunctionCompileOptions } from './api/compile.js';
export type { CompileOptions } from './api/options.js';
export { compileGraph, type Program } from './api/program.js';
export { NDArray, type Device } from './graph/ndarray.js';
export { toDevice } from './api/device_arrays.js';
export { Tensor } from './frontend/tensor.js';
export { where, cat, layerNorm } from './frontend/functions.js';
export { conv2d, maxPool2d, avgPool2d, type Conv2dOptions, type Pool2dOptions } from './frontend/conv.js';
export { counters, resetCounters } from './observe/counters.js';
export type { DType } from './graph/dtype.js';
export { ShapeError } from './graph/shape.js';
export { IndexRangeError } from './api/index_checks.js';
export { loadOnnx, type LoadOptions } from './api/load_onnx.js';
export type { OnnxModel, OnnxModelInfo } from './api/onnx_model_api.js';
export type { ModelInput } from './onnx/model_api.js';
export { OnnxParseError, OnnxUnsupportedError, OnnxModelError, OnnxInputError } from './onnx/errors.js';
export { StringTensor, type OnnxValue } from './onnx/string_tensor.js';
