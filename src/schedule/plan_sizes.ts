// A symbolic plan's size formulas made into functions once per plan (not parsed per call): the
// input dims each call is checked against, the guards, and every symbolic buffer's dims, all
// evaluated under a call's binding. compile()'s per-call cost over a static program is this
// binding, the guards' arithmetic and, when the sizes change, the symbolic temporaries.

import { type Binding, type Guard, type SymJSON, GuardFailure, SymInt, guardHoldsFor } from '../graph/sym.js';
import type { NDArray } from '../graph/ndarray.js';
import type { Plan, PlanBuffer } from './plan.js';

export type SizeFn = (b: Binding) => number;
type DimFn = number | SizeFn;

/** A formula as a function of the binding (a bare symbol: one lookup). */
export function sizeFn(j: SymJSON): SizeFn {
  const terms = j.map(([c, names]) => [c, [...names]] as const);
  if (terms.length === 1 && terms[0]![0] === 1 && terms[0]![1].length === 1) {
    const name = terms[0]![1][0]!;
    return (b) => b.get(name)!;
  }
  return (b) => {
    let v = 0;
    for (const [c, names] of terms) {
      let p = c;
      for (const n of names) p *= b.get(n)!;
      v += p;
    }
    return v;
  };
}

const dimFns = (b: PlanBuffer): DimFn[] | undefined => b.dims?.map((d) => (typeof d === 'number' ? d : sizeFn(d)));

export interface PlanSizes {
  /** Each symbol's source: input index and dim. */
  symbols: { name: string; input: number; dim: number }[];
  /** Per user input (by index): its dims' formulas, or undefined when static. */
  inputs: (DimFn[] | undefined)[];
  guards: { guard: Guard; value: SizeFn }[];
  /** Dims of every buffer with symbolic ones, by buffer id. */
  buffers: Map<number, DimFn[]>;
}

const cache = new WeakMap<Plan, PlanSizes>();

export function planSizes(plan: Plan): PlanSizes {
  let s = cache.get(plan);
  if (!s) {
    const buffers = new Map<number, DimFn[]>();
    for (const b of plan.buffers) {
      const f = dimFns(b);
      if (f) buffers.set(b.id, f);
    }
    const inputs: (DimFn[] | undefined)[] = [];
    for (const b of plan.buffers) if (b.kind === 'input') inputs[b.index!] = buffers.get(b.id);
    s = { symbols: plan.symbols ?? [], inputs, guards: (plan.guards ?? []).map((g) => ({ guard: g, value: sizeFn(g.expr) })), buffers };
    cache.set(plan, s);
  }
  return s;
}

/** A buffer's dims under a binding. */
export function shapeUnder(dims: readonly DimFn[], b: Binding): number[] {
  return dims.map((d) => (typeof d === 'number' ? d : d(b)));
}

/**
 * The call's binding: each symbol from its input dim; every symbolic input dim must then equal
 * its formula (two inputs sharing a batch), and every guard hold, else GuardFailure. Ranks,
 * dtypes and static dims are checked by the caller.
 */
export function bindSizes(plan: Plan, inputs: readonly Pick<NDArray, 'shape'>[]): Binding {
  const s = planSizes(plan);
  const b = new Map<string, number>();
  for (const sym of s.symbols) b.set(sym.name, inputs[sym.input]!.shape[sym.dim]!);
  s.inputs.forEach((dims, i) => {
    const shape = inputs[i]!.shape;
    if (!dims || shape.length !== dims.length) return;
    for (let d = 0; d < dims.length; d++) {
      const f = dims[d]!;
      if (typeof f === 'number') continue;
      const expect = f(b);
      if (shape[d] !== expect) {
        const j = plan.buffers.find((x) => x.kind === 'input' && x.index === i)!.dims![d] as SymJSON;
        throw new GuardFailure({ expr: j, rel: 'eq', value: shape[d]!, why: `dim ${d} of input ${i} is ${SymInt.fromJSON(j).key()} = ${expect}` }, b);
      }
    }
  });
  for (const g of s.guards) if (!guardHoldsFor(g.guard, g.value(b))) throw new GuardFailure(g.guard, b);
  return b;
}

/**
 * Whether the plan serves user inputs of these shapes: a static plan exactly its own, a
 * symbolic one every binding its guards admit (dtypes are not looked at). What a caller
 * holding programs for several shapes asks before it runs one (the ONNX model's variants).
 */
export function planAccepts(plan: Plan, shapes: readonly (readonly number[])[]): boolean {
  const want = plan.buffers.filter((b) => b.kind === 'input');
  if (shapes.length !== want.length) return false;
  const sizes = plan.symbols ? planSizes(plan) : undefined;
  for (const b of want) {
    const s = shapes[b.index!]!;
    const dims = sizes?.inputs[b.index!];
    if (s.length !== b.shape.length) return false;
    if (!dims && s.some((d, i) => d !== b.shape[i])) return false;
    if (dims && dims.some((d, i) => typeof d === 'number' && d !== s[i])) return false;
  }
  if (!plan.symbols) return true;
  try {
    bindSizes(plan, shapes.map((shape) => ({ shape })));
    return true;
  } catch (e) {
    if (e instanceof GuardFailure) return false;
    throw e;
  }
}
