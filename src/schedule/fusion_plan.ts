// The fusion plan: what fuse.ts decides and finalize.ts lowers. A list of kernels, each with
// its loop domain, the graph nodes it computes and, for every node, the rule that put it
// there (and which of the kernel's accumulators it reads, which producers it inlines), so
// `KILN_DEBUG=schedule` can print why the graph became these kernels.

import { type Dim, fmtDims } from '../graph/sym.js';
import type { DType } from '../graph/dtype.js';
import { type Graph, type Node, dimsOf } from '../graph/ir.js';
import type { Expr } from '../lower/expr.js';
import type { Reduction } from '../lower/loop_ir.js';

/**
 * Why a node is in its kernel. The first member of a kernel says how the kernel started; the
 * others how they joined it (fuse.ts: `join*`).
 */
export type FusionRule =
  /** Starts a kernel: a pointwise node nothing earlier could take, its producers inlined. */
  | 'pointwise'
  /** Starts a row kernel over the reduction's input (the domain), reducing its axes. */
  | 'reduction'
  | 'matmul'
  | 'cumsum'
  /** A scatter's first kernel: the copy of its data into its buffer (the data's producer inlined). */
  | 'scatter copy'
  /** A scatter's second kernel: the updates, indices' and updates' producers inlined. */
  | 'scatter updates'
  /** A graph output that is an input or constant, copied so outputs are fresh buffers. */
  | 'output copy'
  /** Joins: a reduction over the kernel's domain and axes whose inputs are computed before it. */
  | 'same-domain reduction'
  /** Joins: pointwise over the whole domain, reading the kernel's accumulators there (after the reductions, in the inner pass). */
  | 'inner consumer'
  /** Joins: pointwise over the kernel's outer (reduced) shape, reading its accumulators there (stored once per row). */
  | 'outer consumer'
  /** Joins a matmul: pointwise over the product's shape, reading it at its point. */
  | 'epilogue'
  /** Joins a matmul: reads the product through a reshape (a conv's [N, M, OH, OW] of its [N, G, Mg, P]), the same flat point. */
  | 'reshaped epilogue';

const RULE_TEXT: Record<FusionRule, string> = {
  pointwise: 'starts: pointwise, producers inlined',
  reduction: 'starts: reduction over its input',
  matmul: 'starts: matmul',
  cumsum: 'starts: scan',
  'scatter copy': 'starts: copy of the scatter data',
  'scatter updates': 'starts: scatter updates',
  'output copy': 'starts: copy of an input/constant output',
  'same-domain reduction': 'joins: reduction over the same domain, inputs ready',
  'inner consumer': 'joins: pointwise at the domain point, after the reductions (inner pass)',
  'outer consumer': 'joins: pointwise at the row point (outer store)',
  epilogue: 'joins: matmul epilogue',
  'reshaped epilogue': 'joins: matmul epilogue through a reshape',
};

/** A node of a kernel and why it is there. */
export interface Member {
  node: number;
  rule: FusionRule;
  /** The kernel's accumulators (reductions, the product) this node reads. */
  reads: number[];
  /** Realized nodes this node's expression reads from their buffers. */
  loads: number[];
  /** Pointwise and view nodes computed inline in this node's expression (not stored). */
  inlined: number[];
}

/**
 * A buffer a kernel reads or writes: a node's own buffer, or the fresh output buffer that a
 * graph output which is an input or constant is copied into (an output never aliases one).
 */
export type BufferRef = { kind: 'node'; node: number } | { kind: 'outputCopy'; node: number };

export const nodeBuffer = (node: number): BufferRef => ({ kind: 'node', node });

/** A kernel's buffer parameters, in order; roles are decided when the plan is final. */
export class KernelParams {
  private readonly list: BufferRef[] = [];
  private readonly ofNode = new Map<number, number>();
  private readonly ofCopy = new Map<number, number>();

  get refs(): readonly BufferRef[] {
    return this.list;
  }

  get size(): number {
    return this.list.length;
  }

  indexOf(ref: BufferRef): number | undefined {
    return (ref.kind === 'node' ? this.ofNode : this.ofCopy).get(ref.node);
  }

