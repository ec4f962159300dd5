// Where a model may use STRING tensors: only at its boundary, where the host converts them
// (strings.ts) and kernels see numbers. A STRING graph input is allowed when every node that
// reads it is a Cast to a number type: each such Cast's output becomes a numeric graph input,
// fed with the parsed strings. A STRING graph output is allowed when a Cast from a number
// type produces it and nothing else reads it: the graph returns the Cast's numeric input and
// the host formats it. Those Cast nodes leave the node list; any other use of a string (an
// Add of a string input, a Cast to STRING feeding another node, a string initializer) stays
// and is reported as unsupported by the usual checks, naming the node.

import type { DType } from '../graph/dtype.js';
import { ONNX_STRING, kilnDType } from './dtypes.js';
import type { OnnxNode } from './node.js';
import type { GraphProto } from './proto.js';

export interface StringBoundary {
  /** STRING graph input → the Casts reading it: each output `value` is a graph input of `dtype`. */
  casts: Map<string, { value: string; dtype: DType }[]>;
  /** STRING graph output → the numeric value the host formats into it. */
  formats: Map<string, string>;
}

const DEFAULT_DOMAINS = ['', 'ai.onnx'];

function isCast(n: OnnxNode): boolean {
  return n.opType === 'Cast' && DEFAULT_DOMAINS.includes(n.domain);
}

/** Every value name that nodes inside subgraphs read (outer-scope references included). */
function subgraphReads(g: GraphProto, out: Set<string>): void {
  for (const p of g.node ?? []) {
    for (const i of p.input ?? []) out.add(i);
    for (const a of p.attribute ?? []) for (const sg of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) subgraphReads(sg, out);
  }
}

/**
 * Finds the boundary Casts of `stringInputs` and of the graph outputs. Returns the boundary,
 * the nodes that remain, and the issues (string uses kiln cannot convert on the host).
 */
export function findStringBoundary(
  nodes: readonly OnnxNode[],
  stringInputs: readonly string[],
  outputs: readonly { name: string; elemType: number }[],
): { boundary: StringBoundary; nodes: OnnxNode[]; issues: string[] } {
  const boundary: StringBoundary = { casts: new Map(), formats: new Map() };
  const issues: string[] = [];
  const removed = new Set<OnnxNode>();
  const readers = (name: string) => nodes.filter((n) => n.inputs.includes(name));
  const inSubgraphs = new Set<string>();
  for (const n of nodes) for (const g of n.subgraphs()) subgraphReads(g, inSubgraphs);
  const labels = (ns: readonly OnnxNode[]) => ns.map((n) => n.label).join(', ');

  for (const name of stringInputs) {
    const users = readers(name);
    const numeric = (n: OnnxNode) => isCast(n) && kilnDType(n.int('to', 0)) !== undefined && kilnDType(n.int('to', 0)) !== 'bool';
    const others = users.filter((n) => !numeric(n));
    if (others.length || inSubgraphs.has(name)) {
      const where = others.length ? `read by ${labels(others)}` : 'read inside a subgraph';
      issues.push(`graph input '${name}': a STRING tensor can only be read by Cast to a number type (it is ${where})`);
      continue;
    }
    boundary.casts.set(name, users.map((n) => ({ value: n.outputs[0]!, dtype: kilnDType(n.int('to', 0))! })));
    users.forEach((n) => removed.add(n));
  }

  for (const o of outputs) {
    const producer = nodes.find((n) => n.outputs.includes(o.name));
    const castToString = producer !== undefined && isCast(producer) && producer.int('to', 0) === ONNX_STRING;
    if (o.elemType !== ONNX_STRING && !castToString) continue;
    const source = producer?.inputs[0];
    const users = readers(o.name);
    if (!castToString || !source || stringInputs.includes(source) || users.length || inSubgraphs.has(o.name)) {
      const why = !castToString
        ? `it is produced by ${producer ? producer.label : 'no node'}`
        : users.length || inSubgraphs.has(o.name)
          ? `it is also read by ${users.length ? labels(users) : 'a subgraph'}`
          : 'its Cast reads a string';
      issues.push(`graph output '${o.name}': a STRING tensor can only be produced by Cast from a number type, as an output nothing else reads (${why})`);
      continue;
    }
    boundary.formats.set(o.name, source);
    removed.add(producer!);
  }
  return { boundary, nodes: nodes.filter((n) => !removed.has(n)), issues };
}
