// kiln's public API (DESIGN.md): compile, NDArray, Tensor, loadOnnx, counters.

export { compile } from './api/compile.js';
export type { CompileOptions } from './api/options.js';
export { compileGraph, type Program } from './api/program.js';
export { NDArray, type Device } from './graph/ndarray.js';
export { Tensor } from './frontend/tensor.js';
export { where, cat, layerNorm } from './frontend/functions.js';
export { counters, resetCounters } from './observe/counters.js';
export type { DType } from './graph/dtype.js';
export { ShapeError } from './graph/shape.js';
export { IndexRangeError } from './api/index_checks.js';
export { loadOnnx } from './api/load_onnx.js';
export { OnnxParseError, OnnxUnsupportedError, OnnxModelError, OnnxInputError, StringTensor, type OnnxValue } from './onnx/index.js';
