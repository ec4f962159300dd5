// The loop IR: what a kernel computes, independent of the target language. The scheduler
// produces these; each backend's codegen turns one into source text.

import type { DType } from '../graph/dtype.js';
import { type Dim, dimKey, fmtDims } from '../graph/sym.js';
import { type Expr, children, fmtExpr } from './expr.js';

export type AccOp = 'sum' | 'max' | 'min' | 'prod' | 'argmax' | 'argmin';

/** A kernel parameter: a buffer the kernel reads or writes. */
export interface KernelBuf {
  dtype: DType;
  /** Number of elements (for bounds in debug dumps and the CUDA launch). */
  numel: number;
  role: 'in' | 'out';
}

export interface Reduction {
  id: number;
  op: AccOp;
  /** Evaluated at every (outer, inner) point; may use earlier reductions' acc. */
  value: Expr;
  dtype: DType;
  /** For argmax/argmin: which index wins on ties. */
  selectLast?: boolean;
}

export interface Store {
  buf: number;
  at: Expr;
  value: Expr;
}

/**
 * A loop nest: for every point of `outer`, compute `reductions` in order (each a pass over
 * `inner`), then write `outerStores` once and `innerStores` at every point of `inner`.
 * Loop variables are o0..o{n-1} (outer) and r0..r{m-1} (inner). A pointwise kernel has no
 * inner dims and no reductions.
 */
export interface LoopKernel {
  kind: 'loops';
  bufs: KernelBuf[];
  outer: number[];
  inner: number[];
  reductions: Reduction[];
  outerStores: Store[];
  innerStores: Store[];
}

/** A strided operand of a matmul: element (batch b, row i, col j) lives at offset(b) + i*s0 + j*s1. */
export interface StridedOperand {
  buf: number;
  /** Offset as a function of batch vars o0..o{n-1}. */
  offset: Expr;
  rowStride: number;
  colStride: number;
}

/**
 * An operand read through an index expression rather than strides (an implicit GEMM: a
 * conv's window view, never materialised): element (batch o0..o{n-1}, row r0, col r1) is
 * `value`, which loads from the kernel's buffers (a window's padding: a clamped index and a
 * select). Backends evaluate it where they stage the operand (the CPU's packed panel, the CUDA
 * GEMM's shared tile), only at rows and columns inside the product.
 */
export interface ImplicitOperand {
  value: Expr;
}

export function isImplicit(o: StridedOperand | ImplicitOperand): o is ImplicitOperand {
  return 'value' in o;
}

/**
 * Batched matmul: for every batch point (vars o0..), C[m, n] = Σ_k A[m, k] · B[k, n], then
 * the epilogue stores, whose values use acc0 (the dot product) at vars o*, m, n.
 */
export interface MatmulKernel {
  kind: 'matmul';
  bufs: KernelBuf[];
  batch: number[];
  M: number;
  N: number;
  K: number;
  a: StridedOperand;
  b: StridedOperand | ImplicitOperand;
  dtype: DType;
  epilogue: Store[];
}

/** Inclusive or exclusive prefix sum along the inner dim, for each outer point. */
export interface ScanKernel {
  kind: 'scan';
  bufs: KernelBuf[];
  outer: number[];
  inner: number[];
  value: Expr;
  dtype: DType;
  exclusive: boolean;
  reverse: boolean;
  out: { buf: number; at: Expr };
}

/**
 * The update phase of a scatter (lower/scatter.ts; an earlier kernel copied the data into the
 * output). Its domain is updates' shape, split into lane dims (`outer`, vars o0..), where
 * two updates never target one element, and serial dims (`inner`, vars r0..), which every
 * lane point walks in row-major order: where `valid`, `store.value` (which may read the
 * output at `store.at`, for a reduction) is stored at `store.at`. In updates' layout the
 * first `leading` lane dims come before the serial ones and the rest after them.
 */
export interface ScatterKernel {
  kind: 'scatter';
  bufs: KernelBuf[];
  outer: number[];
  leading: number;
  inner: number[];
  valid: Expr;
  store: Store;
}

/**
 * A kernel over symbolic sizes (graph/sym.ts): its extents and strides where they are
 * symbolic (the numeric fields then hold the hints, for decisions that record a guard), and
 * the size symbols it takes as arguments after its buffers, in this order. Only loop and
 * matmul kernels have one yet; a static kernel has none and lowers exactly as before.
 */
