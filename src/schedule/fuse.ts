// Kernel formation: builds the fusion plan (fusion_plan.ts). Realized nodes are placed in
// topological order; each joins an earlier kernel by one of the rules below or starts a new
// one, and the kernel records which rule placed it:
// - a reduction joins the most recent row kernel over the same domain and axes, when its
//   inputs are computed before that kernel (softmax's max and sum, layer norm's two sums);
// - a pointwise node joins a kernel whose accumulators it reads at the point where they are
//   held: as an inner or outer store of a row kernel (softmax's division), or as a matmul's
//   epilogue (bias + activation), also through a reshape of the product. Kernels whose
//   accumulators it reads are tried newest first; joining one that holds none would gain
//   nothing over a kernel of its own;
// - anything else starts a kernel: a matmul, a scan, a scatter (two kernels writing one buffer:
//   a copy of its data, then the updates), a reduction or pointwise node that joined nothing.
// Pointwise producers and views are inlined into whoever reads them (lower/inline.ts).
//
// Building a node's expression for a kernel changes nothing: it returns the expression, the
// parameters it would add and, when the node cannot be computed there, why; the kernel is
// extended only by `commit`.

import { type Graph, type Node, dimsOf } from '../graph/ir.js';
import { type Dim, symNumel } from '../graph/sym.js';
import { sameDim } from '../graph/sym_shape.js';
import { type Expr, cst, exprKey, idx } from '../lower/expr.js';
import { loopVarDim } from '../lower/sym_index.js';
import { type InlineContext, valueAt } from '../lower/inline.js';
import type { AccOp } from '../lower/loop_ir.js';
import { scatterPoint, scatterSerialDims, scatterValue } from '../lower/scatter.js';
import { flatten, broadcastIndex, unflatten } from '../lower/views.js';
import { type FusionPlan, type FusionRule, type KernelDraft, type KernelKind, KernelParams, nodeBuffer } from './fusion_plan.js';
import type { Realization } from './realize.js';

export type { FusionPlan, KernelDraft } from './fusion_plan.js';

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
/** Equal dims: static ones equal, symbolic ones equal as polynomials (hints never decide). */
const sameDims = (a: readonly Dim[], b: readonly Dim[]) => a.length === b.length && a.every((d, i) => sameDim(d, b[i]!));

/** A node's expression built for a kernel, and what committing it adds to the kernel. */
interface Built {
  value: Expr;
  /** Realized nodes read from buffers. */
  loads: number[];
  /** Nodes that become new parameters of the kernel, in the order the expression numbered them. */
  newParams: number[];
  /** The kernel's accumulators the expression reads. */
  accsRead: number[];
  /** Pointwise and view nodes inlined. */
  inlined: number[];
  /** Why the node cannot be computed in this kernel; the expression is then meaningless. */
  refusal?: string;
}

/** Where a pointwise node would join a kernel: the point it is read at and the rule. */
interface ConsumerPlace {
  point: Expr[];
  store: 'inner' | 'outer';
  rule: FusionRule;
}

export function formKernels(g: Graph, r: Realization): FusionPlan {
  const f = new Fuser(g, r);
  for (const node of g.nodes) {
    if (r.live.has(node.id) && r.realized.has(node.id)) f.place(node);
  }
  return f.plan;
}

const isExternal = (n: Node) => n.op === 'input' || n.op === 'const';

class Fuser {
  readonly plan: FusionPlan = { kernels: [], producer: new Map(), loaded: new Set() };
  private readonly outputs: Set<number>;

  constructor(
    private readonly g: Graph,
    private readonly r: Realization,
  ) {
    this.outputs = new Set(g.outputs);
  }

  place(node: Node): void {
    if (isExternal(node)) {
      if (this.outputs.has(node.id)) this.copyOutput(node);
      return;
    }
    switch (node.op) {
      case 'reduce':
        return this.placeReduction(node);
      case 'matmul':
        return this.startMatmul(node);
      case 'cumsum':
        return this.startScan(node);
      case 'scatter':
        return this.startScatter(node);
      default:
        if (!this.consumerCandidates(node).some((k) => this.joinAsConsumer(k, node))) this.startPointwise(node);
    }
  }

  // ---- building expressions ------------------------------------------------------------

