// From the fusion plan to loop-IR kernels and the buffer table: adds the stores that other
// kernels or the outputs need, gives every kernel its parameter list, and plans memory
// (temporaries whose lifetimes do not overlap share arena bytes). The plan is not changed.

import { byteSize } from '../graph/dtype.js';
import type { Graph, Node } from '../graph/ir.js';
import { numel } from '../graph/shape.js';
import { type Expr, iadd, idx, imul } from '../lower/expr.js';
import type { Kernel, KernelBuf, StridedOperand } from '../lower/loop_ir.js';
import { flatten } from '../lower/views.js';
import { foldSharedWeightBatch } from '../lower/matmul_batch.js';
import { type BufferRef, type FusionPlan, type KernelDraft, type KernelParams, type Store, nodeBuffer } from './fusion_plan.js';
import type { PlanBuffer } from './plan.js';
import type { Realization } from './realize.js';

export interface Finalized {
  kernels: Kernel[];
  /** For each kernel, the buffer id of each parameter. */
  args: number[][];
  buffers: PlanBuffer[];
  outputs: number[];
  arenaBytes: number;
  /** Graph nodes computed by each kernel (for inspect). */
  kernelNodes: number[][];
}

const ALIGN = 64;

/** A kernel's stores and parameters once the plan is final: its accumulators' stores added. */
interface FinalStores {
  inner: Store[];
  outer: Store[];
  params: KernelParams;
  /** Parameter indices the kernel writes. */
  written: Set<number>;
}

/** Kernel `k`'s stores, with one for each accumulator that something reads from memory or that is an output. */
function finalStores(k: KernelDraft, loaded: ReadonlySet<number>, outputs: ReadonlySet<number>): FinalStores {
  const inner = [...k.innerStores];
  const outer = [...k.outerStores];
  for (const [node, acc] of k.accs) {
    if (!loaded.has(node) && !outputs.has(node)) continue;
    const value: Expr = { k: 'acc', id: acc.accId, dt: acc.dtype };
    (k.kind === 'matmul' ? inner : outer).push({ buf: nodeBuffer(node), value });
  }
  const params = k.params.clone();
  const written = new Set([...inner, ...outer].map((st) => params.add(st.buf)));
  if (k.scan) written.add(params.add(nodeBuffer(k.scan.node)));
  if (k.scatter) written.add(params.add(nodeBuffer(k.scatter.node)));
  return { inner, outer, params, written };
}

export function finalize(g: Graph, r: Realization, plan: FusionPlan): Finalized {
  const outputs = new Set(g.outputs);
  // 1. Stores for accumulators that something reads from memory, or that are outputs.
  const stores = plan.kernels.map((k) => finalStores(k, plan.loaded, outputs));

  // 2. Buffers: one per external node read, one per node written, one per output copy.
  const buffers: PlanBuffer[] = [];
  const bufOfNode = new Map<number, number>();
  const bufOfCopy = new Map<number, number>();
  let inputIndex = 0;
  let paramIndex = 0;
  for (const id of g.inputs) {
    const n = g.node(id);
    const kind = (n as { kind?: string }).kind === 'param' ? 'param' : 'input';
    const b: PlanBuffer = { id: buffers.length, kind, dtype: n.dtype, shape: [...n.shape], index: kind === 'param' ? paramIndex++ : inputIndex++ };
    buffers.push(b);
    bufOfNode.set(id, b.id);
  }
  const ensure = (ref: BufferRef): number => {
    const bufOf = ref.kind === 'node' ? bufOfNode : bufOfCopy;
    const have = bufOf.get(ref.node);
    if (have !== undefined) return have;
    const n = g.node(ref.node);
    const kind = ref.kind === 'outputCopy' ? 'output' : n.op === 'const' ? 'const' : outputs.has(ref.node) ? 'output' : 'temp';
    const buf: PlanBuffer = { id: buffers.length, kind, dtype: n.dtype, shape: [...n.shape] };
    if (kind === 'const' && n.op === 'const') buf.data = n.data;
    buffers.push(buf);
    bufOf.set(ref.node, buf.id);
    return buf.id;
  };

  // 3. Kernels.
  const kernels: Kernel[] = [];
  const args: number[][] = [];
  plan.kernels.forEach((k, i) => {
    const st = stores[i]!;
    const bufs: KernelBuf[] = st.params.refs.map((ref, p) => {
      const n = g.node(ref.node);
      return { dtype: n.dtype, numel: numel(n.shape), role: st.written.has(p) ? 'out' : 'in' };
    });
    args.push(st.params.refs.map(ensure));
    kernels.push(lowerDraft(g, r, k, st, bufs));
  });

  // 4. Outputs: the buffer holding each output node (input/const outputs were copied).
  const outIds = g.outputs.map((id) => bufOfCopy.get(id) ?? bufOfNode.get(id)!);

  // 5. Memory plan for temporaries: first and last kernel touching each.
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  args.forEach((list, k) => {
    for (const b of list) {
      if (!first.has(b)) first.set(b, k);
      last.set(b, k);
    }
  });
  const temps = buffers.filter((b) => b.kind === 'temp').sort((a, b) => first.get(a.id)! - first.get(b.id)!);
  const live: { end: number; offset: number; size: number }[] = [];
  const free: { offset: number; size: number }[] = [];
  let arena = 0;
  for (const t of temps) {
    const start = first.get(t.id)!;
    // Release blocks whose last use is before this kernel.
    for (let i = live.length - 1; i >= 0; i--) {
      if (live[i]!.end < start) {
        free.push({ offset: live[i]!.offset, size: live[i]!.size });
        live.splice(i, 1);
      }
    }
    const size = Math.ceil((numel(t.shape) * byteSize(t.dtype)) / ALIGN) * ALIGN;
    const fit = free.findIndex((f) => f.size >= size);
    let offset: number;
    if (fit >= 0) {
      offset = free[fit]!.offset;
      free.splice(fit, 1);
    } else {
      offset = arena;
      arena += size;
    }
    t.offset = offset;
    live.push({ end: last.get(t.id)!, offset, size });
  }
  return { kernels, args, buffers, outputs: outIds, arenaBytes: arena, kernelNodes: plan.kernels.map((k) => k.members.map((m) => m.node)) };
}

