// C for short reductions over many outputs (pooling and depthwise convs: a window of 9 or 49
// taps per output). One output at a time runs a 9-step loop that does not vectorize; here the
// outputs along the last output dim (a row of the image) keep their accumulators in an
// array, the taps are walked outside, and each tap updates the whole row in a loop over
// neighbouring outputs whose indices are affine in the loop variable (padding as selects), so
// it vectorizes. Rows (every other output dim, flattened) run on separate cores when big.
// Over symbolic sizes (a batch) the order is the same: the row count is a size argument, the
// row length and the taps stay static.

import { numel } from '../../graph/shape.js';
import { type Dim, symNumel } from '../../graph/sym.js';
import type { KernelSyms, LoopKernel } from '../../lower/loop_ir.js';
import { readsAlongOutputRows } from '../../lower/reduction_shape.js';
import { loopVarDim, symCName } from '../../lower/sym_index.js';
import { unflatten } from '../../lower/views.js';
import { Scope, emitInvariants, storeStmt } from '../c_expr.js';
import { accFinish, accInit, accUpdate, flatInner } from './accumulators.js';
import { accArrays, withAccs } from './column_loops.js';
import { edgeTests, interiorBounds, interiorOf } from './row_interior.js';
import { type CSource, PARALLEL_MIN_WORK, dialect, signature, totalWork } from './kernel_text.js';

/** Reductions of at most this many points per output take the row order. */
export const ROW_MAX_INNER = 64;
/** The last output dim must hold at least this many outputs (a vector's worth)… */
const ROW_MIN = 8;
/** …and at most this many (the accumulator arrays live on the stack). */
const ROW_MAX = 4096;

/** Short reductions along output rows (reduction_shape.ts) whose last output dim is a vector's worth or more; `sizes` as there. */
export function shortRowReduction(k: LoopKernel, sizes?: ReadonlyMap<string, number>): boolean {
  const R = numel(k.inner);
  const last = k.outer.at(-1) ?? 1;
  return R >= 2 && last >= ROW_MIN && last <= ROW_MAX && readsAlongOutputRows(k, ROW_MAX_INNER, sizes);
}

/**
 * The row order over symbolic sizes: where the taps and the row length (the last output dim)
 * are static, the accumulator arrays and the tap loops are as in a static kernel, and the order
 * is right for every size (the reductions are independent: readsAlongOutputRows). Whether it is
 * faster (each load's step along the row) is judged at the hints, the symbols the indices read
 * bound to them (the outer dims' hints): a load whose step depended on a symbol would be judged
 * at one size, a speed question only, and the check build at other sizes would see the choice
 * differ and specialise (api/symbolic_compile.ts).
 */
export function shortRowReductionSym(k: LoopKernel, sym: KernelSyms): boolean {
  const outer = sym.outer ?? k.outer;
  if ((sym.inner ?? []).some((d) => typeof d !== 'number') || typeof outer.at(-1) !== 'number') return false;
  const hints = new Map<string, number>();
  outer.forEach((d, i) => typeof d !== 'number' && d.bareSymbol !== undefined && hints.set(d.bareSymbol, k.outer[i]!));
  return sym.sizes.every((s) => hints.has(s)) && shortRowReduction(k, hints);
}

/**
 * `sym`: over symbolic sizes, the output dims (the last static) and whether this variant uses
 * threads (codegen.ts symbolicVariants chooses the threaded or serial one per call).
 */
