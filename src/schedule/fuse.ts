// Kernel formation. Realized nodes are visited in topological order; each either joins an
// earlier kernel (a reduction over the same domain whose inputs are ready, or a pointwise
// consumer of a kernel's reductions/matmul read at the same point: softmax and layer norm
// become one row kernel, bias + activation become a matmul epilogue) or starts a new one.

import type { DType } from '../graph/dtype.js';
import type { Graph, Node } from '../graph/ir.js';
import { numel, sameShape } from '../graph/shape.js';
import { type Expr, cst, exprKey, idx, loopVar } from '../lower/expr.js';
import { type InlineContext, NotFusable, valueAt } from '../lower/inline.js';
import type { AccOp, Reduction } from '../lower/loop_ir.js';
import { scatterPoint, scatterSerialDims, scatterValue } from '../lower/scatter.js';
import { flatten, broadcastIndex, unflatten } from '../lower/views.js';
import type { Realization } from './realize.js';

/** A kernel under construction: its loop IR plus what the scheduler needs to extend it. */
export interface KernelDraft {
  index: number;
  kind: 'loops' | 'matmul' | 'scan' | 'scatter';
  /** Domain of the kernel: the shape its inner point indexes, and the reduced axes. */
  domainShape: number[];
  axes: number[];
  /** Canonical multi-index of domainShape at the current point (loop vars). */
  point: Expr[];
  /** Nodes whose value this kernel holds in an accumulator, with their canonical flat index key. */
  accs: Map<number, { accId: number; key: string; dtype: DType }>;
  /** Buffer parameters: node id → param index; roles decided when the plan is final. */
  params: Map<number, number>;
  paramNodes: number[];
  reads: Set<number>;
  writes: Set<number>;
  reductions: Reduction[];
  outerStores: { node: number; value: Expr }[];
  innerStores: { node: number; value: Expr }[];
  /** For matmul and scan drafts, the fixed part of the kernel. */
  matmul?: { node: number; a: number; b: number; bValue?: Expr };
  scan?: { node: number; value: Expr };
  /** For a scatter's update kernel: whether each update applies, where it goes, what is stored. */
  scatter?: { node: number; valid: Expr; at: Expr; value: Expr };
  /** Graph nodes computed here (for `kiln inspect` and debug dumps). */
  nodes: number[];
}

export interface Schedule {
  drafts: KernelDraft[];
  /** Kernel index that produces each realized non-input node. */
  producer: Map<number, number>;
  /** Realized nodes read from a buffer by some kernel (they need a store). */
  loaded: Set<number>;
}

