// Pointwise kernels over symbolic sizes (codegen.ts's pointwise, for a kernel with a `sym`
// record): the same grid-stride loop, its element count a formula over the size arguments.
// Whether buffers move as float4 is decided by how they are read, never by the size: the
// vector loop takes the count's whole multiples of 4 and a tail of at most 3 elements follows
// (threads 0..2 of the grid take one each), so every count from 1 up runs in one kernel. A
// buffer moves as a vector when every access of it is at the thread's own flat position,
// compared on the kernel's point variables (o0, o1, …) before they are expressed through the
// flat index: over symbolic strides, that is the form the simplifier keeps recognisable.

import { symNumel } from '../../graph/sym.js';
import { type Expr, exprKey, iadd, idx, imul, loopVar, mapChildren, substitute } from '../../lower/expr.js';
import type { KernelSyms, LoopKernel } from '../../lower/loop_ir.js';
import { loopVarDim, symCName } from '../../lower/sym_index.js';
import { flatten, unflatten } from '../../lower/views.js';
import { Scope, cType, storeStmt } from '../c_expr.js';
import { type CudaGenerated, MAX_BLOCKS, POINTWISE_THREADS, dialect, kernelOpen } from './kernel_text.js';
import { ownPositionAccess, vecType, vectorizeLoads } from './vector_access.js';

type SymLoopKernel = LoopKernel & { sym: KernelSyms };

/**
 * Replaces each index expression equal to one of `pairs`' firsts (by exprKey: the flat position
 * of the kernel's point variables over some dims) by its second, the same position as the thread
 * has it (a flat index, a row and an r).
 */
export function ownPositions(pairs: readonly (readonly [Expr, Expr])[]): (e: Expr) => Expr {
  // A constant position (every dim of size 1) is left alone: constants stay constants.
  const by = new Map(pairs.filter(([from]) => from.k !== 'const').map(([from, to]) => [exprKey(from), to] as const));
  const rec = (e: Expr): Expr => by.get(exprKey(e)) ?? mapChildren(e, rec);
  return rec;
}

export function symPointwise(k: SymLoopKernel): CudaGenerated {
  const dims = k.sym.outer ?? k.outer;
  const count = symNumel(dims);
  const N = count.toC(symCName);
  // The point variables as the loop IR wrote them, and the flat position they make.
  const own = flatten(dims.map((d, i) => loopVarDim(`o${i}`, d)), dims);
  const ownKey = exprKey(own);
  const zeroInner = new Map(k.inner.map((_, d) => [`r${d}`, idx(0)] as [string, Expr]));
  const stores = k.innerStores.map((s) => ({ buf: s.buf, at: substitute(s.at, zeroInner), value: substitute(s.value, zeroInner) }));
  const { vecIn, vecStores } = ownPositionAccess(stores, k.bufs, ownKey);
  const vec = vecIn.size > 0 || vecStores;
  // The point through the flat index i (a loop variable over the symbolic count).
  const flat = loopVarDim('i', count);
  const point = new Map(unflatten(flat, dims).map((e, d) => [`o${d}`, e] as [string, Expr]));
  const counter = { n: 0 };
  // The own position is i itself (not its unflattened point flattened again, which symbolic
  // strides leave as divisions).
  const ownToFlat = ownPositions([[own, flat]]);
  const scalarBody = (ind: string): string[] => {
    const s = new Scope(dialect, counter, undefined, ind);
    const scalar = (e: Expr) => s.emit(substitute(ownToFlat(e), point));
    const body = stores.map((st) => `${ind}${storeStmt(st.buf, scalar(st.at), scalar(st.value), k.bufs[st.buf]!.dtype)}`);
    return [...s.lines, ...body];
  };
  const lines = [kernelOpen(k.bufs, [], k.sym.sizes), `  const int64_t n = ${N};`];
  if (!vec) {
    lines.push('  for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < n; j += (int64_t)gridDim.x * blockDim.x) {');
    lines.push('    const int64_t i = j;', ...scalarBody('    '), '  }', '}');
  } else {
    lines.push('  const int64_t units = n >> 2;');
    lines.push('  for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < units; j += (int64_t)gridDim.x * blockDim.x) {');
    for (const b of vecIn) lines.push(`    const ${vecType(k.bufs[b]!.dtype)} v${b} = reinterpret_cast<const ${vecType(k.bufs[b]!.dtype)}*>(b${b})[j];`);
    // The j-th group of 4: its lanes' flat positions, an upper bound for the simplifier.
    const j = loopVar('j', Math.ceil((count.upperBound() ?? Number.MAX_SAFE_INTEGER) / 4));
    if (vecStores) stores.forEach((st, si) => lines.push(`    ${cType(k.bufs[st.buf]!.dtype)} r${si}[4];`));
    for (let lane = 0; lane < 4; lane++) {
      const s = new Scope(dialect, counter, undefined, '      ');
      const at = new Map([['i', iadd(imul(j, 4), idx(lane))]]);
      const laneExpr = (e: Expr) => substitute(substitute(ownToFlat(vectorizeLoads(e, ownKey, lane, vecIn)), point), at);
      const body = stores.map((st, si) => {
        const v = s.emit(laneExpr(st.value));
        return vecStores ? `      r${si}[${lane}] = ${v};` : `      ${storeStmt(st.buf, s.emit(laneExpr(st.at)), v, k.bufs[st.buf]!.dtype)}`;
      });
      lines.push('    {', ...s.lines, ...body, '    }');
    }
    if (vecStores) {
      stores.forEach((st, si) => {
        const vt = vecType(k.bufs[st.buf]!.dtype)!;
        lines.push(`    reinterpret_cast<${vt}*>(b${st.buf})[j] = make_${vt}(r${si}[0], r${si}[1], r${si}[2], r${si}[3]);`);
      });
    }
    lines.push('  }');
    // The tail: the last n % 4 elements, one per thread of the grid's first threads.
    lines.push('  {', '    const int64_t i = (units << 2) + (int64_t)blockIdx.x * blockDim.x + threadIdx.x;', '    if (i < n) {', ...scalarBody('      '), '    }', '  }', '}');
  }
  // Enough threads for the vector loop's groups (a grid-stride loop takes any more), at least one block for the tail.
  const perBlock = (vec ? 4 : 1) * POINTWISE_THREADS;
  return {
    source: lines.join('\n') + '\n',
    meta: {
      params: k.bufs.length,
      launch: { grid: [0, 0, 0], block: [POINTWISE_THREADS, 1, 1], shared: 0 },
      sym: { sizes: k.sym.sizes, grid: [{ units: count.toJSON(), per: perBlock, max: MAX_BLOCKS }, 1, 1] },
    },
  };
}
