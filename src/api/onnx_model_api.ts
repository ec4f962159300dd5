// The loaded ONNX model as users see it (loadOnnx's result), declared apart from its
// implementation (onnx_model.ts): the implementation holds the decoded protobuf, whose generated
// declarations (onnx-proto, protobufjs) name a global `Long` they do not declare, so a user
// compiling with `skipLibCheck: false` would fail on them. Nothing in this file's import graph
// reaches onnx-proto; test/package_types.test.ts compiles a consumer that way.

import type { CompileOptions, Program } from './program.js';
import type { NDArray } from '../graph/ndarray.js';
import type { Built, ModelInput } from '../onnx/model_api.js';
import type { OnnxValue } from '../onnx/string_tensor.js';

export interface OnnxModelInfo {
  /** Count of each ONNX operator in the model. */
  ops: Record<string, number>;
  opset: number;
  producer: string;
  nodes: number;
  /** Initializer count and their total element count. */
  initializers: { count: number; elements: number };
  inputs: ModelInput[];
  outputs: string[];
  /** Inputs whose value (not only shape) the graph depends on: it is built once per value. */
  valueInputs: string[];
  /** Nodes of kiln's graph (after folding) by kind; undefined until the graph is built. */
  graphNodes?: Record<string, number>;
}

export interface OnnxModel {
  /** The model's path, or '<bytes>'. */
  readonly file: string;
  readonly inputNames: string[];
  readonly outputNames: string[];
  /** The STRING outputs (StringTensors, from runValues() only; see string_boundary.ts). */
  readonly stringOutputs: string[];
  readonly inputs: ModelInput[];
  /** Graph inputs whose values shape the graph (found on load or on first run). */
  readonly valueInputs: string[];
  describeInputs(): string;
  /**
   * Compiles now (run() otherwise compiles on first call) and returns the Program. Models
   * whose graph depends on input values need those feeds.
   */
  compile(feeds?: Record<string, OnnxValue>, options?: CompileOptions): Promise<Program>;
  /**
   * Runs the model; its outputs by name, each an NDArray. A model with STRING outputs
   * (`stringOutputs`) is refused (OnnxModelError): runValues() returns those as StringTensors.
   * Inputs are NDArrays, except STRING ones (StringTensor).
   */
  run(feeds: Record<string, OnnxValue>): Promise<Record<string, NDArray>>;
  /** Runs the model; every output by name, STRING ones as StringTensors, the others NDArrays. */
  runValues(feeds: Record<string, OnnxValue>): Promise<Record<string, OnnxValue>>;
  /** The traced graph for these feeds (for tests and the interpreter oracle). */
  graphFor(feeds?: Record<string, OnnxValue>): Built | undefined;
  inspect(): OnnxModelInfo;
  /**
   * Frees what the model holds: the programs it compiled (on CUDA their device memory; see
   * Program.dispose), its graphs and weight arrays. Afterwards run(), runValues(), compile()
   * and graphFor() throw OnnxModelError; disposing again does nothing. Outputs already
   * returned stay valid.
   */
  dispose(): void;
}