export function formKernels(g: Graph, r: Realization): Schedule {
  const drafts: KernelDraft[] = [];
  const producer = new Map<number, number>();
  const loaded = new Set<number>();
  const outputs = new Set(g.outputs);

  const isExternal = (n: Node) => n.op === 'input' || n.op === 'const';
  const inlining = new Set<number>();

  /** Builds an expression for node `id` at `point` inside draft `d`; throws NotFusable. */
  function build(d: KernelDraft, id: number, point: readonly Expr[]): { value: Expr; usedAcc: boolean; newLoads: number[] } {
    let usedAcc = false;
    const newLoads: number[] = [];
    const ctx: InlineContext = {
      graph: g,
      isRealized: (n) => r.realized.has(n) && !inlining.has(n),
      readRealized(node, idxs) {
        if (node.op === 'const' && node.data.length === 1) return cst(node.data[0]!, node.dtype);
        const acc = d.accs.get(node.id);
        if (acc) {
          if (exprKey(flatten(idxs, node.shape)) !== acc.key) throw new NotFusable(`node ${node.id} read at another point`);
          usedAcc = true;
          return { k: 'acc', id: acc.accId, dt: acc.dtype };
        }
        if (!isExternal(node)) {
          const p = producer.get(node.id);
          if (p === undefined || p >= d.index) throw new NotFusable(`node ${node.id} is not ready before kernel ${d.index}`);
        }
        newLoads.push(node.id);
        return { k: 'load', buf: paramOf(d, node.id), at: flatten(idxs, node.shape), dt: node.dtype };
      },
    };
    return { value: valueAt(ctx, id, point), usedAcc, newLoads };
  }

  /** Runs `fn` against `d`, rolling back any parameters it added if it throws. */
  function attempt<T>(d: KernelDraft, fn: () => T): T | undefined {
    const saved = d.paramNodes.length;
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof NotFusable)) throw e;
      for (const n of d.paramNodes.splice(saved)) d.params.delete(n);
      return undefined;
    }
  }

  function commitLoads(d: KernelDraft, ids: number[]) {
    for (const id of ids) {
      d.reads.add(id);
      loaded.add(id);
    }
  }

  function newDraft(kind: KernelDraft['kind'], domainShape: number[], axes: number[]): KernelDraft {
    const outerDims = domainShape.map((_, i) => i).filter((i) => !axes.includes(i));
    const point = domainShape.map((n, i) =>
      n === 1 ? idx(0) : axes.includes(i) ? loopVar(`r${axes.indexOf(i)}`, n) : loopVar(`o${outerDims.indexOf(i)}`, n),
    );
    const d: KernelDraft = {
      index: drafts.length, kind, domainShape, axes, point,
      accs: new Map(), params: new Map(), paramNodes: [], reads: new Set(), writes: new Set(),
      reductions: [], outerStores: [], innerStores: [], nodes: [],
    };
    drafts.push(d);
    return d;
  }

  /** The index of a reduction's output at the current outer point of draft `d`. */
  function reducedPoint(d: KernelDraft, node: Node): Expr[] {
    const keep = node.op === 'reduce' && node.keepdim;
    const out: Expr[] = [];
    d.domainShape.forEach((_, i) => {
      if (!d.axes.includes(i)) out.push(d.point[i]!);
      else if (keep) out.push(idx(0));
    });
    return out;
  }

  function tryReduction(d: KernelDraft, node: Node & { op: 'reduce' }): boolean {
    const res = attempt(d, () => build(d, node.inputs[0]!, d.point));
    if (!res) return false;
    commitLoads(d, res.newLoads);
    const accId = d.reductions.length;
    d.reductions.push({ id: accId, op: node.fn as AccOp, value: res.value, dtype: node.dtype, ...(node.selectLast ? { selectLast: true } : {}) });
    d.accs.set(node.id, { accId, key: exprKey(flatten(reducedPoint(d, node), node.shape)), dtype: node.dtype });
    d.nodes.push(node.id);
    producer.set(node.id, d.index);
    return true;
  }

  /** Tries to compute pointwise root `node` inside `d` (inner pass, outer pass or epilogue). */
  function tryConsumer(d: KernelDraft, node: Node): boolean {
    if (d.kind === 'scan' || d.kind === 'scatter') return false;
    let point: Expr[] | undefined;
    let where: 'inner' | 'outer' = 'inner';
    if (sameShape(node.shape, d.domainShape)) point = d.point;
    else if (d.kind === 'matmul' && numel(node.shape) === numel(d.domainShape)) {
      // A reshape of the product (a conv's [N, G, Mg, P] read as [N, M, OH, OW]): the same
      // flat point, which the index simplifier maps back onto the accumulator's.
      point = unflatten(flatten(d.point, d.domainShape), node.shape);
    } else if (d.kind === 'loops' && d.axes.length > 0) {
      const outerShape = d.domainShape.filter((_, i) => !d.axes.includes(i));
      const keepShape = d.domainShape.map((n, i) => (d.axes.includes(i) ? 1 : n));
      if (sameShape(node.shape, outerShape)) point = d.point.filter((_, i) => !d.axes.includes(i));
      else if (sameShape(node.shape, keepShape)) point = d.point.map((p, i) => (d.axes.includes(i) ? idx(0) : p));
      where = 'outer';
    }
    if (!point) return false;
    const res = attempt(d, () => build(d, inlineRoot(node), point!));
    if (!res || !res.usedAcc) {
      // Nothing of this kernel is reused: a separate kernel is as good and keeps this one simple.
      if (res) for (const n of d.paramNodes.filter((p) => res.newLoads.includes(p) && !d.reads.has(p))) {
        d.params.delete(n);
        d.paramNodes.splice(d.paramNodes.indexOf(n), 1);
      }
      return false;
    }
    commitLoads(d, res.newLoads);
    (where === 'inner' ? d.innerStores : d.outerStores).push({ node: node.id, value: res.value });
    d.writes.add(node.id);
    d.nodes.push(node.id);
    producer.set(node.id, d.index);
    return true;
  }

  /**
   * A realized pointwise node is built by inlining its own definition: it is treated as not
   * realized while it is built, so valueAt expands it instead of reading its own buffer.
   */
  function inlineRoot(node: Node): number {
    inlining.add(node.id);
    return node.id;
  }

  for (const node of g.nodes) {
    if (!r.live.has(node.id) || !r.realized.has(node.id)) continue;
    inlining.clear();
    if (isExternal(node)) {
      if (outputs.has(node.id)) {
        // An output that is an input or constant still gets a kernel, so outputs are fresh buffers.
        const d = newDraft('loops', [...node.shape], []);
        copyKernel(d, node);
      }
      continue;
    }
    if (node.op === 'reduce') {
      const inShape = g.node(node.inputs[0]!).shape;
      const candidates = drafts.filter((d) => d.kind === 'loops' && sameShape(d.domainShape, inShape) && sameShape(d.axes, node.axes));
      if (candidates.length && tryReduction(candidates[candidates.length - 1]!, node)) continue;
      const d = newDraft('loops', [...inShape], [...node.axes]);
      if (!tryReduction(d, node)) throw new Error(`schedule: cannot build reduction node ${node.id}`);
      continue;
    }
    if (node.op === 'matmul') {
      const d = newDraft('matmul', [...node.shape], []);
      d.matmul = { node: node.id, a: node.inputs[0]!, b: node.inputs[1]! };
      for (const [i, operand] of node.inputs.entries()) {
        if (i === 1 && r.implicit.has(operand)) {
          // An implicit operand: its value at (batch o*, row r0, col r1), inlined through its views.
          const bShape = g.node(operand).shape;
          const nb = node.shape.length - 2;
          const full = [...d.point.slice(0, nb), loopVar('r0', bShape.at(-2)!), loopVar('r1', bShape.at(-1)!)];
          const res = build(d, operand, broadcastIndex(full, bShape));
          commitLoads(d, res.newLoads);
          d.matmul.bValue = res.value;
          continue;
        }
        const base = r.views.get(operand)!.base;
        paramOf(d, base);
        d.reads.add(base);
        loaded.add(base);
      }
      d.accs.set(node.id, { accId: 0, key: exprKey(flatten(d.point, node.shape)), dtype: node.dtype });
      d.nodes.push(node.id);
      producer.set(node.id, d.index);
      continue;
    }
    if (node.op === 'cumsum') {
      const inShape = [...node.shape];
      const d = newDraft('scan', inShape, [node.axis]);
      const res = build(d, node.inputs[0]!, d.point);
      commitLoads(d, res.newLoads);
      d.scan = { node: node.id, value: res.value };
      d.nodes.push(node.id);
      producer.set(node.id, d.index);
      continue;
    }
    if (node.op === 'scatter') {
      scatterKernels(node);
      continue;
    }
    // A pointwise root: try the most recent kernels whose accumulators it reads.
    let placed = false;
    for (let i = drafts.length - 1; i >= Math.max(0, drafts.length - 6) && !placed; i--) {
      inlining.clear();
      placed = tryConsumer(drafts[i]!, node);
    }
    if (placed) continue;
    inlining.clear();
    const d = newDraft('loops', [...node.shape], []);
    const res = build(d, inlineRoot(node), d.point);
    commitLoads(d, res.newLoads);
    d.innerStores.push({ node: node.id, value: res.value });
    d.writes.add(node.id);
    d.nodes.push(node.id);
    producer.set(node.id, d.index);
  }
  return { drafts, producer, loaded };

  /**
   * A scatter is two kernels writing its buffer: a pointwise copy of the data (its producer
   * fuses in; nothing joins later, having no accumulators), then the updates (lower/scatter.ts),
   * whose indices and values are inlined from their producers too.
   */
  function scatterKernels(node: Node & { op: 'scatter' }) {
    const [data, , updates] = node.inputs as [number, number, number];
    const copy = newDraft('loops', [...node.shape], []);
    const res = build(copy, data, copy.point);
    commitLoads(copy, res.newLoads);
    copy.innerStores.push({ node: node.id, value: res.value });
    copy.writes.add(node.id);
    copy.nodes.push(node.id);
    const [s0, s1] = scatterSerialDims(g, node);
    const serial = Array.from({ length: s1 - s0 }, (_, i) => s0 + i);
    const d = newDraft('scatter', [...g.node(updates).shape], serial);
    const loads: number[] = [];
    const p = scatterPoint(g, node, d.point, (id, idxs) => {
      const r = build(d, id, idxs);
      loads.push(...r.newLoads);
      return r.value;
    });
    commitLoads(d, loads);
    const old: Expr = { k: 'load', buf: paramOf(d, node.id), at: p.at, dt: node.dtype };
    d.scatter = { node: node.id, valid: p.valid, at: p.at, value: scatterValue(node, old, p.update) };
    d.writes.add(node.id);
    d.nodes.push(node.id);
    producer.set(node.id, d.index);
  }

  function copyKernel(d: KernelDraft, node: Node) {
    // Reads the external node and writes the output buffer; the output gets its own buffer id
    // through the plan (an output aliasing an input is copied).
    const value: Expr =
      node.op === 'const' && node.data.length === 1
        ? cst(node.data[0]!, node.dtype)
        : { k: 'load', buf: paramOf(d, node.id), at: flatten(d.point, node.shape), dt: node.dtype };
    if (value.k === 'load') {
      d.reads.add(node.id);
      loaded.add(node.id);
    }
    d.innerStores.push({ node: -1 - node.id, value });
    d.nodes.push(node.id);
  }
}

/** Registers `nodeId` as a buffer parameter of `d` and returns its index. */
export function paramOf(d: KernelDraft, nodeId: number): number {
  let p = d.params.get(nodeId);
  if (p === undefined) {
    p = d.paramNodes.length;
    d.params.set(nodeId, p);
    d.paramNodes.push(nodeId);
  }
  return p;
}
