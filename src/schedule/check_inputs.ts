// Validates the arrays a plan is run with: count, shape, dtype and data length, with errors
// that say which input is wrong and how.

import type { NDArray } from '../graph/ndarray.js';
import { fmtShape } from '../graph/shape.js';
import type { Plan } from './plan.js';

export function checkInputs(plan: Plan, inputs: readonly NDArray[], params: readonly NDArray[]): void {
  const want = plan.buffers.filter((b) => b.kind === 'input').sort((a, b) => a.index! - b.index!);
  if (inputs.length !== want.length) {
    throw new TypeError(`compiled function expects ${want.length} input${want.length === 1 ? '' : 's'}, got ${inputs.length}`);
  }
  const check = (what: string, a: NDArray, b: { shape: number[]; dtype: string }) => {
    if (a.dtype !== b.dtype || a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
      throw new TypeError(`${what}: expected ${b.dtype}${fmtShape(b.shape)}, got ${a.dtype}${fmtShape(a.shape)}`);
    }
  };
  want.forEach((b, i) => check(`input ${i}`, inputs[i]!, b));
  for (const b of plan.buffers) if (b.kind === 'param') check(`parameter ${b.index}`, params[b.index!]!, b);
}
