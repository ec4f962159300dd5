// The programs a loaded model keeps, one per "variant": a graph built for one value of the
// value inputs and one binding of the symbolic dims. A server sees every length, so the set is
// bounded (KILN_MAX_SHAPE_VARIANTS): past it the least recently used variant is dropped and its
// program disposed (on CUDA its device memory freed), once no run still uses it.
//
// The contract a variant keeps (docs/architecture.md, "Shape variants"): `accepts(binding)` says
// whether its program serves those sizes. Today's variants are per-shape and accept exactly the
// binding they were built for; a symbolic variant (one program taking sizes as arguments,
// checking its guards per call) accepts every binding its guards admit, and plugs in here
// without changing the lookup: an exact key first (cheap), else the most recently used variant
// of the same value key that accepts the binding.

import { bump } from '../observe/counters.js';
import { type Binding, bindingEntries } from '../onnx/binding.js';

export interface ShapeVariant {
  /** The value inputs' values this variant was built for, as a key (variants never share these). */
  readonly valueKey: string;
  /** Whether this variant's program serves a run whose symbolic dims have these sizes. */
  accepts(binding: Binding): boolean;
  /** Frees the variant's program (called once, when evicted and no run holds it, or on clear()). */
  dispose(): void;
}

interface Slot<V> {
  variant: V;
  /** Runs holding the variant (acquire/release): an evicted variant is disposed when this drops to 0. */
  users: number;
  evicted: boolean;
}

/** A bounded, least-recently-used set of variants, keyed by value key and binding. */
export class ShapeVariants<V extends ShapeVariant> {
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  private readonly slots = new Map<string, Slot<V>>();
  private readonly held = new Map<V, Slot<V>>();

  constructor(private readonly capacity: number) {}

  /** The variant for these values and sizes, marked most recently used; undefined when none accepts them. */
  find(valueKey: string, binding: Binding): V | undefined {
    const key = variantKey(valueKey, binding);
    let slot = this.slots.get(key);
    if (!slot) {
      for (const [k, s] of [...this.slots].reverse()) {
        if (s.variant.valueKey === valueKey && s.variant.accepts(binding)) {
          slot = s;
          this.slots.delete(k);
          this.slots.set(k, s);
          break;
        }
      }
    } else {
      this.slots.delete(key);
      this.slots.set(key, slot);
    }
    if (slot) bump('shape_variant_hits');
    return slot?.variant;
  }

  /** Adds a new variant (counted as a build), evicting the least recently used past the bound. */
  add(valueKey: string, binding: Binding, variant: V): void {
    bump('shape_variant_builds');
    const slot: Slot<V> = { variant, users: 0, evicted: false };
    this.slots.set(variantKey(valueKey, binding), slot);
    this.held.set(variant, slot);
    while (this.slots.size > this.capacity) {
      const [oldest, s] = this.slots.entries().next().value!;
      this.slots.delete(oldest);
      bump('shape_variant_evictions');
      s.evicted = true;
      if (s.users === 0) this.retire(s);
    }
  }

  /** Marks a run using the variant: it is not disposed before release(). */
  acquire(variant: V): void {
    const s = this.held.get(variant);
    if (s) s.users++;
  }

  release(variant: V): void {
    const s = this.held.get(variant);
    if (!s) return;
    s.users--;
    if (s.evicted && s.users === 0) this.retire(s);
  }

  /** The variants held now, least recently used first. */
  values(): V[] {
    return [...this.slots.values()].map((s) => s.variant);
  }

  get size(): number {
    return this.slots.size;
  }

  /** Disposes every variant (a model's dispose(): runs in flight have been refused from now on). */
  clear(): void {
    for (const s of this.held.values()) s.variant.dispose();
    this.slots.clear();
    this.held.clear();
  }

  private retire(s: Slot<V>): void {
    this.held.delete(s.variant);
    s.variant.dispose();
  }
}

/** The exact key of a variant: its value key and its binding's sizes in symbol order. */
export function variantKey(valueKey: string, binding: Binding): string {
  return JSON.stringify([valueKey, bindingEntries(binding)]);
}
