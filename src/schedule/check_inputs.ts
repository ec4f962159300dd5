// Validates the arrays a plan is run with: count, shape, dtype and data length, with errors
// that say which input is wrong and how.

import type { NDArray } from '../graph/ndarray.js';
import { fmtShape } from '../graph/shape.js';
import type { Binding } from '../graph/sym.js';
import { type Plan, fmtPlanDims } from './plan.js';
import { bindSizes, planSizes, shapeUnder } from './plan_sizes.js';

const NO_SIZES: Binding = new Map();

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
  // A symbolic plan binds its sizes first (plan_sizes.ts: formulas made once per plan), once
  // every input has its rank: no binding can give an input another rank.
  if (plan.symbols) {
    want.forEach((b, i) => {
      const a = inputs[i]!;
      if (a.shape.length !== b.shape.length) throw new TypeError(`input ${i}: expected ${b.dtype}${fmtPlanDims(b)}, got ${a.dtype}${fmtShape(a.shape)} (rank ${a.shape.length}, not ${b.shape.length})`);
    });
  }
  const binding = plan.symbols ? bindSizes(plan, inputs) : NO_SIZES;
  const sizes = plan.symbols ? planSizes(plan) : undefined;
  want.forEach((b, i) => {
    const dims = sizes?.inputs[i];
    check(`input ${i}`, inputs[i]!, dims ? { shape: shapeUnder(dims, binding), dtype: b.dtype } : b);
  });
  for (const b of plan.buffers) if (b.kind === 'param') check(`parameter ${b.index}`, params[b.index!]!, b);
  return binding;
}
