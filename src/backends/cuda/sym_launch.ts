// Launches of CUDA kernels over symbolic sizes: the rules a row reduction and a block scan of
// symbolic length pick their threads by (the code generator writes the kernel for them, the
// runtime applies them per call), and a kernel's symbolic metadata (kernel_meta.ts CudaSymMeta) made into one function
// of a call's binding, evaluated only when the sizes change: its grid and block, and its cuBLAS
// product's sizes. The formulas are evaluated by schedule/plan_sizes.ts's sizeFn, the one the
// plan's buffers and guards use.

import type { Binding } from '../../graph/sym.js';
import { sizeFn } from '../../schedule/plan_sizes.js';
import type { CudaKernelMeta, GemmMeta, SymGemmMeta, SymGridDim } from './kernel_text.js';

/**
 * Points of its row each thread of a symbolic-length row reduction holds in registers (at most):
 * rowThreads gives a row of up to 8,192 points 8 per thread at most, longer ones up to 16 (the
 * static kernels' bound), so rows up to 16,384 (a batch × sequence of index checks, 8 × 1024 and
 * more) stay in registers.
 */
export const SYM_ROW_POINTS = 16;
/** The longest row such a reduction takes: 1024 threads of SYM_ROW_POINTS points (a guard). */
export const SYM_ROW_MAX = 1024 * SYM_ROW_POINTS;

const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/**
 * Threads per row (a power of two from 32 to 1024, about an eighth of the row) and rows per
 * block (256 threads in all when a row takes fewer) of a row reduction of `R` points: the
 * static kernels' rule, applied per call to a row of symbolic length.
 */
export function rowThreads(R: number): { tpr: number; rpb: number } {
  const tpr = Math.min(1024, Math.max(32, nextPow2(Math.ceil(R / 8))));
  return { tpr, rpb: tpr >= 256 ? 1 : 256 / tpr };
}

/** Threads of a block scan's block (block_scan.ts) over rows of `n` points: a power of two from 32 to 512. */
export function scanThreads(n: number): number {
  return Math.min(512, Math.max(32, nextPow2(n)));
}

export interface LaunchShape {
  grid: [number, number, number];
  block: [number, number, number];
}

/** Under one binding: the launch, the size arguments (in the kernel's order) and the cuBLAS product. */
export interface SymLaunch extends LaunchShape {
  sizes: number[];
  gemm?: GemmMeta;
}

type GridFn = (b: Binding) => number;

function gridFn(d: number | SymGridDim): GridFn {
  if (typeof d === 'number') return () => d;
  const units = sizeFn(d.units);
  const max = d.max ?? Infinity;
  return (b) => Math.min(Math.ceil(units(b) / d.per), max);
}

function gemmFn(g: SymGemmMeta): (b: Binding) => GemmMeta {
  const f = sizeFn;
  const [batch, M, N, K] = [f(g.batch), f(g.M), f(g.N), f(g.K)];
  const operand = (o: SymGemmMeta['a']) => {
    const [offset, ld, stride] = [f(o.offset), f(o.ld), f(o.batchStride)];
    return (b: Binding) => ({ param: o.param, offset: offset(b), ld: ld(b), trans: o.trans, batchStride: stride(b) });
  };
  const [a, bop] = [operand(g.a), operand(g.b)];
  const direct = g.direct === undefined ? {} : { direct: g.direct };
  return (b) => ({ batch: batch(b), M: M(b), N: N(b), K: K(b), a: a(b), b: bop(b), ...direct });
}

/** A symbolic kernel's launch as a function of the binding (made once per kernel). */
export function symLaunchFn(meta: CudaKernelMeta): (b: Binding) => SymLaunch {
  const sym = meta.sym;
  if (!sym) throw new Error('internal: symLaunchFn of a static kernel');
  const [gx, gy, gz] = sym.grid.map(gridFn) as [GridFn, GridFn, GridFn];
  const names = sym.sizes;
  const gemm = sym.gemm ? gemmFn(sym.gemm) : undefined;
  const rowLength = sym.rowLength ? sizeFn(sym.rowLength) : undefined;
  const rowUnits = rowLength && typeof sym.grid[0] !== 'number' ? sizeFn(sym.grid[0].units) : undefined;
  const scanLength = sym.scanLength ? sizeFn(sym.scanLength) : undefined;
  return (b) => {
    let grid: [number, number, number] = [gx(b), gy(b), gz(b)];
    let block = meta.launch.block;
    if (rowLength) {
      const { tpr, rpb } = rowThreads(rowLength(b));
      block = [tpr, rpb, 1];
      grid = [Math.ceil(rowUnits!(b) / rpb), grid[1], grid[2]];
    }
    if (scanLength) block = [scanThreads(scanLength(b)), 1, 1];
    return { grid, block, sizes: names.map((n) => b.get(n)!), ...(gemm ? { gemm: gemm(b) } : {}) };
  };
}
