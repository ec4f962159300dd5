// A symbolic plan's size symbols: where each call's value of each comes from (the first user
// input dim that is exactly that symbol) and the range every symbol must lie in.

import { type Graph, dependsOnSizes, dimsOf } from '../graph/ir.js';
import { type Guard, SYM_MAX, SYM_MIN, SymInt, SymbolicUnsupportedError, addGuard, nonNegativeGuard } from '../graph/sym.js';
import type { PlanSymbol } from './plan.js';

export function planSymbols(g: Graph): PlanSymbol[] {
  const out: PlanSymbol[] = [];
  const seen = new Set<string>();
  const inputs = g.inputs.filter((id) => (g.node(id) as { kind?: string }).kind === 'input');
  inputs.forEach((id, input) => {
    g.node(id).sym?.forEach((d, dim) => {
      const name = typeof d === 'number' ? undefined : d.bareSymbol;
      if (name !== undefined && !seen.has(name)) {
        seen.add(name);
        out.push({ name, input, dim });
      }
    });
  });
  for (const n of g.nodes) {
    for (const d of n.sym ?? []) {
      if (typeof d === 'number') continue;
      for (const s of d.symbols()) if (!seen.has(s)) throw new SymbolicUnsupportedError(`size symbol ${s} is no input's dim by itself, so a call cannot bind it`, [s]);
    }
  }
  return out;
}

/** Every symbol lies in [SYM_MIN, SYM_MAX] (an empty tensor is specialised; a 1 is served: graph/sym.ts). */
export function rangeGuards(symbols: readonly PlanSymbol[]): Guard[] {
  return symbols.flatMap((s) => [
    { expr: SymInt.symbol(s.name).toJSON(), rel: 'ge' as const, value: SYM_MIN, why: 'symbolic sizes are at least 1 (an empty tensor is specialised)' },
    { expr: SymInt.symbol(s.name).toJSON(), rel: 'le' as const, value: SYM_MAX, why: 'symbolic sizes stay within the index bounds the code was simplified under' },
  ]);
}

/**
 * What a symbolic graph's slices need of every call (GraphBuilder.sliceDims): each symbolic
 * slice starts at or after 0, takes at least 0 elements and ends inside its input. A fact the
 * bounds prove for every binding (a cut of s1 − 1 from 1 of s1) needs no guard; one they do
 * not (the first s1 rows of a 512-row cache: s1 <= 512) is checked per call, and a call
 * breaking it runs a specialisation, where ONNX's clamping applies.
 */
export function sliceGuards(g: Graph): Guard[] {
  const out: Guard[] = [];
  const need = (e: SymInt, why: string) => addGuard(out, nonNegativeGuard(e, why));
  for (const n of g.nodes) {
    if (n.op !== 'slice' || !dependsOnSizes(n)) continue;
    const inDims = dimsOf(g.node(n.inputs[0]!));
    const outDims = dimsOf(n);
    n.dims.forEach((d, i) => {
      if (!d.symStart && typeof outDims[i] === 'number') return;
      const start = d.symStart ? SymInt.fromJSON(d.symStart) : SymInt.of(d.start);
      const size = SymInt.of(outDims[i]!);
      need(start, `a slice of dim ${i} starts inside its input (node ${n.id})`);
      need(size, `a slice of dim ${i} takes no fewer than 0 elements (node ${n.id})`);
      need(SymInt.of(inDims[i]!).sub(start).sub(size), `a slice of dim ${i} ends inside its input (node ${n.id})`);
    });
  }
  return out;
}
