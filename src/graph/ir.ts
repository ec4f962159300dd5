// The graph IR: one node per value, in topological order. Every builder in builder.ts
// validates its operands and infers the output's shape and dtype, so a Graph is always
// well-formed by construction.

import type { DType } from './dtype.js';
import type { Shape } from './shape.js';
import { type Dim, type Guard, type SymJSON, SymInt, dimKey } from './sym.js';

export const UNARY_OPS = [
  'neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'sin', 'cos', 'tan', 'tanh', 'sigmoid', 'relu',
  'gelu', 'gelu_tanh', 'silu', 'erf', 'floor', 'ceil', 'round', 'reciprocal', 'sign', 'not',
  'isnan', 'isinf', 'asin', 'acos', 'atan', 'sinh', 'cosh', 'asinh', 'acosh', 'atanh', 'softplus',
] as const;
export type UnaryOp = (typeof UNARY_OPS)[number];

// `div` is true division (int operands give float32, as in PyTorch); `trunc_div` is integer
// division rounding toward zero (C's `/`, ONNX Div of integers), defined for integers only.
export const BINARY_OPS = [
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge',
  'and', 'or', 'xor', 'mod', 'fmod', 'trunc_div',
] as const;
export type BinaryOp = (typeof BINARY_OPS)[number];

export const COMPARE_OPS: readonly BinaryOp[] = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'];
export const LOGIC_OPS: readonly BinaryOp[] = ['and', 'or', 'xor'];

export const REDUCE_OPS = ['sum', 'max', 'min', 'prod', 'argmax', 'argmin'] as const;
export type ReduceOp = (typeof REDUCE_OPS)[number];

/** How a scatter combines an update with the element already there (ONNX's `reduction`). */
export const SCATTER_REDUCTIONS = ['none', 'add', 'mul', 'max', 'min'] as const;
export type ScatterReduction = (typeof SCATTER_REDUCTIONS)[number];

/** Per-dim slice with a positive or negative step; start/end already clamped to the dim. */
export interface SliceDim {
  /** In a symbolic slice where `symStart` is set: the start at the hints. */
  start: number;
  step: number;
  /** Number of elements taken along this dim (the node's `sym` holds it where symbolic). */
  size: number;
  /** A start that depends on size symbols (x[:, -1] of a symbolic dim: s1 - 1); step is then 1. */
  symStart?: SymJSON;
}

/**
 * One dim of a sliding-window view (torch's unfold, as_strided): output position `o` of dim
 * `dim` and tap `t` (an added trailing dim of size `k`) read input index
 * o·stride + t·dilation − pad; outside [0, in) they read the window's fill value.
 */
export interface WindowDim {
  dim: number;
  /** Number of window positions (the dim's size in the output). */
  out: number;
  k: number;
  stride: number;
  dilation: number;
  /** Padding before the dim's first element (the padding after it is implied by `out`). */
  pad: number;
}

export type NodeAttrs =
  | { op: 'input'; name: string; kind: 'input' | 'param' }
  | { op: 'const'; data: number[] }
  | { op: 'unary'; fn: UnaryOp }
  | { op: 'binary'; fn: BinaryOp }
  | { op: 'where' }
  | { op: 'cast'; to: DType }
  | { op: 'reduce'; fn: ReduceOp; axes: number[]; keepdim: boolean; selectLast?: boolean }
  | { op: 'reshape' }
  | { op: 'permute'; perm: number[] }
  | { op: 'expand' }
  | { op: 'slice'; dims: SliceDim[] }
  /** Output shape: the input's with each window dim's size replaced by `out`, then one tap dim of size `k` per window dim, in order. */
  | { op: 'window'; dims: WindowDim[]; fill: number }
  | { op: 'cat'; axis: number }
  | { op: 'gather'; axis: number }
  | { op: 'iota'; axis: number; start: number; step: number }
  | { op: 'cumsum'; axis: number; exclusive: boolean; reverse: boolean }
  /**
   * out = data, then each update (inputs [data, indices, updates]), in row-major order of
   * `updates`, is combined into out at the position its index names: ONNX ScatterND
   * (`form: 'nd'`: the last dim of indices holds a prefix of data's coordinates, each update
   * a slice) or ScatterElements (`form: 'elements'`: indices has updates' shape and replaces
   * the coordinate along `axis`; axis is 0 for 'nd'). Negative indices count from the end; an
   * update whose index is out of range after that is dropped (ONNX calls it an error: the
   * importer refuses constant ones at load time, kernels must never write out of bounds).
   */
  | { op: 'scatter'; form: 'nd' | 'elements'; axis: number; reduction: ScatterReduction }
  | { op: 'matmul' };

export type OpName = NodeAttrs['op'];

export type Node = NodeAttrs & {
  readonly id: number;
  readonly inputs: readonly number[];
  /** The sizes; in a symbolic graph, a symbolic dim's hint (the size it was traced at). */
  readonly shape: Shape;
  readonly dtype: DType;
  /** Only where some dim is symbolic: every dim, a SymInt where symbolic (graph/sym.ts). */
  readonly sym?: readonly Dim[];
};