  /**
   * The value of `root` at `point` inside kernel `k`, without changing `k`. With `inlineRoot`,
   * a realized root is computed from its definition rather than read from its own buffer.
   */
  private build(k: KernelDraft, root: number, point: readonly Expr[], inlineRoot = false): Built {
    const built: Omit<Built, 'value'> = { loads: [], newParams: [], accsRead: [], inlined: [] };
    const inlined = new Set<number>();
    const refuse = (why: string) => (built.refusal ??= why);
    const paramIndex = (id: number): number => {
      const have = k.params.indexOf(nodeBuffer(id));
      if (have !== undefined) return have;
      let i = built.newParams.indexOf(id);
      if (i < 0) i = built.newParams.push(id) - 1;
      return k.params.size + i;
    };
    const ctx: InlineContext = {
      graph: this.g,
      isRealized: (id) => {
        if (this.r.realized.has(id) && !(inlineRoot && id === root)) return true;
        if (id !== root || !inlineRoot) inlined.add(id);
        return false;
      },
      readRealized: (node, idxs) => {
        if (node.op === 'const' && node.data.length === 1) return cst(node.data[0]!, node.dtype);
        const acc = k.accs.get(node.id);
        if (acc) {
          if (exprKey(flatten(idxs, dimsOf(node))) === acc.key) {
            if (!built.accsRead.includes(node.id)) built.accsRead.push(node.id);
            return { k: 'acc', id: acc.accId, dt: acc.dtype };
          }
          refuse(`%${node.id} is read at another point than kernel ${k.index} holds it`);
        } else if (!isExternal(node)) {
          const p = this.plan.producer.get(node.id);
          if (p === undefined || p >= k.index) refuse(`%${node.id} is not computed before kernel ${k.index}`);
        }
        built.loads.push(node.id);
        return { k: 'load', buf: paramIndex(node.id), at: flatten(idxs, dimsOf(node)), dt: node.dtype };
      },
    };
    const value = valueAt(ctx, root, point);
    return { ...built, value, inlined: [...inlined] };
  }

  /** build, for a kernel just started for the node: it has no accumulator to misread and every input is ready. */
  private buildFresh(k: KernelDraft, root: number, point: readonly Expr[], inlineRoot = false): Built {
    const b = this.build(k, root, point, inlineRoot);
    if (b.refusal !== undefined) throw new Error(`schedule: cannot build node ${root} in its own kernel ${k.index}: ${b.refusal}`);
    return b;
  }

  /** Adds what `b` needs to kernel `k`: its new parameters (numbered as built) and its loads. */
  private commit(k: KernelDraft, b: Built): void {
    for (const id of b.newParams) k.params.add(nodeBuffer(id));
    for (const id of b.loads) this.plan.loaded.add(id);
  }

  // ---- kernels -------------------------------------------------------------------------

  /** A kernel over node `domain`'s dims (symbolic where it has them). */
  private start(kind: KernelKind, domain: Node, axes: readonly number[]): KernelDraft {
    const domainShape = domain.shape;
    const dims = dimsOf(domain);
    const outerDims = domainShape.map((_, i) => i).filter((i) => !axes.includes(i));
    const point = dims.map((n, i) =>
      n === 1 ? idx(0) : axes.includes(i) ? loopVarDim(`r${axes.indexOf(i)}`, n) : loopVarDim(`o${outerDims.indexOf(i)}`, n),
    );
    const k: KernelDraft = {
      index: this.plan.kernels.length, kind, domainShape: [...domainShape], domainDims: [...dims], axes: [...axes], point,
      accs: new Map(), params: new KernelParams(), reductions: [], outerStores: [], innerStores: [], members: [],
    };
    this.plan.kernels.push(k);
    return k;
  }

  /**
   * Records `node` as computed by `k`, by `rule`, from the expressions `built` and the buffers
   * `loads` read besides; `producer`: whether later kernels read it from `k`.
   */
  private member(k: KernelDraft, node: number, rule: FusionRule, built: readonly Built[], loads: number[] = [], producer = true): void {
    const union = (f: (b: Built) => number[]) => [...new Set(built.flatMap(f))];
    k.members.push({ node, rule, reads: union((b) => b.accsRead), loads: [...new Set([...union((b) => b.loads), ...loads])], inlined: union((b) => b.inlined) });
    if (producer) this.plan.producer.set(node, k.index);
  }