export function rowLoops(k: LoopKernel, sym?: { outer: readonly Dim[]; threads: boolean }): CSource {
  const L = k.outer.at(-1)!;
  const lastVar = `o${k.outer.length - 1}`;
  const rowShape: readonly Dim[] = sym ? sym.outer.slice(0, -1) : k.outer.slice(0, -1);
  const rowCount = symNumel(rowShape);
  const rows = rowCount.constant ?? rowCount.toC(symCName);
  const parallel = sym ? sym.threads && rowCount.constant !== 1 : totalWork(k) >= PARALLEL_MIN_WORK && numel(k.outer.slice(0, -1)) > 1;
  const counter = { n: 0 };
  const lines = [`${signature(k)} {`];
  if (parallel) lines.push('  #pragma omp parallel for schedule(static)');
  lines.push(`  for (int64_t orow = 0; orow < ${rows}; orow++) {`);
  const rowIdx = unflatten(loopVarDim('orow', rowCount.constant !== undefined ? Math.max(rowCount.constant, 1) : rowCount), rowShape);
  const top = new Scope(dialect, counter, undefined, '    ');
  const decls = rowIdx.map((e, d) => `    const int64_t o${d} = ${top.emit(e)};`);
  lines.push(...top.lines.splice(0), ...decls);
  for (const r of k.reductions) for (const [name, t] of accArrays(r)) lines.push(`    ${t} A_${name}[${L}];`);
  lines.push(`    for (int64_t j = 0; j < ${L}; j++) {`);
  for (const r of k.reductions) {
    lines.push(`      ${accInit(r)}`);
    for (const [name] of accArrays(r)) lines.push(`      A_${name}[j] = ${name};`);
  }
  lines.push('    }');
  const { ind, close } = openTapLoops(lines, k.inner, '    ');
  // What depends only on the row and the tap is computed once per tap, outside the vector loop.
  const tapScope = top.child(ind);
  const outside = new Set([...rowShape.map((_, d) => `o${d}`), ...k.inner.map((_, d) => `r${d}`)]);
  for (const r of k.reductions) emitInvariants(tapScope, r.value, outside);
  lines.push(...tapScope.lines.splice(0));
  const indexReduction = k.reductions.some((r) => r.op === 'argmax' || r.op === 'argmin');
  /** One vector loop over the row's outputs [from, to), its padding tests `known` true. */
  const rowLoop = (from: string, to: string, known: ReadonlySet<string>) => {
    if (!indexReduction) lines.push(`${ind}#pragma omp simd`);
    lines.push(`${ind}for (int64_t j = ${from}; j < ${to}; j++) {`, `${ind}  const int64_t ${lastVar} = j;`);
    const s = tapScope.child(`${ind}  `);
    const value = (r: (typeof k.reductions)[number]) => (known.size ? interiorOf(r.value, known) : r.value);
    const updates = k.reductions.flatMap((r) => withAccs(r, `${ind}  `, accUpdate(r, s.emit(value(r)), flatInner(k.inner)), true));
    lines.push(...s.lines, ...updates, `${ind}}`);
  };
  // Padding tests along the row: the edges keep them, the interior (row_interior.ts) not.
  const tests = [...new Map(k.reductions.flatMap((r) => edgeTests(r.value, lastVar, outside)).map((t) => [t.key, t])).values()];
  if (tests.length === 0) rowLoop('0', String(L), new Set());
  else {
    const restC = tests.map((t) => tapScope.emit(t.rest));
    lines.push(...tapScope.lines.splice(0), ...interiorBounds(tests, restC, L, ind, 'jlo', 'jhi'));
    rowLoop('0', 'jlo', new Set());
    rowLoop('jlo', 'jhi', new Set(tests.map((t) => t.key)));
    rowLoop('jhi', String(L), new Set());
  }
  lines.push(...close, ...rowStores(k, L, top, '    '), '  }', '}');
  return { body: lines.join('\n') + '\n', parallel };
}

/**
 * Opens a loop per tap dim (r0, r1, …; a block where its extent is 1, r = 0) at `ind`: the
 * indentation inside them and the lines closing them.
 */
export function openTapLoops(lines: string[], inner: readonly number[], ind: string): { ind: string; close: string[] } {
  const close: string[] = [];
  inner.forEach((n, i) => {
    lines.push(n === 1 ? `${ind}{ const int64_t r${i} = 0;` : `${ind}for (int64_t r${i} = 0; r${i} < ${n}; r${i}++) {`);
    close.unshift(`${ind}}`);
    ind += '  ';
  });
  return { ind, close };
}

/**
 * The loop (at `ind`) storing a row's L finished outputs from the accumulator arrays A_*: each
 * reduction finished, then the kernel's stores, emitted in a child of `row` (the row's scope).
 */
export function rowStores(k: LoopKernel, L: number, row: Scope, ind: string): string[] {
  const lastVar = `o${k.outer.length - 1}`;
  const out = row.child(`${ind}    `);
  const stores = k.outerStores.map((st) => `${ind}    ${storeStmt(st.buf, out.emit(st.at), out.emit(st.value), k.bufs[st.buf]!.dtype)}`);
  const loads = k.reductions.flatMap((r) => [...accArrays(r).map(([n, t]) => `${ind}  ${t} ${n} = A_${n}[j];`), ...accFinish(r).map((l) => `${ind}  ${l}`)]);
  return [`${ind}for (int64_t j = 0; j < ${L}; j++) {`, `${ind}  const int64_t ${lastVar} = j;`, ...loads, `${ind}  {`, ...out.lines, ...stores, `${ind}  }`, `${ind}}`];
}
