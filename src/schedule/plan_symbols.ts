// A symbolic plan's size symbols: where each call's value of each comes from (the first user
// input dim that is exactly that symbol) and the range every symbol must lie in.

import type { Graph } from '../graph/ir.js';
import { type Guard, SYM_MAX, SYM_MIN, SymInt, SymbolicUnsupportedError } from '../graph/sym.js';
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
