// Plain types of an imported ONNX model shared by the importer and api/'s OnnxModel
// (api/onnx_model_api.ts): its inputs, and the graph built for one set of feeds. Nothing in
// this file's import graph reaches onnx-proto (see api/onnx_model_api.ts).

import type { Traced } from '../frontend/trace.js';
import type { DType } from '../graph/dtype.js';

export interface ModelInput {
  name: string;
  shape: number[];
  /** 'string': fed as a StringTensor, parsed on the host by the Casts that read it. */
  dtype: DType | 'string';
}

/** The graph built for one set of feeds. */
export interface Built {
  traced: Traced;
  /** Names of the graph inputs the graph takes at run time, in order (fixed ones excluded). */
  runtimeInputs: string[];
  /** Count of each ONNX operator converted. */
  ops: Record<string, number>;
}
