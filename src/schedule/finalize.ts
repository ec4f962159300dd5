// From kernel drafts to loop-IR kernels and the buffer table: adds the stores that other
// kernels or the outputs need, gives every kernel its parameter list, and plans memory
// (temporaries whose lifetimes do not overlap share arena bytes).

import { byteSize } from '../graph/dtype.js';
import type { Graph, Node } from '../graph/ir.js';
import { numel } from '../graph/shape.js';
import { type Expr, iadd, idx, imul } from '../lower/expr.js';
import type { Kernel, KernelBuf, StridedOperand } from '../lower/loop_ir.js';
import { flatten } from '../lower/views.js';
import { foldSharedWeightBatch } from '../lower/matmul_batch.js';
import type { KernelDraft, Schedule } from './fuse.js';
import { paramOf } from './fuse.js';
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

export function finalize(g: Graph, r: Realization, s: Schedule): Finalized {
  const outputs = new Set(g.outputs);
  // 1. Stores for accumulators that something reads from memory, or that are outputs.
  for (const d of s.drafts) {
    for (const [node, acc] of d.accs) {
      if (!s.loaded.has(node) && !outputs.has(node)) continue;
      const value: Expr = { k: 'acc', id: acc.accId, dt: acc.dtype };
      if (d.kind === 'matmul') d.innerStores.push({ node, value });
      else d.outerStores.push({ node, value });
      d.writes.add(node);
    }
  }

  // 2. Buffers: one per external node read, one per node written.
  const buffers: PlanBuffer[] = [];
  const bufOf = new Map<number, number>();
  const nodeOfStore = (id: number): Node => g.node(id < 0 ? -1 - id : id);
  let inputIndex = 0;
  let paramIndex = 0;
  for (const id of g.inputs) {
    const n = g.node(id);
    const kind = (n as { kind?: string }).kind === 'param' ? 'param' : 'input';
    const b: PlanBuffer = { id: buffers.length, kind, dtype: n.dtype, shape: [...n.shape], index: kind === 'param' ? paramIndex++ : inputIndex++ };
    buffers.push(b);
    bufOf.set(id, b.id);
  }
  const ensure = (id: number): number => {
    let b = bufOf.get(id);
    if (b !== undefined) return b;
    const n = nodeOfStore(id);
    const kind = n.op === 'const' && id >= 0 ? 'const' : outputs.has(id) || id < 0 ? 'output' : 'temp';
    const buf: PlanBuffer = { id: buffers.length, kind, dtype: n.dtype, shape: [...n.shape] };
    if (kind === 'const' && n.op === 'const') buf.data = n.data;
    buffers.push(buf);
    bufOf.set(id, buf.id);
    return buf.id;
  };

  // 3. Kernels.
  const kernels: Kernel[] = [];
  const args: number[][] = [];
  for (const d of s.drafts) {
    for (const st of [...d.innerStores, ...d.outerStores]) paramOf(d, st.node);
    const written = new Set([...d.innerStores, ...d.outerStores].map((st) => st.node));
    if (d.scan) {
      paramOf(d, d.scan.node);
      written.add(d.scan.node);
    }
    if (d.scatter) written.add(d.scatter.node);
    const bufs: KernelBuf[] = d.paramNodes.map((id) => {
      const n = nodeOfStore(id);
      return { dtype: n.dtype, numel: numel(n.shape), role: written.has(id) ? 'out' : 'in' };
    });
    args.push(d.paramNodes.map((id) => ensure(id)));
    kernels.push(lowerDraft(g, r, d, bufs));
  }

  // 4. Outputs: the buffer holding each output node (input/const outputs were copied).
  const outIds = g.outputs.map((id) => bufOf.get(bufOf.has(-1 - id) ? -1 - id : id)!);

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
  return { kernels, args, buffers, outputs: outIds, arenaBytes: arena, kernelNodes: s.drafts.map((d) => d.nodes) };
}

function lowerDraft(g: Graph, r: Realization, d: KernelDraft, bufs: KernelBuf[]): Kernel {
  const outerPoint = d.point.filter((_, i) => !d.axes.includes(i));
  const outerShape = d.domainShape.filter((_, i) => !d.axes.includes(i));
  const innerShape = d.axes.map((a) => d.domainShape[a]!);
  const inner = d.innerStores.map((st) => ({ buf: d.params.get(st.node)!, at: flatten(d.point, d.domainShape), value: st.value }));
  const outer = d.outerStores.map((st) => ({ buf: d.params.get(st.node)!, at: flatten(outerPoint, outerShape), value: st.value }));
  switch (d.kind) {
    case 'loops':
      return { kind: 'loops', bufs, outer: outerShape, inner: innerShape, reductions: d.reductions, outerStores: outer, innerStores: inner };
    case 'scan': {
      const node = g.node(d.scan!.node) as Node & { op: 'cumsum' };
      return {
        kind: 'scan', bufs, outer: outerShape, inner: innerShape, value: d.scan!.value, dtype: node.dtype,
        exclusive: node.exclusive, reverse: node.reverse,
        out: { buf: d.params.get(node.id)!, at: flatten(d.point, d.domainShape) },
      };
    }
    case 'scatter': {
      // Lane dims are the domain's non-serial dims (vars o0..), serial ones its `axes` (r0..).
      const sc = d.scatter!;
      const leading = d.axes.length ? d.axes[0]! : 0;
      return {
        kind: 'scatter', bufs, outer: outerShape, leading, inner: innerShape, valid: sc.valid,
        store: { buf: d.params.get(sc.node)!, at: sc.at, value: sc.value },
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
        return { buf: d.params.get(v.base)!, offset, rowStride: v.strides[shape.length - 2]!, colStride: v.strides[shape.length - 1]! };
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
