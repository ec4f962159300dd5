// Batch dimensions of a matmul kernel: whether an operand's per-batch offset is one stride
// over the flat batch index, and folding a batch of row-contiguous A matrices that share one
// B into a single taller product ([b, T, K] @ [K, N] as [b·T, K] @ [K, N]: a transformer's
// projections), so backends run one large GEMM instead of b small ones.

import { numel } from '../graph/shape.js';
import { type Dim, SymInt, symNumel, symStrides } from '../graph/sym.js';
import { type Expr, evalIndex, idiv, idx, imod, loopVar, substitute, terms } from './expr.js';
import { type KernelSyms, type MatmulKernel, type StridedOperand, isImplicit } from './loop_ir.js';
import { idivDim, imodDim, loopVarDim, splitTerm, symExpr } from './sym_index.js';
import { unflatten } from './views.js';

/** Offset = base + flatBatch · stride for every batch point, or undefined when not of that form. */
export function linearBatch(offset: Expr, batch: readonly number[]): { base: number; stride: number } | undefined {
  const env = new Map<string, number>();
  const at = (d: number, v: number) => {
    env.clear();
    if (d >= 0) env.set(`o${d}`, v);
    return evalIndex(offset, env);
  };
  const base = at(-1, 0);
  let stride: number | undefined;
  let span = 1;
  for (let d = batch.length - 1; d >= 0; d--) {
    if (batch[d] === 1) continue;
    const c = at(d, 1) - base;
    if (stride === undefined) stride = c / span;
    if (c !== stride * span) return undefined;
    span *= batch[d]!;
  }
  return { base, stride: stride ?? 0 };
}

/**
 * linearBatch over symbolic sizes: offset = base + flatBatch · stride for every binding (each
 * batch var's coefficient is the stride times the batch dims after it, as polynomials), or
 * undefined when that is not provable.
 */
export function linearBatchSym(offset: Expr, batch: readonly Dim[]): { base: SymInt; stride: SymInt } | undefined {
  const lin = symLinear(offset, batch.length);
  if (!lin) return undefined;
  const strides = symStrides(batch);
  let stride: SymInt | undefined;
  for (let d = batch.length - 1; d >= 0; d--) {
    if (batch[d] === 1) continue;
    stride ??= lin.coef[d]!.divExact(strides[d]!);
    if (!stride || !lin.coef[d]!.equals(stride.mul(strides[d]!))) return undefined;
  }
  return { base: lin.base, stride: stride ?? SymInt.of(0) };
}

/** The same product with the batch folded into M when B is shared and A's batches are contiguous rows. */
export function foldSharedWeightBatch(k: MatmulKernel): MatmulKernel {
  const nb = k.batch.length;
  if (nb === 0 || numel(k.batch) <= 1 || isImplicit(k.b)) return k;
  const a = linearBatch(k.a.offset, k.batch);
  const b = linearBatch(k.b.offset, k.batch);
  if (!a || !b || b.stride !== 0 || a.stride !== k.M * k.a.rowStride) return k;
  const M = numel(k.batch) * k.M;
  // Epilogue points: batch vars and the row var come from the folded row o0; the column is o1.
  const row = loopVar('o0', M);
  const vars = new Map<string, Expr>();
  unflatten(idiv(row, k.M), k.batch).forEach((e, d) => vars.set(`o${d}`, e));
  vars.set(`o${nb}`, imod(row, k.M));
  vars.set(`o${nb + 1}`, loopVar('o1', k.N));
  return {
    ...k,
    batch: [],
    M,
    a: { ...k.a, offset: idx(a.base) },
    b: { ...(k.b as StridedOperand), offset: idx(b.base) },
    epilogue: k.epilogue.map((s) => ({ buf: s.buf, at: substitute(s.at, vars), value: substitute(s.value, vars) })),
  };
}

/** An offset as base + Σ o_d·coef_d over batch vars o0..o{nb-1}, coefficients symbolic; undefined when not of that form. */
export function symLinear(offset: Expr, nb: number): { base: SymInt; coef: SymInt[] } | undefined {
  let base = SymInt.of(0);
  const coef = Array.from({ length: nb }, () => SymInt.of(0));
  for (const t of terms(offset)) {
    const st = splitTerm(t);
    const c = st.names.reduce((p, n) => p.mul(SymInt.symbol(n)), SymInt.of(st.k));
    if (!st.x) {
      base = base.add(c);
      continue;
    }
    const d = st.x.k === 'var' && /^o\d+$/.test(st.x.name) ? Number(st.x.name.slice(1)) : -1;
    if (d < 0 || d >= nb) return undefined;
    coef[d] = coef[d]!.add(c);
  }
  return { base, coef };
}

/**
 * foldSharedWeightBatch over symbolic sizes: the same fold when B's offset does not move with
 * the batch and A's batches are contiguous runs of M rows, all proved as polynomials. The
 * folded M is the batch's size times M; the epilogue's batch and row come from the folded row
 * by a division and a remainder by M. Returns the kernel and its new symbolic record.
 */
export function foldSharedWeightBatchSym(k: MatmulKernel, sym: Omit<KernelSyms, 'sizes'>): { k: MatmulKernel; sym: Omit<KernelSyms, 'sizes'> } {
  const batch = sym.batch ?? k.batch;
  const nb = batch.length;
  const M: Dim = sym.M ?? k.M;
  const aRow = sym.aStrides?.[0] ?? k.a.rowStride;
  if (nb === 0 || isImplicit(k.b) || symNumel(batch).provablyLE(1)) return { k, sym };
  const a = symLinear(k.a.offset, nb);
  const b = symLinear((k.b as StridedOperand).offset, nb);
  if (!a || !b || b.coef.some((c) => !c.equals(0))) return { k, sym };
  // A's batch d must step by M·rowStride times the batch dims after it (a flat run of rows).
  const rows = symStrides(batch).map((s) => s.mul(M).mul(aRow));
  if (batch.some((n, d) => n !== 1 && !a.coef[d]!.equals(rows[d]!))) return { k, sym };
  const folded = symNumel(batch).mul(M);
  const row = loopVarDim('o0', folded);
  const vars = new Map<string, Expr>();
  unflatten(idivDim(row, M), batch).forEach((e, d) => vars.set(`o${d}`, e));
  vars.set(`o${nb}`, imodDim(row, M));
  vars.set(`o${nb + 1}`, loopVarDim('o1', sym.N ?? k.N));
  const kf: MatmulKernel = {
    ...k,
    batch: [],
    M: numel(k.batch) * k.M,
    a: { ...k.a, offset: symExpr(a.base) },
    b: { ...(k.b as StridedOperand), offset: symExpr(b.base) },
    epilogue: k.epilogue.map((s) => ({ buf: s.buf, at: substitute(s.at, vars), value: substitute(s.value, vars) })),
  };
  return { k: kf, sym: { ...sym, batch: [], M: folded.constant ?? folded } };
}