/**
 * A run-time range check of an index tensor (gather, GatherElements, GatherND, the scatters):
 * element e of `indices`, wrapped once when negative, must lie in [0, size) where size is
 * `sizes[0]`, or `sizes[e % sizes.length]` for indices whose last dim holds one coordinate per
 * entry of `sizes` (ScatterND's, GatherND's). Kernels clamp such indices, so memory stays in
 * bounds; compileGraph turns each check into two scalar outputs (the first bad position and
 * its index) and a run throws, naming `label`, when one fires (src/api/index_checks.ts).
 */
export interface IndexCheck {
  indices: number;
  /** Formulas where the indexed dims are symbolic (compared per call: index_checks.ts). */
  sizes: Dim[];
  /** What the sizes are, for the message: "dim 1 of data [4, 5]". */
  what: string;
  /** The ONNX node ("Gather 'embed'") or the graph op ("gather (node 7)"). */
  label: string;
}

export class Graph {
  readonly nodes: Node[] = [];
  /** Run-time index checks (see IndexCheck); not part of the graph's key until compileGraph makes them outputs. */
  readonly indexChecks: IndexCheck[] = [];
  /**
   * What a symbolic graph assumes of its sizes beyond the nodes' own (an ONNX shape chain's
   * Min(seq, 512) taken as seq: seq <= 512): checked per call with the plan's guards.
   */
  readonly guards: Guard[] = [];
  /** Set while a frontend converts one of its ops (the ONNX importer: the node's label), for IndexCheck.label. */
  checkLabel: string | undefined = undefined;
  /** Node ids of the graph's inputs, in call order (user inputs first, then parameters). */
  readonly inputs: number[] = [];
  outputs: number[] = [];

  add(attrs: NodeAttrs, inputs: readonly number[], shape: Shape, dtype: DType, sym?: readonly Dim[]): number {
    const id = this.nodes.length;
    // Object.assign, not an object spread: a warm start traces in a fresh process where this
    // runs unoptimised, and there the spread cost ~3.5 µs per node, 5x more (A/B, 800 nodes).
    const node = Object.assign({}, attrs, { id, inputs: inputs.slice(), shape: shape.slice(), dtype }) as Node;
    if (sym && sym.some((d) => typeof d !== 'number')) (node as { sym?: readonly Dim[] }).sym = sym.slice();
    this.nodes.push(node);
    if (attrs.op === 'input') this.inputs.push(id);
    return id;
  }

  node(id: number): Node {
    const n = this.nodes[id];
    if (!n) throw new Error(`graph: no node ${id}`);
    return n;
  }

  /** Number of uses of each node (graph outputs count as a use). */
  useCounts(): number[] {
    const uses = new Array<number>(this.nodes.length).fill(0);
    for (const n of this.nodes) for (const i of n.inputs) uses[i]!++;
    for (const o of this.outputs) uses[o]!++;
    return uses;
  }
}

const NODE_IDENTITY_FIELDS = new Set(['id', 'inputs', 'shape', 'dtype', 'sym']);

/** A node's dims: its symbolic ones where it has any, else its static shape. */
export function dimsOf(n: Node): readonly Dim[] {
  return n.sym ?? n.shape;
}

/** Whether a node's value depends on the size symbols: a symbolic dim, or a slice at a symbolic start (x[:, seq − 1]). */
export function dependsOnSizes(n: Node): boolean {
  return n.sym !== undefined || (n.op === 'slice' && n.dims.some((d) => d.symStart !== undefined));
}

/** Whether any node of the graph has a symbolic dim. */
export function isSymbolic(g: Graph): boolean {
  return g.nodes.some((n) => n.sym !== undefined);
}

/** The attributes of a node without its identity: what makes two nodes compute the same thing. */
export function nodeAttrs(n: Node): Record<string, unknown> {
  const rest: Record<string, unknown> = {};
  for (const k in n) if (!NODE_IDENTITY_FIELDS.has(k)) rest[k] = (n as Record<string, unknown>)[k];
  return rest;
}

/** A canonical, value-free description of the graph: the input to the graph-cache key. */
export function canonicalGraph(g: Graph): unknown {
  // The nodes as they are: a node's id is its index, so it adds nothing that differs between
  // two equal graphs, and copying the attributes out of 800 nodes cost more than hashing them.
  // A symbolic graph is keyed by its symbolic shapes, not the hints it was traced at, so one
  // entry serves every binding.
  const nodes = isSymbolic(g) ? g.nodes.map((n) => (dependsOnSizes(n) ? { ...n, shape: dimsOf(n).map(dimKey), sym: undefined, ...symbolicAttrs(n) } : n)) : g.nodes;
  return {
    nodes,
    inputs: g.inputs,
    outputs: g.outputs,
    ...(g.guards.length ? { guards: g.guards } : {}),
  };
}

/** A symbolic node's attributes that would otherwise hold hints: a slice's starts and sizes, as formulas. */
function symbolicAttrs(n: Node): Record<string, unknown> {
  if (n.op !== 'slice') return {};
  const dims = dimsOf(n);
  return { dims: n.dims.map((d, i) => ({ start: d.symStart ? SymInt.fromJSON(d.symStart).key() : d.start, step: d.step, size: dimKey(dims[i]!) })) };
}
