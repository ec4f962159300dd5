// Plain types of an imported ONNX model shared by the importer and api/'s OnnxModel
// (api/onnx_model_api.ts): its inputs, and the graph built for one set of feeds. Nothing in
// this file's import graph reaches onnx-proto (see api/onnx_model_api.ts).

import type { Traced } from '../frontend/trace.js';
import type { DType } from '../graph/dtype.js';

/** A dim as the model declares it: a size, or the name of a symbolic dim ('?' for an unnamed one). */
export type Dim = number | string;

export interface ModelInput {
  name: string;
  /**
   * The dims each run's feed must have: sizes, and symbolic dims (ONNX `dim_param`) whose sizes
   * each run binds from its feeds (the same name, the same size in every input; see binding.ts).
   * An input pinned by `inputShapes` has sizes only.
   */
  dims: Dim[];
  /** The concrete shape: `dims` with -1 for each symbolic dim (the convention of ONNX tools for a size not known before the run). */
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
