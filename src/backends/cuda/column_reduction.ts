// Column reductions: reducing over a leading axis (x.sum(0) of a row-major matrix) makes
// neighbouring outputs neighbours in memory, while one output's own inputs lie a whole row
// apart. A block per output (the row kernel) would read with that stride and waste most of
// every memory transaction (17% of copy bandwidth on an H100). Here the 32 lanes of a warp
// take 32 neighbouring outputs, so each step of the reduction reads 32 consecutive elements;
// the block's 16 warps split the reduced axis and meet in shared memory; when there are too
// few outputs to fill the card, the reduced axis is also split over blocks, whose partials
// the last block of each group of 32 outputs combines (as split_reduction.ts does for rows).

import { numel } from '../../graph/shape.js';
import { substitute } from '../../lower/expr.js';
import { flatPointVars, readsAlongColumns } from '../../lower/reduction_shape.js';
import type { LoopKernel } from '../../lower/loop_ir.js';
import { Scope, storeStmt } from '../c_expr.js';
import { type CudaGenerated, dialect, kernelOpen } from './kernel_text.js';
import { PartialsWorkspace } from './partials.js';
import { accInitLines, accumulate, finishLine, isIndexReduction, partialType, threadLoop } from './reduce_ops.js';

/** Outputs per block (one per lane) and warps per block (each takes every 16th step). */
const LANES = 32;
const WARPS = 16;
/** Aim for about this many blocks in all. */
const TARGET_BLOCKS = 1024;
/** Each (block, lane) pair reduces at least this many elements of its output. */
const MIN_STEPS_PER_SPLIT = 256;

/** Whether this reduction reads along columns with at least a warp of outputs. */
export function isColumnReduction(k: LoopKernel): boolean {
  return readsAlongColumns(k, LANES);
}

export function columnReduction(k: LoopKernel): CudaGenerated {
  const rows = numel(k.outer);
  const R = numel(k.inner);
  const tiles = Math.ceil(rows / LANES);
  const splits = Math.max(1, Math.min(Math.ceil(TARGET_BLOCKS / tiles), Math.floor(R / MIN_STEPS_PER_SPLIT)));
  const chunk = Math.ceil(R / splits);
  const ws = splits > 1 ? new PartialsWorkspace(k.reductions, tiles, splits, rows * splits) : undefined;
  const vars = flatPointVars(k);
  const counter = { n: 0 };
  const lines = [kernelOpen(k.bufs, ws ? ['unsigned char* __restrict__ ws'] : [])];
  // Outputs past the end compute on the last one (valid addresses; everyone meets at the
  // barriers) but store nothing.
  lines.push(`  const int64_t rowRaw = (int64_t)blockIdx.x * ${LANES} + threadIdx.x;`);
  lines.push(`  const bool active = rowRaw < ${rows}LL;`);
  lines.push(`  const int64_t row = active ? rowRaw : ${rows - 1}LL;`);
  lines.push(`  const int64_t lo = (int64_t)blockIdx.y * ${chunk}LL;`);
  lines.push(`  const int64_t hi = lo + ${chunk}LL < ${R}LL ? lo + ${chunk}LL : ${R}LL;`);
  lines.push(...accInitLines(k.reductions, '  ', true));
  const sc = new Scope(dialect, counter, undefined, '    ');
  const values = k.reductions.map((r) => `(${partialType(r)})${sc.emit(substitute(r.value, vars))}`);
  lines.push(...threadLoop(k.reductions, 'lo + threadIdx.y', 'hi', WARPS, Math.ceil(chunk / WARPS), sc.lines, values, '  ', '#pragma unroll 4'));
  // The warps meet in shared memory; warp 0 ends with the block's value for each output.
  for (const r of k.reductions) {
    const vt = partialType(r);
    const arg = isIndexReduction(r);
    lines.push(`  { __shared__ ${vt} cv[${WARPS}][${LANES + 1}];${arg ? ` __shared__ int64_t ci[${WARPS}][${LANES + 1}];` : ''}`);
    lines.push(`    cv[threadIdx.y][threadIdx.x] = acc${r.id}v;${arg ? ` ci[threadIdx.y][threadIdx.x] = acc${r.id}i;` : ''}`);
    lines.push('    __syncthreads();');
    lines.push(`    if (threadIdx.y == 0) for (int q = 1; q < ${WARPS}; q++) { const ${vt} ov = cv[q][threadIdx.x];${arg ? ' const int64_t oi = ci[q][threadIdx.x];' : ''} ${accumulate(r, 'ov', 'oi')} }`);
    lines.push('    __syncthreads(); }');
  }
  const outer = new Scope(dialect, counter, undefined, '    ');
  const stores = k.outerStores.map((st) => `    ${storeStmt(st.buf, outer.emit(substitute(st.at, vars)), outer.emit(substitute(st.value, vars)), k.bufs[st.buf]!.dtype)}`);
  if (!ws) {
    lines.push('  if (threadIdx.y != 0 || !active) return;', ...k.reductions.map(finishLine), ...outer.lines, ...stores, '}');
    return { source: lines.join('\n') + '\n', meta: { params: k.bufs.length, launch: { grid: [tiles, 1, 1], block: [LANES, WARPS, 1], shared: 0 } } };
  }
  // Publish this block's partials; the last block of the tile of outputs goes on.
  lines.push('  __shared__ bool last;', '  if (threadIdx.y == 0 && active) {', ...ws.publish('    ', 'blockIdx.y'), '    __threadfence();', '  }', '  __syncthreads();');
  lines.push(`  if (threadIdx.x == 0 && threadIdx.y == 0) last = atomicAdd(${ws.counters} + blockIdx.x, 1u) == ${splits - 1}u;`, '  __syncthreads();', '  if (!last) return;');
  lines.push(`  if (threadIdx.x == 0 && threadIdx.y == 0) ${ws.counters}[blockIdx.x] = 0;`);
  lines.push('  if (threadIdx.y != 0 || !active) return;');
  lines.push(...accInitLines(k.reductions, '  ', false));
  lines.push(`  for (int q = 0; q < ${splits}; q++) {`, ...ws.combine('    ', 'q'), '  }', ...k.reductions.map(finishLine), ...outer.lines, ...stores, '}');
  return {
    source: lines.join('\n') + '\n',
    meta: { params: k.bufs.length, workspace: ws.bytes, launch: { grid: [tiles, splits, 1], block: [LANES, WARPS, 1], shared: 0 } },
  };
}
