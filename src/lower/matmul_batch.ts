// Batch dimensions of a matmul kernel: whether an operand's per-batch offset is one stride
// over the flat batch index, and folding a batch of row-contiguous A matrices that share one
// B into a single taller product ([b, T, K] @ [K, N] as [b·T, K] @ [K, N]: a transformer's
// projections), so backends run one large GEMM instead of b small ones.

import { numel } from '../graph/shape.js';
import { type Expr, evalIndex, idiv, idx, imod, loopVar, substitute } from './expr.js';
import { type MatmulKernel, type StridedOperand, isImplicit } from './loop_ir.js';
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
