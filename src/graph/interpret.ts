// The reference interpreter: evaluates a Graph node by node in float64, with no fusion, no
// views and no index tricks. It is the oracle every compiled result is checked against, so it
// favours the obvious loop over the fast one and shares nothing with lower/ or schedule/.
//
// The nodes are evaluated by evaluate.ts, which the ONNX importer's load-time folding shares,
// under its 'reference' rounding: after each node the values take the node's dtype semantics
// (ints truncate toward zero and wrap modulo 2^bits, bool is 0/1, float16 and bfloat16 round
// to their format, as PyTorch rounds each op's half result), but float32 results are kept in
// float64 on purpose, since tests compare with a float32 tolerance. Integer arithmetic (sums,
// products, matmuls included) is exact and wraps as in the kernels (int_ref.ts); 64-bit
// values are exact only where a double holds them (below 2^53, or multiples of a power of two
// above).

import { typedToNumbers } from './dtype.js';
import { evaluateGraph, type RefTensor } from './evaluate.js';
import type { Graph } from './ir.js';
import { fmtShape } from './shape.js';
import type { NDArray } from '../frontend/ndarray.js';

export type { RefTensor };

export class InterpretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InterpretError';
  }
}

/** Evaluates `graph` on `inputs` (in `graph.inputs` order: user inputs, then params). */
export function interpret(graph: Graph, inputs: readonly NDArray[]): RefTensor[] {
  if (inputs.length !== graph.inputs.length) {
    throw new InterpretError(`interpret: graph has ${graph.inputs.length} inputs, got ${inputs.length}`);
  }
  const vals: (RefTensor | undefined)[] = new Array(graph.nodes.length);
  graph.inputs.forEach((id, i) => {
    const n = graph.node(id);
    const a = inputs[i]!;
    const name = n.op === 'input' ? n.name : `#${id}`;
    if (a.dtype !== n.dtype) {
      throw new InterpretError(`interpret: input ${i} (${name}) expects dtype ${n.dtype}, got ${a.dtype}`);
    }
    if (a.shape.length !== n.shape.length || a.shape.some((d, j) => d !== n.shape[j])) {
      throw new InterpretError(`interpret: input ${i} (${name}) expects shape ${fmtShape(n.shape)}, got ${fmtShape(a.shape)}`);
    }
    const host = a.hostData();
    if (!host) throw new InterpretError(`interpret: input ${i} (${name}) is on the device; the reference needs host data`);
    const data = typedToNumbers(a.dtype, host);
    vals[id] = { shape: [...n.shape], dtype: n.dtype, data };
  });
  evaluateGraph(graph, vals, 'reference');
  const get = (id: number): RefTensor => {
    const v = vals[id];
    if (!v) throw new InterpretError(`interpret: output node ${id} was not computed`);
    return v;
  };
  return graph.outputs.map((id) => {
    const v = get(id);
    return { shape: [...v.shape], dtype: v.dtype, data: v.data.slice() };
  });
}
