// Scans (cumsum) over long rows: one block per row instead of one thread per row. A top-p
// sampler's cumsum over a 50,257-entry vocabulary would otherwise be 50,257 dependent steps
// on a single thread. The row goes through in tiles of one element per thread: a warp scans
// its 32 values with shuffles, warp 0 scans the warps' totals, and a running carry (the same
// in every thread) links the tiles.

import { numel } from '../../graph/shape.js';
import { SymInt, symNumel } from '../../graph/sym.js';
import { type Expr, loopVar, substitute } from '../../lower/expr.js';
import type { KernelSyms, ScanKernel } from '../../lower/loop_ir.js';
import { loopVarDim, symCName } from '../../lower/sym_index.js';
import { unflatten } from '../../lower/views.js';
import { scanThreads } from './sym_launch.js';
import { flatOutputVars } from '../../lower/reduction_shape.js';
import { Scope, cType, storeStmt } from '../c_expr.js';
import { type CudaGenerated, dialect, kernelOpen } from './kernel_text.js';

/** Rows at least this long take a block each; shorter ones stay one per thread. */
export const BLOCK_SCAN_MIN = 64;
const MAX_THREADS = 512;

/** A scan's row length when static (a number), undefined when symbolic. */
export function scanLength(k: ScanKernel & { sym?: KernelSyms }): number | undefined {
  const n = k.sym?.inner?.[0];
  if (n === undefined || typeof n === 'number') return n ?? k.inner[0] ?? 1;
  return n.constant;
}

export function blockScan(k: ScanKernel & { sym?: KernelSyms }): CudaGenerated {
  const sym = k.sym;
  const rows = numel(k.outer);
  const rowsSym = sym ? symNumel(sym.outer ?? k.outer) : undefined;
  const nStatic = scanLength(k);
  // A row of symbolic length: its threads (a power of two, 32 to 512) chosen per call
  // (sym_launch.ts scanThreads), read from blockDim.
  const perCall = nStatic === undefined;
  const nDim = perCall ? sym!.inner![0]! : nStatic;
  const n = perCall ? `(${SymInt.of(nDim).toC(symCName)})` : `${nStatic}LL`;
  const T = perCall ? 'blockDim.x' : String(scanThreads(nStatic));
  const warps = perCall ? 'nw' : String(scanThreads(nStatic) / 32);
  const vars = rowsSym ? new Map(unflatten(loopVarDim('row', rowsSym), sym!.outer ?? k.outer).map((e, d) => [`o${d}`, e] as [string, Expr])) : flatOutputVars(k.outer);
  vars.set('r0', perCall ? loopVarDim('rr', nDim) : loopVar('rr', nStatic));
  const t = cType(k.dtype);
  const shflUp = (x: string, d: string) => `__shfl_up_sync(0xffffffffu, ${x}, ${d})`;
  const lines = [kernelOpen(k.bufs, [], sym?.sizes)];
  lines.push('  const int64_t row = blockIdx.x;', '  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;');
  if (perCall) lines.push('  const int nw = blockDim.x >> 5;');
  lines.push(`  __shared__ ${t} wsum[${perCall ? MAX_THREADS / 32 : warps}];`, `  ${t} carry = 0;`);
  lines.push(`  for (int64_t base = 0; base < ${n}; base += ${T}) {`);
  lines.push('    const int64_t step = base + threadIdx.x;', `    const bool live = step < ${n};`);
  lines.push(`    const int64_t rr = live ? ${k.reverse ? (perCall ? `${n} - 1 - step` : `${nStatic - 1}LL - step`) : 'step'} : 0;`);
  const counter = { n: 0 };
  const s = new Scope(dialect, counter, undefined, '      ');
  const v = s.emit(substitute(k.value, vars));
  lines.push(`    ${t} v = 0;`, '    if (live) {', ...s.lines, `      v = ${v};`, '    }');
  // Inclusive scan within the warp; the exclusive value is the lane before's inclusive one
  // (not x - v, which would round differently for floats).
  lines.push('    ' + `${t} x = v;`, `    for (int o = 1; o < 32; o <<= 1) { const ${t} y = ${shflUp('x', 'o')}; if (lane >= o) x += y; }`);
  if (k.exclusive) lines.push(`    ${t} xe = ${shflUp('x', '1')}; if (lane == 0) xe = 0;`);
  lines.push('    if (lane == 31) wsum[w] = x;', '    __syncthreads();');
  const combine = `if (w == 0) { ${t} s = lane < ${warps} ? wsum[lane] : (${t})0; for (int o = 1; o < ${warps}; o <<= 1) { const ${t} y = ${shflUp('s', 'o')}; if (lane >= o) s += y; } if (lane < ${warps}) wsum[lane] = s; }`;
  if (perCall) lines.push(`    if (nw > 1) { ${combine} __syncthreads(); }`);
  else if (scanThreads(nStatic) > 32) lines.push(`    ${combine}`, '    __syncthreads();');
  lines.push(`    const ${t} before = carry + (w > 0 ? wsum[w - 1] : (${t})0);`);
  // The store, with everything its address needs, only where the step is live.
  const st = new Scope(dialect, counter, undefined, '      ');
  const at = st.emit(substitute(k.out.at, vars));
  lines.push('    if (live) {', ...st.lines, `      ${storeStmt(k.out.buf, at, k.exclusive ? 'before + xe' : 'before + x', k.bufs[k.out.buf]!.dtype)}`, '    }');
  lines.push(`    carry += wsum[${perCall ? 'nw - 1' : Number(warps) - 1}];`, '    __syncthreads();', '  }', '}');
  const source = lines.join('\n') + '\n';
  if (rowsSym) {
    const launch = { grid: [0, 0, 0] as [number, number, number], block: [perCall ? 0 : scanThreads(nStatic!), 1, 1] as [number, number, number], shared: 0 };
    return { source, meta: { params: k.bufs.length, launch, sym: { sizes: sym!.sizes, grid: [{ units: rowsSym.toJSON(), per: 1 }, 1, 1], ...(perCall ? { scanLength: SymInt.of(nDim).toJSON() } : {}) } } };
  }
  return { source, meta: { params: k.bufs.length, launch: { grid: [Math.max(rows, 0), 1, 1], block: [scanThreads(nStatic!), 1, 1], shared: 0 } } };
}
