// What compileGraph needs of a graph: its digest (the graph's part of the graph-cache key),
// its parameters, how a run reads its index-check outputs, and the graph itself only on a
// graph-cache miss. A traced function has its graph at hand; an ONNX model on a warm start
// has only a stored conversion (src/onnx/conversion_record.ts) and builds the graph only if
// the graph cache misses, so a hit never converts or folds the model.

import { hash } from 'node:crypto';
import type { NDArray } from '../graph/ndarray.js';
import type { Traced } from '../frontend/trace.js';
import { canonicalGraph, type Graph } from '../graph/ir.js';
import { canonicalJson } from '../cache/canonical_json.js';
import { type CheckedGraph, type IndexCheckOutputs, withIndexChecks } from './index_checks.js';

export interface GraphSource {
  /** graphDigest of the checked graph (index checks as outputs). */
  readonly digest: string;
  readonly returnsArray: boolean;
  /** The values of the graph's parameter inputs, in order. */
  readonly params: readonly NDArray[];
  /** Whether the params never change (Traced.immutableParams: an ONNX model's weights). */
  readonly immutableParams: boolean;
  readonly checks: IndexCheckOutputs;
  /** The checked graph, built on demand (a graph-cache miss, KILN_DEBUG=graph). */
  checked(): CheckedGraph;
  /** Whether checked() is already at hand (false: a warm ONNX start that never built its graph). */
  readonly built: boolean;
}

/** sha256 (hex) of a graph's canonical form: equal graphs, equal digests. */
export function graphDigest(g: Graph): string {
  return hash('sha256', `kiln-graph-digest\0${canonicalJson(canonicalGraph(g))}`, 'hex');
}

/** The source of a graph at hand (a traced function, a built ONNX graph). */
export function tracedSource(traced: Traced): GraphSource {
  const checked = withIndexChecks(traced);
  return { digest: graphDigest(checked.traced.graph), returnsArray: traced.returnsArray, params: traced.params, immutableParams: traced.immutableParams === true, checks: checked, checked: () => checked, built: true };
}