export interface KernelSyms {
  sizes: string[];
  outer?: Dim[];
  inner?: Dim[];
  batch?: Dim[];
  M?: Dim;
  N?: Dim;
  K?: Dim;
  /** Row and column strides of the A and B operands (strided B only). */
  aStrides?: [Dim, Dim];
  bStrides?: [Dim, Dim];
  /** Loop kernels: each buffer's element count (a backend's threads rule reads the largest). */
  bufNumel?: Dim[];
}

export type Kernel = (LoopKernel | MatmulKernel | ScanKernel | ScatterKernel) & { sym?: KernelSyms };

/** The size symbols an expression reads: `sym` leaves and loop variables' symbolic extents. */
export function sizeSymbols(e: Expr, out: Set<string>): Set<string> {
  if (e.k === 'sym') out.add(e.name);
  if (e.k === 'var' && e.ext) for (const s of e.ext.symbols()) out.add(s);
  for (const c of children(e)) sizeSymbols(c, out);
  return out;
}

function fmtSyms(s: KernelSyms): string {
  const parts = [`sizes (${s.sizes.join(', ')})`];
  if (s.outer) parts.push(`outer ${fmtDims(s.outer)}`);
  if (s.inner) parts.push(`inner ${fmtDims(s.inner)}`);
  if (s.batch) parts.push(`batch ${fmtDims(s.batch)}`);
  for (const key of ['M', 'N', 'K'] as const) if (s[key] !== undefined) parts.push(`${key}=${dimKey(s[key])}`);
  if (s.aStrides) parts.push(`A strides ${fmtDims(s.aStrides)}`);
  if (s.bStrides) parts.push(`B strides ${fmtDims(s.bStrides)}`);
  return `  symbolic: ${parts.join(' ')}`;
}

export function fmtKernel(k: Kernel): string {
  const bufs = k.bufs.map((b, i) => `b${i}:${b.role} ${b.dtype}[${b.numel}]`).join(', ');
  const lines = [`${k.kind}(${bufs})`];
  if (k.sym) lines.push(fmtSyms(k.sym));
  switch (k.kind) {
    case 'loops':
      lines.push(`  outer [${k.outer}] inner [${k.inner}]`);
      for (const r of k.reductions) lines.push(`  acc${r.id} = ${r.op}_r ${fmtExpr(r.value)}`);
      for (const s of k.outerStores) lines.push(`  b${s.buf}[${fmtExpr(s.at)}] = ${fmtExpr(s.value)}`);
      for (const s of k.innerStores) lines.push(`  for r: b${s.buf}[${fmtExpr(s.at)}] = ${fmtExpr(s.value)}`);
      break;
    case 'matmul':
      lines.push(`  batch [${k.batch}] M=${k.M} N=${k.N} K=${k.K}`);
      lines.push(`  A=b${k.a.buf}+${fmtExpr(k.a.offset)} strides (${k.a.rowStride},${k.a.colStride})`);
      if (isImplicit(k.b)) lines.push(`  B[r0, r1] = ${fmtExpr(k.b.value)}`);
      else lines.push(`  B=b${k.b.buf}+${fmtExpr(k.b.offset)} strides (${k.b.rowStride},${k.b.colStride})`);
      for (const s of k.epilogue) lines.push(`  b${s.buf}[${fmtExpr(s.at)}] = ${fmtExpr(s.value)}`);
      break;
    case 'scan':
      lines.push(`  outer [${k.outer}] inner [${k.inner}] ${k.exclusive ? 'exclusive ' : ''}${k.reverse ? 'reverse ' : ''}cumsum ${fmtExpr(k.value)}`);
      lines.push(`  -> b${k.out.buf}[${fmtExpr(k.out.at)}]`);
      break;
    case 'scatter':
      lines.push(`  lanes [${k.outer}] (${k.leading} before the serial dims) serial [${k.inner}]`);
      lines.push(`  if ${fmtExpr(k.valid)}: b${k.store.buf}[${fmtExpr(k.store.at)}] = ${fmtExpr(k.store.value)}`);
      break;
    default:
      return k satisfies never;
  }
  return lines.join('\n');
}
