// Text form of a graph for KILN_DEBUG=graph.

import { type Graph, dimsOf, nodeAttrs } from './ir.js';
import { fmtDims } from './sym.js';

export function fmtGraph(g: Graph): string {
  const lines = [`graph: ${g.nodes.length} nodes, inputs ${g.inputs.map((i) => `%${i}`).join(' ')}`];
  for (const n of g.nodes) {
    const { op, ...attrs } = nodeAttrs(n) as { op: string } & Record<string, unknown>;
    const a = Object.entries(attrs)
      .map(([k, v]) => `${k}=${JSON.stringify(v).slice(0, 60)}`)
      .join(' ');
    // Symbolic dims print as their formulas, with the hints traced at: f32[s0,64] (hint [7,64]).
    const dims = n.sym ? `${fmtDims(dimsOf(n))} (hint [${n.shape.join(',')}])` : `[${n.shape.join(',')}]`;
    lines.push(`  %${n.id} = ${op}(${n.inputs.map((i) => `%${i}`).join(', ')}) ${a} : ${n.dtype}${dims}`);
  }
  lines.push(`  return ${g.outputs.map((o) => `%${o}`).join(', ')}`);
  return lines.join('\n');
}