function lowerDraft(g: Graph, r: Realization, d: KernelDraft, st: FinalStores, bufs: KernelBuf[]): Kernel {
  const param = (ref: BufferRef): number => st.params.indexOf(ref)!;
  const outerPoint = d.point.filter((_, i) => !d.axes.includes(i));
  const outerShape = d.domainShape.filter((_, i) => !d.axes.includes(i));
  const innerShape = d.axes.map((a) => d.domainShape[a]!);
  const inner = st.inner.map((s) => ({ buf: param(s.buf), at: flatten(d.point, d.domainShape), value: s.value }));
  const outer = st.outer.map((s) => ({ buf: param(s.buf), at: flatten(outerPoint, outerShape), value: s.value }));
  switch (d.kind) {
    case 'loops':
      return { kind: 'loops', bufs, outer: outerShape, inner: innerShape, reductions: d.reductions, outerStores: outer, innerStores: inner };
    case 'scan': {
      const node = g.node(d.scan!.node) as Node & { op: 'cumsum' };
      return {
        kind: 'scan', bufs, outer: outerShape, inner: innerShape, value: d.scan!.value, dtype: node.dtype,
        exclusive: node.exclusive, reverse: node.reverse,
        out: { buf: param(nodeBuffer(node.id)), at: flatten(d.point, d.domainShape) },
      };
    }
    case 'scatter': {
      // Lane dims are the domain's non-serial dims (vars o0..), serial ones its `axes` (r0..).
      const sc = d.scatter!;
      const leading = d.axes.length ? d.axes[0]! : 0;
      return {
        kind: 'scatter', bufs, outer: outerShape, leading, inner: innerShape, valid: sc.valid,
        store: { buf: param(nodeBuffer(sc.node)), at: sc.at, value: sc.value },
      };
    }
    case 'matmul': {
      const m = g.node(d.matmul!.node);
      const rank = m.shape.length;
      const batch = m.shape.slice(0, rank - 2);
      const operand = (id: number): StridedOperand => {
        const v = r.views.get(id)!;
        const shape = g.node(id).shape;
        const off = batch.length - (shape.length - 2);
        let offset: Expr = idx(v.offset);
        for (let i = 0; i < shape.length - 2; i++) {
          if (shape[i] !== 1) offset = iadd(offset, imul(d.point[i + off]!, v.strides[i]!));
        }
        return { buf: param(nodeBuffer(v.base)), offset, rowStride: v.strides[shape.length - 2]!, colStride: v.strides[shape.length - 1]! };
      };
      return foldSharedWeightBatch({
        kind: 'matmul', bufs, batch, M: m.shape[rank - 2]!, N: m.shape[rank - 1]!, K: g.node(d.matmul!.a).shape.at(-1)!,
        a: operand(d.matmul!.a), b: d.matmul!.bValue ? { value: d.matmul!.bValue } : operand(d.matmul!.b), dtype: m.dtype, epilogue: inner,
      });
    }
    default:
      return d.kind satisfies never;
  }
}
