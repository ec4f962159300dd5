// Short reductions over many outputs (pooling, depthwise convs: windows of 9 or 49 taps):
// one thread per output walks its few points in registers, neighbouring threads taking
// neighbouring outputs (their reads coalesce along a row of the image). The warp-per-row
// kernel would leave most of a warp's lanes idle on a 9-point row and pay a shuffle tree per
// output.

import { numel } from '../../graph/shape.js';
import { type Expr, loopVar, substitute } from '../../lower/expr.js';
import type { LoopKernel } from '../../lower/loop_ir.js';
import { unflatten } from '../../lower/views.js';
import { readsAlongOutputRows } from '../../lower/reduction_shape.js';
import { Scope, emitInvariants, storeStmt } from '../c_expr.js';
import { type CudaGenerated, dialect, kernelOpen } from './kernel_text.js';
import { accInitLines, accumulate, finishLine, partialType } from './reduce_ops.js';

/** Rows of at most this many points take a thread each… */
export const THREAD_MAX_INNER = 64;
/** …when there are enough of them to fill the card with threads rather than warps. */
const THREAD_MIN_ROWS = 2048;
const THREADS = 256;
const MAX_BLOCKS = 132 * 32;

/** Many short reductions whose neighbouring outputs read neighbouring inputs (reduction_shape.ts): rows of contiguous points stay a warp's. */
export function isThreadReduction(k: LoopKernel): boolean {
  return numel(k.outer) >= THREAD_MIN_ROWS && readsAlongOutputRows(k, THREAD_MAX_INNER);
}

export function threadReduction(k: LoopKernel): CudaGenerated {
  const rows = numel(k.outer);
  const rowVar = loopVar('row', rows);
  const vars = new Map<string, Expr>();
  unflatten(rowVar, k.outer).forEach((e, d) => vars.set(`o${d}`, e));
  const counter = { n: 0 };
  const lines = [kernelOpen(k.bufs)];
  lines.push(`  for (int64_t row = (int64_t)blockIdx.x * ${THREADS} + threadIdx.x; row < ${rows}LL; row += (int64_t)gridDim.x * ${THREADS}) {`);
  const outer = new Scope(dialect, counter, undefined, '    ');
  // Flat position in the reduced dims, for argmax/argmin (which have exactly one).
  let pos = '0';
  let stride = 1;
  for (let i = k.inner.length - 1; i >= 0; i--) {
    if (k.inner[i] !== 1) pos = pos === '0' ? `r${i} * ${stride}` : `${pos} + r${i} * ${stride}`;
    stride *= k.inner[i]!;
  }
  for (const red of k.reductions) {
    // What depends on the output alone (its position's divisions) is computed once per output.
    emitInvariants(outer, substitute(red.value, vars), new Set(['row']));
    lines.push(...accInitLines([red], '    ', true));
    let ind = '    ';
    const loops: string[] = [];
    k.inner.forEach((n, i) => {
      loops.push(n === 1 ? `${ind}{ const int64_t r${i} = 0;` : `${ind}#pragma unroll\n${ind}for (int64_t r${i} = 0; r${i} < ${n}; r${i}++) {`);
      ind += '  ';
    });
    const s = outer.child(ind);
    const v = s.emit(substitute(red.value, vars));
    lines.push(...outer.lines.splice(0), ...loops, ...s.lines, `${ind}${accumulate(red, `(${partialType(red)})${v}`, `(${pos})`)}`);
    k.inner.forEach(() => {
      ind = ind.slice(2);
      lines.push(`${ind}}`);
    });
    lines.push(`  ${finishLine(red)}`);
  }
  const stores = k.outerStores.map((st) => `    ${storeStmt(st.buf, outer.emit(substitute(st.at, vars)), outer.emit(substitute(st.value, vars)), k.bufs[st.buf]!.dtype)}`);
  lines.push(...outer.lines.splice(0), ...stores, '  }', '}');
  const blocks = Math.max(1, Math.min(Math.ceil(rows / THREADS), MAX_BLOCKS));
  return { source: lines.join('\n') + '\n', meta: { params: k.bufs.length, launch: { grid: [blocks, 1, 1], block: [THREADS, 1, 1], shared: 0 } } };
}