  /** An output that is an input or constant still gets a kernel, so outputs are fresh buffers. */
  private copyOutput(node: Node): void {
    const k = this.start('loops', node, []);
    let value: Expr;
    const loads: number[] = [];
    if (node.op === 'const' && node.data.length === 1) value = cst(node.data[0]!, node.dtype);
    else {
      value = { k: 'load', buf: k.params.add(nodeBuffer(node.id)), at: flatten(k.point, dimsOf(node)), dt: node.dtype };
      this.plan.loaded.add(node.id);
      loads.push(node.id);
    }
    k.innerStores.push({ buf: { kind: 'outputCopy', node: node.id }, value });
    this.member(k, node.id, 'output copy', [], loads, false);
  }

  private placeReduction(node: Node & { op: 'reduce' }): void {
    const input = this.g.node(node.inputs[0]!);
    const inDims = dimsOf(input);
    const same = this.plan.kernels.filter((k) => k.kind === 'loops' && sameDims(k.domainDims, inDims) && sameShape(k.axes, node.axes));
    const last = same.at(-1);
    if (last) {
      const b = this.build(last, node.inputs[0]!, last.point);
      if (b.refusal === undefined) return this.addReduction(last, node, b, 'same-domain reduction');
    }
    const k = this.start('loops', input, node.axes);
    this.addReduction(k, node, this.buildFresh(k, node.inputs[0]!, k.point), 'reduction');
  }

  private addReduction(k: KernelDraft, node: Node & { op: 'reduce' }, b: Built, rule: FusionRule): void {
    this.commit(k, b);
    const accId = k.reductions.length;
    k.reductions.push({ id: accId, op: node.fn as AccOp, value: b.value, dtype: node.dtype, ...(node.selectLast ? { selectLast: true } : {}) });
    k.accs.set(node.id, { accId, key: exprKey(flatten(this.reducedPoint(k, node), dimsOf(node))), dtype: node.dtype });
    this.member(k, node.id, rule, [b]);
  }

  /** The index of a reduction's output at the current outer point of kernel `k`. */
  private reducedPoint(k: KernelDraft, node: Node): Expr[] {
    const keep = node.op === 'reduce' && node.keepdim;
    const out: Expr[] = [];
    k.domainShape.forEach((_, i) => {
      if (!k.axes.includes(i)) out.push(k.point[i]!);
      else if (keep) out.push(idx(0));
    });
    return out;
  }

  private startMatmul(node: Node & { op: 'matmul' }): void {
    const k = this.start('matmul', node, []);
    const [a, b] = node.inputs as [number, number];
    k.matmul = { node: node.id, a, b };
    const built: Built[] = [];
    const loads: number[] = [];
    for (const [i, operand] of node.inputs.entries()) {
      if (i === 1 && this.r.implicit.has(operand)) {
        // An implicit operand: its value at (batch o*, row r0, col r1), inlined through its views.
        const bShape = dimsOf(this.g.node(operand));
        const nb = node.shape.length - 2;
        const full = [...k.point.slice(0, nb), loopVarDim('r0', bShape.at(-2)!), loopVarDim('r1', bShape.at(-1)!)];
        const b = this.buildFresh(k, operand, broadcastIndex(full, bShape));
        this.commit(k, b);
        k.matmul.bValue = b.value;
        built.push(b);
        continue;
      }
      const base = this.r.views.get(operand)!.base;
      k.params.add(nodeBuffer(base));
      this.plan.loaded.add(base);
      loads.push(base);
    }
    k.accs.set(node.id, { accId: 0, key: exprKey(flatten(k.point, dimsOf(node))), dtype: node.dtype });
    this.member(k, node.id, 'matmul', built, loads);
  }

  private startScan(node: Node & { op: 'cumsum' }): void {
    const k = this.start('scan', node, [node.axis]);
    const b = this.buildFresh(k, node.inputs[0]!, k.point);
    this.commit(k, b);
    k.scan = { node: node.id, value: b.value };
    this.member(k, node.id, 'cumsum', [b]);
  }

