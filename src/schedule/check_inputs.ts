// Validates the arrays a plan is run with: count, shape, dtype and data length, with errors
// that say which input is wrong and how.

import type { NDArray } from '../graph/ndarray.js';
import { fmtShape } from '../graph/shape.js';
import { type Binding, GuardFailure, SymInt, guardHolds } from '../graph/sym.js';
import { type Plan, bufferShape } from './plan.js';

/**
 * Validates the arrays and returns the call's binding of the plan's size symbols (empty for a
 * static plan): each symbol from its input dim, every other dim checked against its formula,
 * then every guard (a broken one throws GuardFailure).
 */
export function checkInputs(plan: Plan, inputs: readonly NDArray[], params: readonly NDArray[]): Binding {
  const want = plan.buffers.filter((b) => b.kind === 'input').sort((a, b) => a.index! - b.index!);
  if (inputs.length !== want.length) {
    throw new TypeError(`compiled function expects ${want.length} input${want.length === 1 ? '' : 's'}, got ${inputs.length}`);
  }
  const check = (what: string, a: NDArray, b: { shape: number[]; dtype: string }) => {
    if (a.dtype !== b.dtype || a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
      throw new TypeError(`${what}: expected ${b.dtype}${fmtShape(b.shape)}, got ${a.dtype}${fmtShape(a.shape)}`);
    }
  };
  const binding = new Map<string, number>();
  for (const s of plan.symbols ?? []) {
    const a = inputs[s.input]!;
    if (a.shape.length !== want[s.input]!.shape.length) check(`input ${s.input}`, a, want[s.input]!);
    binding.set(s.name, a.shape[s.dim]!);
  }
  want.forEach((b, i) => {
    const a = inputs[i]!;
    // A symbolic dim that is another input's size (two inputs sharing a batch) must match it.
    b.dims?.forEach((d, j) => {
      if (typeof d === 'number' || a.shape.length !== b.dims!.length) return;
      const expect = SymInt.fromJSON(d).eval(binding);
      if (a.shape[j] !== expect) throw new GuardFailure({ expr: d, rel: 'eq', value: a.shape[j]!, why: `dim ${j} of input ${i} is ${SymInt.fromJSON(d).key()} = ${expect}` }, binding);
    });
    check(`input ${i}`, a, b.dims ? { shape: bufferShape(b, binding), dtype: b.dtype } : b);
  });
  for (const b of plan.buffers) if (b.kind === 'param') check(`parameter ${b.index}`, params[b.index!]!, b);
  for (const g of plan.guards ?? []) if (!guardHolds(g, binding)) throw new GuardFailure(g, binding);
  return binding;
}
