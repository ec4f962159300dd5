// Split reductions: a reduction with few, long rows (a whole-tensor sum is one row of every
// element) gets many blocks per row instead of one, or most of the GPU would sit idle (one
// block per row fills one SM of 132). Each block reduces a contiguous chunk of its row into
// a partial result in a workspace; the last block of a row to finish (an atomic counter per
// row, after a __threadfence) combines the row's partials and does the row's stores, then
// resets the counter for the next launch. One launch, no second kernel in the plan.
//
// Only kernels whose reductions are independent (none reads another's result, as softmax's
// sum reads its max) and that store nothing per element qualify: every phase after the first
// would need the whole row's result first.

import { numel } from '../../graph/shape.js';
import { substitute } from '../../lower/expr.js';
import type { LoopKernel } from '../../lower/loop_ir.js';
import { flatPointVars, mentionsAcc } from '../../lower/reduction_shape.js';
import { Scope, storeStmt } from '../c_expr.js';
import { type CudaGenerated, dialect, kernelOpen } from './kernel_text.js';
import { PartialsWorkspace } from './partials.js';
import { accInitLines, blockReduceLines, finishLine, partialType, threadLoop } from './reduce_ops.js';

/** Threads per block of a split reduction. */
const THREADS = 512;
/** Rows below this (about the SM count of a large GPU) cannot fill the card one block per row. */
const MAX_ROWS = 128;
/** Rows shorter than this are cheap enough for one block. */
const MIN_ROW = 16384;
/** Aim for about this many blocks in all (2 per SM of an H100). */
const TARGET_BLOCKS = 264;
/** Each block reduces at least this many elements (fewer makes the combine step dominate). */
const MIN_CHUNK = 4096;

/** Blocks per row for this kernel, or 1 when it should stay one block per row. */
export function splitsFor(k: LoopKernel): number {
  const rows = numel(k.outer);
  const R = numel(k.inner);
  if (rows === 0 || rows >= MAX_ROWS || R < MIN_ROW || k.innerStores.length > 0) return 1;
  if (k.reductions.length === 0 || k.reductions.some((r) => mentionsAcc(r.value))) return 1;
  return Math.max(1, Math.min(Math.ceil(TARGET_BLOCKS / rows), Math.floor(R / MIN_CHUNK)));
}

export function splitReduction(k: LoopKernel, splits: number): CudaGenerated {
  const rows = numel(k.outer);
  const R = numel(k.inner);
  const chunk = Math.ceil(R / splits);
  const ws = new PartialsWorkspace(k.reductions, rows, splits, rows * splits);
  const vars = flatPointVars(k);
  const warps = THREADS / 32;
  const counter = { n: 0 };
  const lines = [kernelOpen(k.bufs, ['unsigned char* __restrict__ ws'])];
  lines.push('  const int64_t row = blockIdx.y;');
  lines.push(`  const int64_t lo = (int64_t)blockIdx.x * ${chunk}LL;`);
  lines.push(`  const int64_t hi = lo + ${chunk}LL < ${R}LL ? lo + ${chunk}LL : ${R}LL;`);
  lines.push(...accInitLines(k.reductions, '  ', true));
  // Phase 1: this block's chunk, one pass for every reduction.
  const sc = new Scope(dialect, counter, undefined, '    ');
  const values = k.reductions.map((r) => `(${partialType(r)})${sc.emit(substitute(r.value, vars))}`);
  lines.push(...threadLoop(k.reductions, 'lo + threadIdx.x', 'hi', THREADS, Math.ceil(chunk / THREADS), sc.lines, values, '  '));
  for (const r of k.reductions) lines.push(...blockReduceLines(r, warps, 1));
  // Publish the partials; the row's last block to arrive goes on.
  lines.push('  __shared__ bool last;', '  if (threadIdx.x == 0) {', ...ws.publish('    ', 'blockIdx.x'));
  lines.push('    __threadfence();', `    last = atomicAdd(${ws.counters} + row, 1u) == ${splits - 1}u;`, '  }', '  __syncthreads();', '  if (!last) return;');
  // Phase 2 (last block only): combine the row's partials.
  lines.push(...accInitLines(k.reductions, '  ', false));
  lines.push(`  for (int q = threadIdx.x; q < ${splits}; q += ${THREADS}) {`, ...ws.combine('    ', 'q'), '  }');
  for (const r of k.reductions) lines.push(...blockReduceLines(r, warps, 1), finishLine(r));
  const outer = new Scope(dialect, counter, undefined, '    ');
  const stores = k.outerStores.map((st) => `    ${storeStmt(st.buf, outer.emit(substitute(st.at, vars)), outer.emit(substitute(st.value, vars)), k.bufs[st.buf]!.dtype)}`);
  lines.push('  if (threadIdx.x == 0) {', ...outer.lines, ...stores, `    ${ws.counters}[row] = 0;`, '  }', '}');
  return {
    source: lines.join('\n') + '\n',
    meta: { params: k.bufs.length, workspace: ws.bytes, launch: { grid: [splits, rows, 1], block: [THREADS, 1, 1], shared: 0 } },
  };
}
