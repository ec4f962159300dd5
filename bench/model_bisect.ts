// For a model whose outputs are wrong on a device: compiles its graph again with every realized
// node (each value a kernel writes to a buffer) as an output, runs it, and compares each with
// the reference interpreter, naming the first nodes whose values differ. Realized nodes are
// buffers already, so the kernels are (nearly) those of the real program; the first wrong one
// is where the bug is. Used by bench/real_models.ts --bisect.

import { compileGraph, type CompileOptions } from '../src/api/program.js';
import type { NDArray } from '../src/graph/ndarray.js';
import { interpret } from '../src/graph/interpret.js';
import { Graph } from '../src/graph/ir.js';
import { fmtGraph } from '../src/graph/print.js';
import type { OnnxModel } from '../src/api/onnx_model_api.js';
import { realize } from '../src/schedule/realize.js';
import { maxRelError } from './model_suite.js';

export interface BisectHit {
  node: number;
  op: string;
  shape: number[];
  relError: number;
  /** The node and its inputs as the graph printer shows them. */
  context: string;
}

export async function bisectModel(model: OnnxModel, feeds: Record<string, NDArray>, options: CompileOptions, tol: number, limit = 5): Promise<BisectHit[]> {
  const built = model.graphFor(feeds)!;
  const g = built.traced.graph;
  const realized = [...realize(g).realized].filter((id) => {
    const op = g.node(id).op;
    return op !== 'input' && op !== 'const';
  }).sort((a, b) => a - b);
  const probe = Object.assign(Object.create(Graph.prototype) as Graph, g, { outputs: realized });
  const inputs = built.runtimeInputs.map((n) => feeds[n]!);
  const prog = await compileGraph({ graph: probe, params: built.traced.params, returnsArray: true }, options);
  const got = await prog.run(inputs);
  const want = interpret(probe, [...inputs, ...built.traced.params]);
  const hits: BisectHit[] = [];
  const printed = fmtGraph(g).split('\n');
  for (const [i, id] of realized.entries()) {
    const err = maxRelError((await got[i]!.toArray()) as number[], want[i]!.data);
    if (!(err <= tol)) {
      const n = g.node(id);
      const near = new Set([id, ...n.inputs]);
      hits.push({ node: id, op: n.op, shape: [...n.shape], relError: err, context: printed.filter((l) => [...near].some((k) => l.trimStart().startsWith(`%${k} =`))).join('\n') });
      if (hits.length >= limit) break;
    }
  }
  return hits;
}
