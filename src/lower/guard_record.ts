// Guards recorded while a kernel's code is generated: a backend that decides something from a
// symbolic size's hint (a loop order, a sum's blocking) records the fact the decision needs, and
// the plan checks it per call (graph/sym.ts Guard). The record is open for one synchronous
// generate() call, as backends/emitted_uses.ts's is.

import { type Dim, type Guard, SymInt } from '../graph/sym.js';

let current: Guard[] | undefined;

/** Records that `size` relates to `value` as `rel` for every call this kernel serves. */
export function recordGuard(size: Dim, rel: Guard['rel'], value: number, why: string): void {
  if (typeof size === 'number' || size.isConstant) return;
  if (!current) throw new Error(`guard recorded outside a kernel's generation: ${size.key()} ${rel} ${value}`);
  const g: Guard = { expr: SymInt.of(size).toJSON(), rel, value, why };
  if (!current.some((h) => JSON.stringify(h) === JSON.stringify(g))) current.push(g);
}

/** Runs `generate`, returning what it returns and the guards it recorded. */
export function collectGuards<T>(generate: () => T): { value: T; guards: Guard[] } {
  const outer = current;
  current = [];
  try {
    const value = generate();
    return { value, guards: current };
  } finally {
    current = outer;
  }
}
