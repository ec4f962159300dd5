// Drops nodes no output depends on. Import leaves some behind: values only whose shape was
// used (Shape of a computed tensor), and zero-element results replaced by constants. Graph
// inputs all stay, so the call signature and the parameter order do not change.

import { Graph, nodeAttrs, type NodeAttrs } from '../graph/ir.js';

export function pruneGraph(g: Graph): Graph {
  const live = new Array<boolean>(g.nodes.length).fill(false);
  const stack = [...g.outputs, ...g.inputs];
  while (stack.length) {
    const id = stack.pop()!;
    if (live[id]) continue;
    live[id] = true;
    stack.push(...g.node(id).inputs);
  }
  if (live.every(Boolean)) return g;
  const out = new Graph();
  const remap = new Map<number, number>();
  for (const n of g.nodes) {
    if (!live[n.id]) continue;
    remap.set(n.id, out.add(nodeAttrs(n) as NodeAttrs, n.inputs.map((i) => remap.get(i)!), n.shape, n.dtype, n.sym));
  }
  // Symbolic dims and the run-time index checks of live indices go with their nodes.
  for (const c of g.indexChecks) if (live[c.indices]) out.indexChecks.push({ ...c, indices: remap.get(c.indices)! });
  out.guards.push(...g.guards);
  // Graph.add appends inputs in creation order; restore the original call order.
  out.inputs.splice(0, out.inputs.length, ...g.inputs.map((i) => remap.get(i)!));
  out.outputs = g.outputs.map((o) => remap.get(o)!);
  return out;
}
