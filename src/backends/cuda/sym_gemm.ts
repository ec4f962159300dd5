// Products over symbolic sizes through cuBLAS: the operands' layouts and batch strides proved
// as polynomials (graph/sym.ts), the product's sizes written as formulas the runtime evaluates
// when a call's sizes change (sym_launch.ts: cuBLAS takes M, N, K, leading dims and strides
// at call time), and the epilogue a symbolic pointwise kernel over [batch…, M, N] reading the
// product from the scratch buffer, which the runtime sizes per call. Products whose layout is
// not provable for every binding take the generated tiled GEMM (codegen.ts).

import { type Dim, SymInt, symNumel } from '../../graph/sym.js';
import { type Expr, exprKey, mapChildren } from '../../lower/expr.js';
import { recordGuard } from '../../lower/guard_record.js';
import { type KernelBuf, type KernelSyms, type LoopKernel, type MatmulKernel, isImplicit } from '../../lower/loop_ir.js';
import { linearBatchSym } from '../../lower/matmul_batch.js';
import { loopVarDim } from '../../lower/sym_index.js';
import { flatten } from '../../lower/views.js';
import type { CudaGenerated, SymGemmMeta } from './kernel_text.js';
import { symPointwise } from './sym_pointwise.js';

type SymMatmul = MatmulKernel & { sym: KernelSyms };

/** cuBLAS's sizes and leading dims are 32-bit ints: a call beyond fails this guard and specialises. */
const INT32_MAX = 2 ** 31 - 1;

/** A strided operand [rows, cols] as cuBLAS reads it (row-major, or transposed), proved for every binding. */
function layout(rowStride: Dim, colStride: Dim, rows: SymInt, cols: SymInt): { ld: SymInt; trans: boolean } | undefined {
  const [rs, cs] = [SymInt.of(rowStride), SymInt.of(colStride)];
  if (cs.equals(1) && (cols.provablyLE(rs) || rows.equals(1))) return { ld: cols.provablyLE(rs) ? rs : cols, trans: false };
  if (rs.equals(1) && (rows.provablyLE(cs) || cols.equals(1))) return { ld: rows.provablyLE(cs) ? cs : rows, trans: true };
  return undefined;
}

/** The product's cuBLAS call as formulas, or undefined when cuBLAS cannot take it for every binding. */
export function symGemmMeta(k: SymMatmul): SymGemmMeta | undefined {
  if (k.dtype !== 'float32' || isImplicit(k.b)) return undefined;
  const s = k.sym;
  const [M, N, K] = [SymInt.of(s.M ?? k.M), SymInt.of(s.N ?? k.N), SymInt.of(s.K ?? k.K)];
  const batch = s.batch ?? k.batch;
  const la = layout(...(s.aStrides ?? [k.a.rowStride, k.a.colStride]), M, K);
  const lb = layout(...(s.bStrides ?? [k.b.rowStride, k.b.colStride]), K, N);
  const ba = linearBatchSym(k.a.offset, batch);
  const bb = linearBatchSym(k.b.offset, batch);
  if (!la || !lb || !ba || !bb) return undefined;
  const count = symNumel(batch);
  // A zero batch stride gave wrong results through cuBLAS on an H100 (codegen.ts gemmMeta); a
  // shared weight's batch was folded into M when the lowering could prove it (matmul_batch.ts).
  if (!count.provablyLE(1) && (ba.stride.equals(0) || bb.stride.equals(0))) return undefined;
  for (const [d, what] of [[M, 'M'], [N, 'N'], [K, 'K'], [la.ld, 'lda'], [lb.ld, 'ldb'], [count, 'the batch']] as const) {
    recordGuard(d, 'le', INT32_MAX, `cuBLAS takes ${what} as a 32-bit int`);
  }
  return {
    batch: count.toJSON(), M: M.toJSON(), N: N.toJSON(), K: K.toJSON(),
    a: { param: k.a.buf, offset: ba.base.toJSON(), ld: la.ld.toJSON(), trans: la.trans, batchStride: ba.stride.toJSON() },
    b: { param: k.b.buf, offset: bb.base.toJSON(), ld: lb.ld.toJSON(), trans: lb.trans, batchStride: bb.stride.toJSON() },
  };
}

/**
 * cuBLAS computes A·B into a scratch buffer (the last pointer) sized per call; the epilogue is
 * a symbolic pointwise kernel over [batch…, M, N], or nothing when it only stores the product
 * (cuBLAS then writes the output directly).
 */
export function symCublasEpilogue(k: SymMatmul, gemm: SymGemmMeta): CudaGenerated {
  const s = k.sym;
  const shape: Dim[] = [...(s.batch ?? k.batch), s.M ?? k.M, s.N ?? k.N];
  const scratch = k.bufs.length;
  // Its numel is per call (the runtime's scratch); 0 here, as no code reads it.
  const bufs: KernelBuf[] = [...k.bufs, { dtype: 'float32', numel: 0, role: 'in' }];
  // The epilogue's point vars are o0..o{rank-1}; acc0 is the product at that point.
  const flat = flatten(shape.map((d, i) => loopVarDim(`o${i}`, d)), shape);
  const accLoad: Expr = { k: 'load', buf: scratch, at: flat, dt: 'float32' };
  const replaceAcc = (e: Expr): Expr => (e.k === 'acc' ? accLoad : mapChildren(e, replaceAcc));
  const pw: LoopKernel & { sym: KernelSyms } = {
    kind: 'loops', bufs, outer: shape.map((d) => (typeof d === 'number' ? d : 2)), inner: [], reductions: [], outerStores: [],
    innerStores: k.epilogue.map((st) => ({ buf: st.buf, at: st.at, value: replaceAcc(st.value) })),
    sym: { sizes: s.sizes, outer: shape, inner: [] },
  };
  const g = symPointwise(pw);
  const only = k.epilogue.length === 1 ? k.epilogue[0]! : undefined;
  const direct = only && only.value.k === 'acc' && exprKey(only.at) === exprKey(flat) ? { direct: only.buf } : {};
  return { source: g.source, meta: { ...g.meta, params: k.bufs.length, sym: { ...g.meta.sym!, gemm: { ...gemm, ...direct } } } };
}
