// From the fusion plan to loop-IR kernels and the buffer table: adds the stores that other
// kernels or the outputs need, gives every kernel its parameter list, and plans memory
// (temporaries whose lifetimes do not overlap share arena bytes). The plan is not changed.

import { byteSize } from '../graph/dtype.js';
import { type Graph, type Node, dimsOf } from '../graph/ir.js';
import { numel } from '../graph/shape.js';
import { type Dim, SymbolicUnsupportedError, symNumel } from '../graph/sym.js';
import { dimSymbols } from '../graph/sym_shape.js';
import { type Expr, iadd, idx } from '../lower/expr.js';
import { bufferLifetimes, packArena } from './memory_plan.js';
import { type Kernel, type KernelBuf, type KernelSyms, type StridedOperand, isImplicit, sizeSymbols } from '../lower/loop_ir.js';
import { imulDim } from '../lower/sym_index.js';
import { flatten } from '../lower/views.js';
import { foldSharedWeightBatch, foldSharedWeightBatchSym } from '../lower/matmul_batch.js';
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
    if (n.sym) b.dims = planDims(n.sym);
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
    if (n.sym) buf.dims = planDims(n.sym);
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
  const { first, last } = bufferLifetimes(args);
  // Temporaries of symbolic size are sized per binding by the runtime, outside the arena.
  const temps = buffers.filter((b) => b.kind === 'temp' && !b.dims).sort((a, b) => first.get(a.id)! - first.get(b.id)!);
  const packed = packArena(temps.map((t) => ({ id: t.id, size: Math.ceil((numel(t.shape) * byteSize(t.dtype)) / ALIGN) * ALIGN, first: first.get(t.id)!, last: last.get(t.id)! })));
  for (const t of temps) t.offset = packed.offsets.get(t.id)!;
  const arena = packed.bytes;
  return { kernels, args, buffers, outputs: outIds, arenaBytes: arena, kernelNodes: plan.kernels.map((k) => k.members.map((m) => m.node)) };
}

const planDims = (dims: readonly Dim[]) => dims.map((d) => (typeof d === 'number' ? d : d.toJSON()));
const isSym = (d: Dim) => typeof d !== 'number';

/** A kernel's symbolic record: the size symbols its expressions and extents read, sorted. */
function withSizes(k: Kernel, syms: Omit<KernelSyms, 'sizes'>): Kernel {
  const names = new Set<string>();
  const exprs: Expr[] = [];
  switch (k.kind) {
    case 'loops':
      for (const r of k.reductions) exprs.push(r.value);
      for (const s of [...k.outerStores, ...k.innerStores]) exprs.push(s.at, s.value);
      break;
    case 'matmul':
      exprs.push(k.a.offset, isImplicit(k.b) ? k.b.value : k.b.offset);
      for (const s of k.epilogue) exprs.push(s.at, s.value);
      break;
    case 'scan':
      exprs.push(k.value, k.out.at);
      break;
    default:
      break;
  }
  for (const e of exprs) sizeSymbols(e, names);
  for (const v of Object.values(syms) as (Dim | Dim[])[]) for (const d of [v].flat()) if (typeof d !== 'number') for (const n of d.symbols()) names.add(n);
  return { ...k, sym: { sizes: [...names].sort(), ...syms } };
}

function lowerDraft(g: Graph, r: Realization, d: KernelDraft, st: FinalStores, bufs: KernelBuf[]): Kernel {
  const param = (ref: BufferRef): number => st.params.indexOf(ref)!;
  const symbolic = d.domainDims.some(isSym);
  const outerPoint = d.point.filter((_, i) => !d.axes.includes(i));
  const outerShape = d.domainShape.filter((_, i) => !d.axes.includes(i));
  const innerShape = d.axes.map((a) => d.domainShape[a]!);
  const outerDims = d.domainDims.filter((_, i) => !d.axes.includes(i));
  const innerDims = d.axes.map((a) => d.domainDims[a]!);
  const inner = st.inner.map((s) => ({ buf: param(s.buf), at: flatten(d.point, d.domainDims), value: s.value }));
  const outer = st.outer.map((s) => ({ buf: param(s.buf), at: flatten(outerPoint, outerDims), value: s.value }));
  if (symbolic && d.kind === 'scatter') throw new SymbolicUnsupportedError(`a ${d.kind} kernel over symbolic sizes ${JSON.stringify(d.domainDims.map(String))}`, dimSymbols(d.domainDims));
  switch (d.kind) {
    case 'loops': {
      const k: Kernel = { kind: 'loops', bufs, outer: outerShape, inner: innerShape, reductions: d.reductions, outerStores: outer, innerStores: inner };
      const bufNumel = st.params.refs.map((ref): Dim => {
        const n = symNumel(dimsOf(g.node(ref.node)));
        return n.constant ?? n;
      });
      return symbolic ? withSizes(k, { outer: outerDims, inner: innerDims, bufNumel }) : k;
    }
    case 'scan': {
      const node = g.node(d.scan!.node) as Node & { op: 'cumsum' };
      const k: Kernel = {
        kind: 'scan', bufs, outer: outerShape, inner: innerShape, value: d.scan!.value, dtype: node.dtype,
        exclusive: node.exclusive, reverse: node.reverse,
        out: { buf: param(nodeBuffer(node.id)), at: flatten(d.point, d.domainDims) },
      };
      return symbolic ? withSizes(k, { outer: outerDims, inner: innerDims }) : k;
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
      const operandStrides: [Dim, Dim][] = [];
      const operand = (id: number): StridedOperand => {
        const v = r.views.get(id)!;
        const shape = dimsOf(g.node(id));
        // Symbolic views carry their strides in `sym` (the numeric ones are hints only).
        const strides: readonly Dim[] = v.sym ?? v.strides;
        const off = batch.length - (shape.length - 2);
        let offset: Expr = idx(v.offset);
        for (let i = 0; i < shape.length - 2; i++) {
          if (shape[i] !== 1) offset = iadd(offset, imulDim(d.point[i + off]!, strides[i]!));
        }
        operandStrides.push([strides[shape.length - 2]!, strides[shape.length - 1]!]);
        return { buf: param(nodeBuffer(v.base)), offset, rowStride: v.strides[shape.length - 2]!, colStride: v.strides[shape.length - 1]! };
      };
      const a = operand(d.matmul!.a);
      const b = d.matmul!.bValue ? { value: d.matmul!.bValue } : operand(d.matmul!.b);
      const k: Kernel = {
        kind: 'matmul', bufs, batch, M: m.shape[rank - 2]!, N: m.shape[rank - 1]!, K: g.node(d.matmul!.a).shape.at(-1)!,
        a, b, dtype: m.dtype, epilogue: inner,
      };
      const mDims = dimsOf(m);
      const kDim = dimsOf(g.node(d.matmul!.a)).at(-1)!;
      if (!symbolic && !isSym(kDim) && !operandStrides.flat().some(isSym)) return foldSharedWeightBatch(k);
      const folded = foldSharedWeightBatchSym(k, {
        batch: mDims.slice(0, rank - 2), M: mDims[rank - 2]!, N: mDims[rank - 1]!, K: kDim,
        aStrides: operandStrides[0]!, ...(operandStrides[1] ? { bStrides: operandStrides[1] } : {}),
      });
      return withSizes(folded.k, folded.sym);
    }
    default:
      return d.kind satisfies never;
  }
}
