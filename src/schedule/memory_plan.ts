// Where temporaries live in an arena: each in order of its first use takes the first block freed
// by a temporary whose last use came before that, if big enough, else new bytes at the end.
// finalize.ts places a plan's static temporaries with it once; a runtime places the temporaries
// of symbolic size with it whenever a call's sizes change (their sizes are known then).

import { byteSize } from '../graph/dtype.js';
import { numel } from '../graph/shape.js';
import type { Binding } from '../graph/sym.js';
import type { Plan, PlanBuffer } from './plan.js';
import { planSizes, shapeUnder } from './plan_sizes.js';

/** A temporary: its size in bytes (already rounded to the arena's alignment) and the first and last step that use it. */
export interface TempUse {
  id: number;
  size: number;
  first: number;
  last: number;
}

/** Offsets by temporary id and the arena's size; `temps` in order of first use. */
export function packArena(temps: readonly TempUse[]): { offsets: Map<number, number>; bytes: number } {
  const offsets = new Map<number, number>();
  const live: { end: number; offset: number; size: number }[] = [];
  const free: { offset: number; size: number }[] = [];
  let arena = 0;
  for (const t of temps) {
    // Release blocks whose last use is before this kernel.
    for (let i = live.length - 1; i >= 0; i--) {
      if (live[i]!.end < t.first) {
        free.push({ offset: live[i]!.offset, size: live[i]!.size });
        live.splice(i, 1);
      }
    }
    const fit = free.findIndex((f) => f.size >= t.size);
    let offset: number;
    if (fit >= 0) {
      offset = free[fit]!.offset;
      free.splice(fit, 1);
    } else {
      offset = arena;
      arena += t.size;
    }
    offsets.set(t.id, offset);
    live.push({ end: t.last, offset, size: t.size });
  }
  return { offsets, bytes: arena };
}

/** The first and last step using each buffer, by buffer id (steps' argument lists in order). */
export function bufferLifetimes(args: readonly (readonly number[])[]): { first: Map<number, number>; last: Map<number, number> } {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  args.forEach((list, k) => {
    for (const b of list) {
      if (!first.has(b)) first.set(b, k);
      last.set(b, k);
    }
  });
  return { first, last };
}

const symbolicTemps = new WeakMap<Plan, { buffer: PlanBuffer; first: number; last: number }[]>();

/**
 * The offsets of a plan's temporaries of symbolic size under one binding, in an arena of their
 * own, and that arena's size: placed by packArena with each temporary's size under the binding
 * (rounded up to `align` bytes, at least one element), so they share bytes where their
 * lifetimes allow, as the static ones do. What both runtimes call when a call's sizes change.
 */
export function layOutSymbolicTemps(plan: Plan, binding: Binding, align: number): { offsets: Map<number, number>; bytes: number } {
  let temps = symbolicTemps.get(plan);
  if (!temps) {
    const { first, last } = bufferLifetimes(plan.steps.map((s) => s.args));
    temps = plan.buffers
      .filter((b) => b.kind === 'temp' && b.dims && first.has(b.id))
      .sort((a, b) => first.get(a.id)! - first.get(b.id)!)
      .map((buffer) => ({ buffer, first: first.get(buffer.id)!, last: last.get(buffer.id)! }));
    symbolicTemps.set(plan, temps);
  }
  const sizes = planSizes(plan);
  const size = (b: PlanBuffer) => Math.ceil((Math.max(numel(shapeUnder(sizes.buffers.get(b.id)!, binding)), 1) * byteSize(b.dtype)) / align) * align;
  return packArena(temps.map((t) => ({ id: t.buffer.id, size: size(t.buffer), first: t.first, last: t.last })));
}