  /** The parameter index of `ref`, adding it last if it is new. */
  add(ref: BufferRef): number {
    const have = this.indexOf(ref);
    if (have !== undefined) return have;
    const index = this.list.length;
    this.list.push(ref);
    (ref.kind === 'node' ? this.ofNode : this.ofCopy).set(ref.node, index);
    return index;
  }

  clone(): KernelParams {
    const c = new KernelParams();
    for (const ref of this.list) c.add(ref);
    return c;
  }
}

export interface Store {
  buf: BufferRef;
  value: Expr;
}

export type KernelKind = 'loops' | 'matmul' | 'scan' | 'scatter';

/** A kernel of the plan: its loop IR so far plus what fusion needs to extend it. */
export interface KernelDraft {
  index: number;
  kind: KernelKind;
  /** Domain of the kernel: the shape its inner point indexes, and the reduced axes. */
  domainShape: number[];
  /** The domain's dims: symbolic ones where the graph has them (domainShape then holds hints). */
  domainDims: Dim[];
  axes: number[];
  /** Canonical multi-index of domainShape at the current point (loop vars). */
  point: Expr[];
  /** Nodes whose value this kernel holds in an accumulator, with their canonical flat index key. */
  accs: Map<number, { accId: number; key: string; dtype: DType }>;
  params: KernelParams;
  reductions: Reduction[];
  outerStores: Store[];
  innerStores: Store[];
  /** For matmul and scan kernels, the fixed part of the kernel. */
  matmul?: { node: number; a: number; b: number; bValue?: Expr };
  scan?: { node: number; value: Expr };
  /** For a scatter's update kernel: whether each update applies, where it goes, what is stored. */
  scatter?: { node: number; valid: Expr; at: Expr; value: Expr };
  /** The graph nodes this kernel computes, in order, each with why it is here. */
  members: Member[];
}

export interface FusionPlan {
  kernels: KernelDraft[];
  /** Kernel index that produces each realized non-input node. */
  producer: Map<number, number>;
  /** Realized nodes read from a buffer by some kernel (they need a store). */
  loaded: Set<number>;
}

/** A node as the plan prints it: `%id op dtype[shape]`. */
function fmtNode(n: Node): string {
  const op = n.op === 'unary' || n.op === 'binary' || n.op === 'reduce' ? n.fn : n.op;
  return `%${n.id} ${op} ${n.dtype}${fmtDims(dimsOf(n))}`;
}

/** The plan as text, for KILN_DEBUG=schedule: each kernel, its kind and domain, its nodes and why each is there. */
export function fmtFusionPlan(g: Graph, plan: FusionPlan): string {
  const lines = [`fusion plan: ${plan.kernels.length} kernels`];
  for (const k of plan.kernels) {
    const axes = k.axes.length ? `, ${k.kind === 'loops' ? 'reducing' : k.kind === 'scan' ? 'scanning' : 'serial'} axes [${k.axes.join(',')}]` : '';
    lines.push(`kernel ${k.index} (${k.kind}): domain ${fmtDims(k.domainDims)}${axes}`);
    const rows = k.members.map((m) => ({ m, node: fmtNode(g.node(m.node)) }));
    const width = Math.max(...rows.map((r) => r.node.length));
    for (const { m, node } of rows) {
      const accs = m.reads.length ? `; reads accumulators ${m.reads.map((r) => `%${r}`).join(' ')}` : '';
      lines.push(`  ${node.padEnd(width)}  ${RULE_TEXT[m.rule]}${accs}`);
      // Scalar constants are literals in the code: not worth a mention.
      const inlined = m.inlined.filter((i) => g.node(i).op !== 'const').sort((a, b) => a - b);
      const loads = [...new Set(m.loads)].sort((a, b) => a - b);
      const parts = [loads.length ? `loads ${loads.map((i) => fmtNode(g.node(i))).join(', ')}` : '', inlined.length ? `inlines ${inlined.map((i) => fmtNode(g.node(i))).join(', ')}` : ''];
      const detail = parts.filter((p) => p).join('; ');
      if (detail) lines.push(`  ${' '.repeat(width)}    ${detail}`);
    }
  }
  return lines.join('\n');
}
