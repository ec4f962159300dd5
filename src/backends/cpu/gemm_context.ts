// What the GEMM kernels other than the 4×32 one (few_rows.ts, tiled_gemm.ts) take from
// codegen.ts's matmul(), and the epilogue they share: one finished output element, from its
// accumulator expression, through the kernel's fused stores (bias, activation, residual).

import type { MatmulKernel } from '../../lower/loop_ir.js';
import { type Scope, storeStmt } from '../c_expr.js';
import { narrowAcc } from '../int_c.js';

export interface GemmContext {
  /** The accumulator's C type (float for the kernels that use this context). */
  t: string;
  aDt: MatmulKernel['dtype'];
  parallel: boolean;
  /** The epilogue's row and column variables. */
  mVar: string;
  nVar: string;
  ind: string;
  scope: Scope;
  /** M's C text where it is symbolic (a size argument's polynomial); else M is k.M. */
  mText?: string;
  /** N's and K's C text where they are symbolic (the tiled kernel only); else k.N and k.K. */
  nText?: string;
  kText?: string;
  /** A C condition on the call's sizes: the team runs threads only where it holds (OpenMP's if clause). */
  parallelIf?: string;
  /** A's row stride and B's strides as C text, static or symbolic (the tiled kernel only, which requires them). */
  strides?: { aRow: string; bRow: string; bCol: string };
  /** The tile reads B's panels packed once where the runtime gives them (tiled_gemm.ts packableB). */
  packedB?: boolean;
}

/** A kernel's statements: file-scope declarations and the body's lines. */
export interface GemmKernel {
  statics: string[];
  body: string[];
}

/** The epilogue for output (row, col) from accumulator expression `acc`, indented by `ind`. */
export function epilogue(k: MatmulKernel, c: GemmContext, ind: string, row: string, col: string, acc: string): string[] {
  const es = c.scope.child(ind);
  const stores = k.epilogue.map((st) => `${ind}${storeStmt(st.buf, es.emit(st.at), es.emit(st.value), k.bufs[st.buf]!.dtype)}`);
  return [`${ind}const int64_t ${c.mVar} = ${row};`, `${ind}const int64_t ${c.nVar} = ${col};`, `${ind}const ${c.t} acc0 = ${narrowAcc(acc, k.dtype)};`, ...es.lines, ...stores];
}
