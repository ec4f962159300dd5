// B operands packed once: a weight's panels as the tile wants them (tiled_gemm.ts), made the
// first time the weight meets a kernel that may read them and kept while a program uses them.
//
// What may be packed once is the runtime's to say, never an address's: panels are keyed by the
// weight's NDArray (an identity this process owns: a disposed model's memory, reused by another
// model's weights at the same address, belongs to other NDArrays, which have no panels yet) and
// by the kernel's key (its packing layout: sizes, strides, offset; the target's panel width is
// the library's own). Each record also remembers the weight's address when it was packed and is
// packed again if the NDArray's data moved. Only an executable told its parameters are
// immutable (an ONNX model's initializers and folded constants) asks for panels; compile(fn)'s
// captured arrays may change between calls and are packed per call.
//
// The panels are a second host copy of the weights (about the weights' size: each panel pads
// N to the panel width). They are ArrayBuffers, so V8 frees them when collected; a record goes
// when the last program using it is disposed (or its weight is collected), and
// KILN_CPU_PACK_WEIGHTS=0 never makes one.

import type { AnyTypedArray } from '../../graph/dtype.js';
import type { NDArray } from '../../graph/ndarray.js';

/** One weight's panels for one kernel. */
interface Packed {
  /** Holds the memory: `address` points into it (64-byte aligned). */
  memory: ArrayBuffer;
  address: bigint;
  /** The weight's data address when it was packed. */
  weightAddress: bigint;
  /** Its bytes while counted in heldBytes (forget() or the collector uncounts them once). */
  count: { bytes: number };
  /** The executables using it: the record goes when the last one is disposed. */
  users: Set<object>;
}

/** How a kernel packs: its key (the panels' layout), the floats its panels take, and its packing function. */
export interface PackingKernel {
  key: string;
  floats: number;
  /** Packs B into the panels at `address` (the kernel's `_packb` over a block holding B and them). */
  pack(address: bigint): void;
}

const byWeight = new WeakMap<NDArray, Map<string, Packed>>();
/** Bytes of panels held by records (a record dropped with its collected weight is uncounted when its memory is collected). */
let heldBytes = 0;
let packs = 0;
const uncount = (c: { bytes: number }) => {
  heldBytes -= c.bytes;
  c.bytes = 0;
};
const collected = new FinalizationRegistry<{ bytes: number }>(uncount);

/** The panels' alignment (the tile loads them with aligned vector loads). */
const ALIGN = 64;

/**
 * The address of `weight`'s panels for `kernel`, packing them now if this weight has none for
 * it (or its data moved since), on behalf of `user` (an executable, until it releases them).
 */
export function packedPanels(weight: NDArray, weightAddress: bigint, kernel: PackingKernel, user: object, addressOf: (t: AnyTypedArray) => bigint): bigint {
  let forWeight = byWeight.get(weight);
  if (forWeight === undefined) byWeight.set(weight, (forWeight = new Map()));
  let p = forWeight.get(kernel.key);
  if (p === undefined || p.weightAddress !== weightAddress) {
    if (p !== undefined) uncount(p.count);
    const bytes = Math.max(kernel.floats, 1) * 4;
    const memory = new ArrayBuffer(bytes + ALIGN);
    const base = addressOf(new Uint8Array(memory));
    const pad = Number((BigInt(ALIGN) - (base % BigInt(ALIGN))) % BigInt(ALIGN));
    const address = addressOf(new Uint8Array(memory, pad, bytes));
    kernel.pack(address);
    packs++;
    const count = { bytes: memory.byteLength };
    heldBytes += count.bytes;
    collected.register(memory, count);
    p = { memory, address, weightAddress, count, users: p?.users ?? new Set() };
    forWeight.set(kernel.key, p);
  }
  p.users.add(user);
  return p.address;
}

/** Drops `user`'s hold on `weight`'s panels for kernel `key`; the last user's release forgets them (V8 frees the memory). */
export function releasePanels(weight: NDArray, key: string, user: object): void {
  const forWeight = byWeight.get(weight);
  const p = forWeight?.get(key);
  if (p === undefined) return;
  p.users.delete(user);
  if (p.users.size > 0) return;
  uncount(p.count);
  forWeight!.delete(key);
  if (forWeight!.size === 0) byWeight.delete(weight);
}

/** Bytes of packed panels held now, and how many packings this process did (for tests, benches and `kiln` tooling). */
export function packedWeightStats(): { bytes: number; packs: number } {
  return { bytes: heldBytes, packs };
}
