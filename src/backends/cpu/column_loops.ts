// C for a reduction that reads along columns (x.sum(0) of a row-major matrix): instead of
// one output at a time walking its inputs a whole row apart (a cache line used for one
// float), a block of neighbouring outputs keeps its accumulators in a small array and each
// step of the reduced axis updates the whole block from one contiguous run of memory, in a
// loop the compiler vectorizes. Blocks of outputs run on separate cores when big enough.

import { numel } from '../../graph/shape.js';
import { type Expr, substitute } from '../../lower/expr.js';
import type { LoopKernel, Reduction } from '../../lower/loop_ir.js';
import { flatOutputVars } from '../../lower/reduction_shape.js';
import { Scope, storeStmt } from '../c_expr.js';
import { accFinish, accInit, accUpdate, accVars, blockAccName, blockedSum, flatInner, openBlockedLoops, sumBlocking } from './accumulators.js';
import { type CSource, PARALLEL_MIN_WORK, dialect, signature, totalWork } from './kernel_text.js';

/** Outputs per block: their accumulators stay in L1 while the reduced axis is walked. */
const BLOCK = 256;
/** Fewer outputs than this read too little per step to be worth the column order. */
export const COLUMN_MIN_ROWS = 16;

/** Reduction r's accumulator variables as (name, C type): each becomes an array over the block. */
export function accArrays(r: Reduction): [string, string][] {
  return accVars(r).map((v) => [v.name, v.type]);
}

/** `{ T acc = A_acc[j]; … body … A_acc[j] = acc; }` for every accumulator of r. */
export function withAccs(r: Reduction, ind: string, body: string[], writeBack: boolean): string[] {
  const arrays = accArrays(r);
  return [
    `${ind}{`,
    ...arrays.map(([n, t]) => `${ind}  ${t} ${n} = A_${n}[j];`),
    ...body.map((l) => `${ind}  ${l}`),
    ...(writeBack ? arrays.map(([n]) => `${ind}  A_${n}[j] = ${n};`) : []),
    `${ind}}`,
  ];
}

export function columnLoops(k: LoopKernel): CSource {
  const rows = numel(k.outer);
  const blocks = Math.ceil(rows / BLOCK);
  const parallel = totalWork(k) >= PARALLEL_MIN_WORK && blocks > 1;
  // Inner loops use the backend's own r0, r1, … names: only the outputs are flattened to `row`.
  const vars = flatOutputVars(k.outer);
  const at = (e: Expr) => substitute(e, vars);
  const counter = { n: 0 };
  const lines = [`${signature(k)} {`];
  if (parallel) lines.push('  #pragma omp parallel for schedule(static)');
  lines.push(`  for (int64_t blk = 0; blk < ${blocks}; blk++) {`);
  lines.push(`    const int64_t row0 = blk * ${BLOCK};`, `    const int64_t n = row0 + ${BLOCK} <= ${rows} ? ${BLOCK} : ${rows} - row0;`);
  for (const r of k.reductions) for (const [name, t] of accArrays(r)) lines.push(`    ${t} A_${name}[${BLOCK}];`);
  lines.push('    for (int64_t j = 0; j < n; j++) {');
  for (const r of k.reductions) {
    lines.push(`      ${accInit(r)}`);
    for (const [name] of accArrays(r)) lines.push(`      A_${name}[j] = ${name};`);
  }
  lines.push('    }');
  // The reduced axis outside, the block of outputs inside (contiguous in memory). Long
  // float32 sums add into per-output block partials, folded into the totals after each block
  // of reduced points (accumulators.ts: SUM_BLOCK).
  const blocked = k.reductions.filter(blockedSum);
  const split = blocked.length ? sumBlocking(k.inner) : undefined;
  const isBlocked = (r: Reduction) => split !== undefined && blockedSum(r);
  let ind = '    ';
  let close: string[] = [];
  if (split) {
    for (const r of blocked) lines.push(`    float A_${blockAccName(r)}[${BLOCK}];`);
    const open = blocked.map((r) => `for (int64_t j = 0; j < n; j++) A_${blockAccName(r)}[j] = 0;`);
    const fold = blocked.map((r) => `for (int64_t j = 0; j < n; j++) A_acc${r.id}[j] += A_${blockAccName(r)}[j];`);
    ({ ind, close } = openBlockedLoops(lines, k.inner, ind, split, open, fold, undefined));
  } else {
    k.inner.forEach((n, i) => {
      lines.push(n === 1 ? `${ind}{ const int64_t r${i} = 0;` : `${ind}for (int64_t r${i} = 0; r${i} < ${n}; r${i}++) {`);
      close.unshift(`${ind}}`);
      ind += '  ';
    });
  }
  const indexReduction = k.reductions.some((r) => r.op === 'argmax' || r.op === 'argmin');
  if (!indexReduction) lines.push(`${ind}#pragma omp simd`);
  lines.push(`${ind}for (int64_t j = 0; j < n; j++) {`, `${ind}  const int64_t row = row0 + j;`);
  const s = new Scope(dialect, counter, undefined, `${ind}  `);
  const updates = k.reductions.flatMap((r) =>
    isBlocked(r) ? [`${ind}  A_${blockAccName(r)}[j] += ${s.emit(at(r.value))};`] : withAccs(r, `${ind}  `, accUpdate(r, s.emit(at(r.value)), flatInner(k.inner)), true),
  );
  lines.push(...s.lines, ...updates, `${ind}}`, ...close);
  // Finished values to their outputs.
  lines.push('    for (int64_t j = 0; j < n; j++) {', '      const int64_t row = row0 + j;');
  const out = new Scope(dialect, counter, undefined, '        ');
  const stores = k.outerStores.map((st) => `        ${storeStmt(st.buf, out.emit(at(st.at)), out.emit(at(st.value)), k.bufs[st.buf]!.dtype)}`);
  const loads = k.reductions.flatMap((r) => [...accArrays(r).map(([n, t]) => `      ${t} ${n} = A_${n}[j];`), ...accFinish(r).map((l) => `      ${l}`)]);
  lines.push(...loads, '      {', ...out.lines, ...stores, '      }', '    }', '  }', '}');
  return { body: lines.join('\n') + '\n', parallel };
}
