// Scans (cumsum) over long rows: one block per row instead of one thread per row. A top-p
// sampler's cumsum over a 50,257-entry vocabulary would otherwise be 50,257 dependent steps
// on a single thread. The row goes through in tiles of one element per thread: a warp scans
// its 32 values with shuffles, warp 0 scans the warps' totals, and a running carry (the same
// in every thread) links the tiles.

import { numel } from '../../graph/shape.js';
import { loopVar, substitute } from '../../lower/expr.js';
import type { ScanKernel } from '../../lower/loop_ir.js';
import { flatOutputVars } from '../../lower/reduction_shape.js';
import { Scope, cType, storeStmt } from '../c_expr.js';
import { type CudaGenerated, dialect, kernelOpen } from './kernel_text.js';

/** Rows at least this long take a block each; shorter ones stay one per thread. */
export const BLOCK_SCAN_MIN = 64;
const MAX_THREADS = 512;

export function blockScan(k: ScanKernel): CudaGenerated {
  const rows = numel(k.outer);
  const n = k.inner[0] ?? 1;
  const T = Math.min(MAX_THREADS, 2 ** Math.ceil(Math.log2(n)));
  const warps = T / 32;
  const vars = flatOutputVars(k.outer);
  vars.set('r0', loopVar('rr', n));
  const t = cType(k.dtype);
  const shflUp = (x: string, d: string) => `__shfl_up_sync(0xffffffffu, ${x}, ${d})`;
  const lines = [kernelOpen(k.bufs)];
  lines.push('  const int64_t row = blockIdx.x;', '  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;');
  lines.push(`  __shared__ ${t} wsum[${warps}];`, `  ${t} carry = 0;`);
  lines.push(`  for (int64_t base = 0; base < ${n}LL; base += ${T}) {`);
  lines.push('    const int64_t step = base + threadIdx.x;', `    const bool live = step < ${n}LL;`);
  lines.push(`    const int64_t rr = live ? ${k.reverse ? `${n - 1}LL - step` : 'step'} : 0;`);
  const counter = { n: 0 };
  const s = new Scope(dialect, counter, undefined, '      ');
  const v = s.emit(substitute(k.value, vars));
  lines.push(`    ${t} v = 0;`, '    if (live) {', ...s.lines, `      v = ${v};`, '    }');
  // Inclusive scan within the warp; the exclusive value is the lane before's inclusive one
  // (not x - v, which would round differently for floats).
  lines.push('    ' + `${t} x = v;`, `    for (int o = 1; o < 32; o <<= 1) { const ${t} y = ${shflUp('x', 'o')}; if (lane >= o) x += y; }`);
  if (k.exclusive) lines.push(`    ${t} xe = ${shflUp('x', '1')}; if (lane == 0) xe = 0;`);
  lines.push('    if (lane == 31) wsum[w] = x;', '    __syncthreads();');
  if (warps > 1) {
    lines.push(
      `    if (w == 0) { ${t} s = lane < ${warps} ? wsum[lane] : (${t})0; for (int o = 1; o < ${warps}; o <<= 1) { const ${t} y = ${shflUp('s', 'o')}; if (lane >= o) s += y; } if (lane < ${warps}) wsum[lane] = s; }`,
      '    __syncthreads();',
    );
  }
  lines.push(`    const ${t} before = carry + (w > 0 ? wsum[w - 1] : (${t})0);`);
  // The store, with everything its address needs, only where the step is live.
  const st = new Scope(dialect, counter, undefined, '      ');
  const at = st.emit(substitute(k.out.at, vars));
  lines.push('    if (live) {', ...st.lines, `      ${storeStmt(k.out.buf, at, k.exclusive ? 'before + xe' : 'before + x', k.bufs[k.out.buf]!.dtype)}`, '    }');
  lines.push(`    carry += wsum[${warps - 1}];`, '    __syncthreads();', '  }', '}');
  return { source: lines.join('\n') + '\n', meta: { params: k.bufs.length, launch: { grid: [Math.max(rows, 0), 1, 1], block: [T, 1, 1], shared: 0 } } };
}
