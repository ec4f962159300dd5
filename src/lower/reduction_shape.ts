// Facts about a reduction kernel's memory access that backends choose their loop order by:
// whether its reductions are independent of one another, and whether it reads along columns
// (neighbouring outputs are neighbours in memory while one output's inputs lie far apart, as
// in x.sum(0) of a row-major matrix). Both backends then put the outputs in the inner,
// contiguous position instead of walking each output's strided inputs.

import { numel } from '../graph/shape.js';
import { type Expr, children, evalIndex, loopVar, substitute, varsOf } from './expr.js';
import type { LoopKernel } from './loop_ir.js';
import { unflatten } from './views.js';

/** Whether `e` reads the result of a reduction (acc), as softmax's sum reads its max. */
export function mentionsAcc(e: Expr): boolean {
  return e.k === 'acc' || children(e).some(mentionsAcc);
}

function loadsOf(e: Expr, out: (Expr & { k: 'load' })[] = []): (Expr & { k: 'load' })[] {
  if (e.k === 'load') out.push(e);
  for (const c of children(e)) loadsOf(c, out);
  return out;
}

/** Map from a kernel's output vars (o0..) to expressions in the flat output index `row`. */
export function flatOutputVars(outer: readonly number[]): Map<string, Expr> {
  const vars = new Map<string, Expr>();
  unflatten(loopVar('row', Math.max(numel(outer), 1)), outer).forEach((e, d) => vars.set(`o${d}`, e));
  return vars;
}

/** Map from a kernel's point vars (o0.., r0..) to expressions in the flat `row` and `r`. */
export function flatPointVars(k: LoopKernel): Map<string, Expr> {
  const vars = flatOutputVars(k.outer);
  unflatten(loopVar('r', numel(k.inner)), k.inner).forEach((e, d) => vars.set(`r${d}`, e));
  return vars;
}

/**
 * A pure reduction (no per-element stores, no reduction reading another) over at least
 * `minRows` outputs whose every load that moves with the reduced index moves by 1 between
 * neighbouring outputs and by more than 1 along the reduced axis.
 */
export function readsAlongColumns(k: LoopKernel, minRows: number): boolean {
  const rows = numel(k.outer);
  const R = numel(k.inner);
  if (rows < minRows || R < 2 || k.innerStores.length > 0 || k.reductions.length === 0) return false;
  if (k.reductions.some((r) => mentionsAcc(r.value))) return false;
  const vars = flatPointVars(k);
  let sawColumn = false;
  for (const red of k.reductions) {
    for (const ld of loadsOf(substitute(red.value, vars))) {
      const at = ld.at;
      if (loadsOf(at).length > 0) return false; // gathers: no fixed stride
      if (!varsOf(at).has('r')) continue;
      const at0 = evalIndex(at, new Map([['row', 0], ['r', 0]]));
      const dRow = evalIndex(at, new Map([['row', 1], ['r', 0]])) - at0;
      const dR = evalIndex(at, new Map([['row', 0], ['r', 1]])) - at0;
      if (dRow !== 1 || Math.abs(dR) <= 1) return false;
      sawColumn = true;
    }
  }
  return sawColumn;
}

/**
 * Short independent reductions (at most `maxInner` points per output, no per-point stores)
 * whose every load either stays put or moves by 1 or 2 elements between neighbouring outputs
 * of the last output dim, and at least one moves (checked at the middle of the domain, away
 * from any padding): pooling and convs over a window, where neighbouring outputs read
 * neighbouring inputs. Both backends then give neighbouring outputs neighbouring lanes.
 * `sizes`: values for the size symbols the indices read (a symbolic kernel's hints).
 */
export function readsAlongOutputRows(k: LoopKernel, maxInner: number, sizes: ReadonlyMap<string, number> = new Map()): boolean {
  const R = numel(k.inner);
  if (R < 1 || R > maxInner || k.outer.length === 0) return false;
  if (k.innerStores.length > 0 || k.reductions.length === 0 || k.reductions.some((r) => mentionsAcc(r.value))) return false;
  const lastVar = `o${k.outer.length - 1}`;
  const mid = new Map<string, number>(sizes);
  k.outer.forEach((n, d) => mid.set(`o${d}`, Math.floor(n / 2)));
  k.inner.forEach((n, d) => mid.set(`r${d}`, Math.floor(n / 2)));
  const next = new Map(mid).set(lastVar, mid.get(lastVar)! + 1);
  let moves = false;
  for (const red of k.reductions) {
    for (const ld of loadsOf(red.value)) {
      if (loadsOf(ld.at).length > 0) return false; // a gather: no fixed step
      if (!varsOf(ld.at).has(lastVar)) continue;
      const step = evalIndex(ld.at, next) - evalIndex(ld.at, mid);
      if (step < 1 || step > 2) return false;
      moves = true;
    }
  }
  return moves;
}
