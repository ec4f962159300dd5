// The packing of one K×NR panel of an implicit B operand (a conv's window view: an index
// expression over the kernel's buffers, never materialised) from its expression at row r0,
// column r1: im2col of one panel, never the whole matrix. Shared by the register-blocked tile
// (tiled_gemm.ts, each thread packing its own panel) and the 4×32 kernel (codegen.ts).
//
// What depends only on the column (a conv's output position: its divisions) goes into
// per-panel tables, what depends only on the row (channel and tap) is computed once per row,
// so the loop over a row's columns is selects, adds and a gather, and vectorizes. Past the
// panel's jn real columns it is zero.

import { dtOf, varsOf } from '../../lower/expr.js';
import type { ImplicitOperand, MatmulKernel } from '../../lower/loop_ir.js';
import { type Scope, cType, emitInvariants, invariantParts } from '../c_expr.js';

export interface PanelText {
  /** K and NR as C text (a symbolic K is its size argument; the tile's NR is a macro). */
  K: string;
  NR: string;
  /** The panel's element type. */
  t: string;
  /** The panel to fill: `Bp[p * NR + j]`. */
  panel: string;
  /** Split the panel's rows across the threads of an enclosing team (the 4×32 kernel's panels). */
  rowsParallel: boolean;
}

/**
 * Statements (at indentation `ind`, where `jb`, the panel's first column, and `jn`, its real
 * columns, are defined) filling the panel. `scope` is the scope the statements' expressions
 * may reuse (the batch loops').
 */
export function packImplicitPanel(k: MatmulKernel, b: ImplicitOperand, scope: Scope, ind: string, p: PanelText): string[] {
  const lines: string[] = [];
  const batchVars = k.batch.map((_, d) => `o${d}`);
  const colParts = invariantParts(b.value, new Set([...batchVars, 'r1'])).filter((e) => varsOf(e).has('r1'));
  const colScope = scope.child(`${ind}  `);
  const tables = colParts.map((e, i) => {
    const name = `col${i}`;
    lines.push(`${ind}${cType(dtOf(e))} ${name}[${p.NR}];`);
    return `${ind}  ${name}[j] = ${colScope.emit(e)};`;
  });
  if (colParts.length) lines.push(`${ind}for (int64_t j = 0; j < jn; j++) {`, `${ind}  const int64_t r1 = jb + j;`, ...colScope.lines, ...tables, `${ind}}`);
  if (p.rowsParallel) lines.push(`${ind}#pragma omp parallel for schedule(static)`);
  lines.push(`${ind}for (int64_t p = 0; p < ${p.K}; p++) {`, `${ind}  const int64_t r0 = p;`);
  const rowScope = scope.child(`${ind}  `);
  colParts.forEach((e, i) => rowScope.bind(e, `col${i}[j]`));
  emitInvariants(rowScope, b.value, new Set([...batchVars, 'r0']));
  lines.push(...rowScope.lines.splice(0), `${ind}  #pragma omp simd`, `${ind}  for (int64_t j = 0; j < jn; j++) {`);
  const ps = rowScope.child(`${ind}    `);
  const v = ps.emit(b.value);
  lines.push(`${ind}    const int64_t r1 = jb + j;`, ...ps.lines, `${ind}    ${p.panel}[p * ${p.NR} + j] = (${p.t})${v};`, `${ind}  }`);
  lines.push(`${ind}  for (int64_t j = jn; j < ${p.NR}; j++) ${p.panel}[p * ${p.NR} + j] = (${p.t})0;`, `${ind}}`);
  return lines;
}