  /**
   * A scatter is two kernels writing its buffer: a pointwise copy of the data (its producer
   * fuses in; nothing joins later, having no accumulators), then the updates (lower/scatter.ts),
   * whose indices and values are inlined from their producers too.
   */
  private startScatter(node: Node & { op: 'scatter' }): void {
    const [data, , updates] = node.inputs as [number, number, number];
    const copy = this.start('loops', node, []);
    const b = this.buildFresh(copy, data, copy.point);
    this.commit(copy, b);
    copy.innerStores.push({ buf: nodeBuffer(node.id), value: b.value });
    this.member(copy, node.id, 'scatter copy', [b], [], false);

    const [s0, s1] = scatterSerialDims(this.g, node);
    const serial = Array.from({ length: s1 - s0 }, (_, i) => s0 + i);
    const k = this.start('scatter', this.g.node(updates), serial);
    const parts: Built[] = [];
    const p = scatterPoint(this.g, node, k.point, (id, idxs) => {
      // Committed one by one: each expression numbers its new parameters after the last's.
      const part = this.buildFresh(k, id, idxs);
      this.commit(k, part);
      parts.push(part);
      return part.value;
    });
    const old: Expr = { k: 'load', buf: k.params.add(nodeBuffer(node.id)), at: p.at, dt: node.dtype };
    k.scatter = { node: node.id, valid: p.valid, at: p.at, value: scatterValue(node, old, p.update) };
    this.member(k, node.id, 'scatter updates', parts, [node.id]);
  }

  private startPointwise(node: Node): void {
    const k = this.start('loops', node, []);
    const b = this.buildFresh(k, node.id, k.point, true);
    this.commit(k, b);
    k.innerStores.push({ buf: nodeBuffer(node.id), value: b.value });
    this.member(k, node.id, 'pointwise', [b]);
  }

  // ---- pointwise consumers -------------------------------------------------------------

  /**
   * The kernels holding an accumulator that `node`'s expression reads, newest first: the only
   * ones it can join (joinAsConsumer needs such a read). The realized nodes the expression
   * reads are those reached from `node` through inlined (unrealized) producers.
   */
  private consumerCandidates(node: Node): KernelDraft[] {
    const reads = new Set<number>();
    const seen = new Set<number>();
    const walk = (id: number) => {
      if (seen.has(id)) return;
      seen.add(id);
      if (id !== node.id && this.r.realized.has(id)) reads.add(id);
      else for (const i of this.g.node(id).inputs) walk(i);
    };
    walk(node.id);
    const kernels = new Set<number>();
    for (const id of reads) {
      const p = this.plan.producer.get(id);
      if (p !== undefined && this.plan.kernels[p]!.accs.has(id)) kernels.add(p);
    }
    return [...kernels].sort((a, b) => b - a).map((i) => this.plan.kernels[i]!);
  }

  /** Where pointwise `node` would be computed in kernel `k`, if its shape fits one of k's points. */
  private consumerPlace(k: KernelDraft, node: Node): ConsumerPlace | undefined {
    if (k.kind === 'scan' || k.kind === 'scatter') return undefined;
    const dims = dimsOf(node);
    if (sameDims(dims, k.domainDims)) return { point: k.point, store: 'inner', rule: k.kind === 'matmul' ? 'epilogue' : 'inner consumer' };
    if (k.kind === 'matmul' && symNumel(dims).equals(symNumel(k.domainDims))) {
      // A reshape of the product (a conv's [N, G, Mg, P] read as [N, M, OH, OW]): the same
      // flat point, which the index simplifier maps back onto the accumulator's.
      return { point: unflatten(flatten(k.point, k.domainDims), dims), store: 'inner', rule: 'reshaped epilogue' };
    }
    if (k.kind !== 'loops' || k.axes.length === 0) return undefined;
    const outerShape = k.domainDims.filter((_, i) => !k.axes.includes(i));
    const keepShape = k.domainDims.map((n, i) => (k.axes.includes(i) ? 1 : n));
    if (sameDims(dims, outerShape)) return { point: k.point.filter((_, i) => !k.axes.includes(i)), store: 'outer', rule: 'outer consumer' };
    if (sameDims(dims, keepShape)) return { point: k.point.map((p, i) => (k.axes.includes(i) ? idx(0) : p)), store: 'outer', rule: 'outer consumer' };
    return undefined;
  }

  /**
   * Computes pointwise `node` inside `k` when it fits one of k's points, every value it reads
   * is ready there and it reads at least one of k's accumulators (else a kernel of its own is
   * as good and keeps `k` simple). Returns whether it joined.
   */
  private joinAsConsumer(k: KernelDraft, node: Node): boolean {
    const place = this.consumerPlace(k, node);
    if (!place) return false;
    const b = this.build(k, node.id, place.point, true);
    if (b.refusal !== undefined || b.accsRead.length === 0) return false;
    this.commit(k, b);
    (place.store === 'inner' ? k.innerStores : k.outerStores).push({ buf: nodeBuffer(node.id), value: b.value });
    this.member(k, node.id, place.rule, [b]);
    return true;
  }
}
