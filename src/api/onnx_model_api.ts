// The loaded ONNX model as users see it (loadOnnx's result), declared apart from its
// implementation (onnx_model.ts): the implementation holds the decoded protobuf, whose generated
// declarations (onnx-proto, protobufjs) name a global `Long` they do not declare, so a user
// compiling with `skipLibCheck: false` would fail on them. Nothing in this file's import graph
// reaches onnx-proto; test/package_types.test.ts compiles a consumer that way.

import type { CompileOptions, Program } from './program.js';
import type { NDArray } from '../graph/ndarray.js';
import type { Built, ModelInput } from '../onnx/model_api.js';
import type { OnnxValue } from '../onnx/string_tensor.js';

/** Which path a dynamic model's runs take (OnnxModelInfo.symbolic). */
export interface SymbolicStatus {
  /** 'symbolic': one program serves the bindings its guards admit; 'per-shape': a program per binding; 'untried': no run yet (or only sizes below 2). */
  path: 'symbolic' | 'per-shape' | 'untried';
  /** Why the model runs per shape: the symbolic build's refusal, or the option that turned it off. */
  reason?: string;
  /** Bindings the symbolic program's guards refused (each ran on a per-shape variant). */
  guardFailures: number;
  /** The last such refusal: the binding and the guard it broke. */
  lastGuardFailure?: string;
}

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
  /** The symbolic dims of the inputs (dim_param names; `input[k]` for an unnamed one), sized by each run's feeds. */
  symbolicDims: string[];
  /** Shape variants held now (at most KILN_MAX_SHAPE_VARIANTS): one graph and program per binding of the symbolic dims and value of the value inputs. */
  shapeVariants: number;
  /** A model with symbolic dims: whether its runs take one symbolic program or a program per shape, and why. */
  symbolic?: SymbolicStatus;
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
  /** The inputs: name, dtype and dims, symbolic ones (ONNX dim_param) by name, sized by each run's feeds. */
  readonly inputs: ModelInput[];
  /** Graph inputs whose values shape the graph (found on load or on first run). */
  readonly valueInputs: string[];
  describeInputs(): string;
  /**
   * Compiles now (run() otherwise compiles on first call) and returns the Program of the shape
   * variant these feeds select. Models with symbolic dims, or whose graph depends on input
   * values, need feeds. The Program is the model's: disposed with the model, or when its
   * variant is evicted (KILN_MAX_SHAPE_VARIANTS); compile it with `options` of its own for one
   * that is the caller's to keep and dispose.
   */
  compile(feeds?: Record<string, OnnxValue>, options?: CompileOptions): Promise<Program>;
  /**
   * Runs the model; its outputs by name, each an NDArray. A model with STRING outputs
   * (`stringOutputs`) is refused (OnnxModelError): runValues() returns those as StringTensors.
   * Inputs are NDArrays, except STRING ones (StringTensor). Symbolic dims take any size, the
   * same dim_param the same size in every input (else OnnxInputError); each new binding builds
   * and compiles a shape variant, which later runs of those sizes reuse.
   */
  run(feeds: Record<string, OnnxValue>): Promise<Record<string, NDArray>>;
  /** Runs the model; every output by name, STRING ones as StringTensors, the others NDArrays. */
  runValues(feeds: Record<string, OnnxValue>): Promise<Record<string, OnnxValue>>;
  /**
   * The traced graph for these feeds (for tests and the interpreter oracle): built at their
   * sizes; with `symbolic`, when these feeds run on the model's symbolic program (after a run),
   * that program's graph, over the size symbols.
   */
  graphFor(feeds?: Record<string, OnnxValue>, options?: { symbolic?: boolean }): Built | undefined;
  inspect(): OnnxModelInfo;
  /**
   * Frees what the model holds: the programs it compiled for every shape variant (on CUDA their device memory; see
   * Program.dispose), its graphs and weight arrays. Afterwards run(), runValues(), compile()
   * and graphFor() throw OnnxModelError; disposing again does nothing. Outputs already
   * returned stay valid.
   */
  dispose(): void;
}
