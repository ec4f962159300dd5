// Device copies of captured parameters (a model's weights): one per NDArray object for the
// life of the process, shared by every program that binds the NDArray, so all the programs of
// one model (one per shape or value variant: an ONNX model hands each the same NDArray per
// initializer) use one device copy.
//
// Uploads go in large transfers: every parameter of a batch not on the device yet is laid out
// in ONE device block (one cuMemAlloc, 256-byte aligned offsets), packed into page-locked
// staging buffers (cuMemHostAlloc, a ring of two, kept for the process) and sent slot by slot
// with cuMemcpyHtoDAsync on an upload stream, so the copy engine reads slot k while the host
// fills slot k+1. uploadParams() fills each slot on libuv's thread pool (host_copy.ts: several
// cores' memory bandwidth, the main thread free meanwhile): started before the kernels'
// modules load (compileGraph does), the host copies and the DMA run under cuModuleLoadData. Kernels
// run on the legacy default stream, which waits for the (blocking) upload stream's earlier
// copies: no launch reads a block before its bytes arrive. Without page-locked memory (the
// driver refused it, or KILN_CUDA_PINNED=0 for an A/B run) the slots are ordinary memory and
// each slot is a synchronous cuMemcpyHtoD.

import { assertUnchanged } from '../../graph/host_mapping.js';
import { setting } from '../../config/read.js';
import type { NDArray } from '../../graph/ndarray.js';
import type { AnyTypedArray } from '../../graph/dtype.js';
import { traceSpan } from '../../observe/trace.js';
import { type CopyPart, copyHere, copyParts } from './host_copy.js';
import { type CUevent, type CUstream, type DevicePtr, type PinnedHostMemory, eventCreate, eventRecord, eventSynchronize, memAlloc, memFreeHost, memHostAlloc, memcpyHtoD, memcpyHtoDAsync, streamCreate } from './driver.js';

/** Device copies by parameter; an entry exists once its bytes are (or are being) copied. */
const copies = new WeakMap<NDArray, DevicePtr>();

/** Each parameter starts on this boundary (float4 and wider loads need 16 B; 256 as cudaMalloc gives). */
const ALIGN = 256;
/** Largest staging slot: two of them, 64 MiB of page-locked memory for the process at most. */
const MAX_SLOT = 32 << 20;
/** Smallest slot: a model of small weights pins 2 MiB. */
const MIN_SLOT = 1 << 20;

interface Slot {
  host: Uint8Array;
  pinned?: PinnedHostMemory;
  /** Recorded after the slot's last copy; the slot is refilled only once it completed. */
  event?: CUevent;
  busy: boolean;
}

/** Two staging slots; freed when replaced by bigger ones and no upload still uses them. */
class StagingRing {
  users = 0;
  private retired = false;

  constructor(readonly slots: Slot[]) {}

  get slotBytes(): number {
    return this.slots[0]!.host.byteLength;
  }

  retire(): void {
    this.retired = true;
    if (this.users === 0) this.free();
  }

  release(): void {
    if (--this.users === 0 && this.retired) this.free();
  }

  private free(): void {
    for (const s of this.slots) {
      if (s.busy) eventSynchronize(s.event!);
      if (s.pinned) memFreeHost(s.pinned.ptr);
    }
  }
}

let ring: StagingRing | undefined;
let stream: CUstream | undefined;
/** Uploads still packing (async ones); a run waits for them before it launches. */
const inFlight = new Set<Promise<void>>();

function usePinned(): boolean {
  return setting('KILN_CUDA_PINNED');
}

/** The staging ring, replaced by one of bigger slots when a batch wants more. */
function stagingRing(slotBytes: number): StagingRing {
  if (ring && ring.slotBytes >= slotBytes) return ring;
  ring?.retire();
  stream ??= streamCreate(0);
  ring = new StagingRing(
    [0, 1].map(() => {
      if (usePinned()) {
        try {
          const pinned = memHostAlloc(slotBytes);
          return { host: pinned.bytes, pinned, event: eventCreate(2 /* CU_EVENT_DISABLE_TIMING */), busy: false };
        } catch {
          // No page-locked memory for us (a locked-memory limit, say): ordinary memory, synchronous copies.
        }
      }
      return { host: new Uint8Array(slotBytes), busy: false };
    }),
  );
  return ring;
}

/** Waits until the slot's last copy completed, so it may be written. */
function claim(slot: Slot): void {
  if (!slot.busy) return;
  eventSynchronize(slot.event!);
  slot.busy = false;
}

function bytesOf(a: AnyTypedArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The parameters of `params` with host data and no device copy yet, each once. */
function pending(params: Iterable<NDArray>): { a: NDArray; host: Uint8Array }[] {
  const out: { a: NDArray; host: Uint8Array }[] = [];
  const seen = new Set<NDArray>();
  for (const a of params) {
    if (seen.has(a) || copies.has(a) || a.deviceData() !== undefined) continue;
    seen.add(a);
    const host = a.hostData();
    if (host !== undefined) out.push({ a, host: bytesOf(host) });
  }
  return out;
}

/**
 * Lays the batch out in one device block, registers each parameter's copy, and returns the
 * steps that copy it: each step fills one staging slot and sends it. Registration comes first
 * so that a second upload of the same parameters (another variant's program) finds them.
 */
function* uploadSteps(params: Iterable<NDArray>, direct = false): Generator<CopyPart[], void, void> {
  const todo = pending(params);
  if (todo.length === 0) return;
  // Weights mapped from their file (external_data.ts): an upload must not read pages a
  // truncation took away, so a file changed since it was mapped is an error naming it.
  assertUnchanged(todo.map((t) => t.host));
  let total = 0;
  const offsets = todo.map((t) => {
    const at = total;
    total += Math.ceil(Math.max(t.host.byteLength, 1) / ALIGN) * ALIGN;
    return at;
  });
  const block = memAlloc(total);
  todo.forEach((t, i) => copies.set(t.a, block + offsets[i]!));
  if (direct) {
    // The staging slots belong to an upload in progress: synchronous copies from the host bytes.
    todo.forEach((t, i) => t.host.byteLength > 0 && memcpyHtoD(block + offsets[i]!, t.host));
    return;
  }
  const staging = stagingRing(Math.min(MAX_SLOT, Math.max(MIN_SLOT, 2 ** Math.ceil(Math.log2(Math.ceil(total / 2))))));
  staging.users++;
  try {
    const slots = staging.slots;
    let k = 0;
    let slot = slots[0]!;
    /** Where the slot's bytes go in the block, and how many it holds. */
    let slotStart = 0;
    let filled = 0;
    /** The host copies that fill the slot, made by the caller (on the pool's threads, or here) when yielded. */
    let parts: CopyPart[] = [];
    function* send(): Generator<CopyPart[], void, void> {
      if (filled === 0) return;
      if (parts.length > 0) yield parts;
      parts = [];
      if (slot.pinned) {
        memcpyHtoDAsync(block + slotStart, slot.host, stream!, filled);
        eventRecord(slot.event!, stream!);
        slot.busy = true;
      } else {
        memcpyHtoD(block + slotStart, slot.host, filled);
      }
      slotStart += filled;
      filled = 0;
      k = (k + 1) % slots.length;
      slot = slots[k]!;
      claim(slot);
    }
    claim(slot);
    for (let i = 0; i < todo.length; i++) {
      const src = todo[i]!.host;
      // The padding before this parameter is sent as whatever the slot held (never read).
      if (offsets[i]! - slotStart > slot.host.byteLength) yield* send();
      filled = offsets[i]! - slotStart;
      let done = 0;
      while (done < src.byteLength) {
        if (filled === slot.host.byteLength) yield* send();
        const n = Math.min(src.byteLength - done, slot.host.byteLength - filled);
        parts.push({ src: src.subarray(done, done + n), dst: slot.host.subarray(filled, filled + n) });
        filled += n;
        done += n;
      }
    }
    yield* send();
  } catch (e) {
    // The block is abandoned (it stays allocated); the parameters upload again next time.
    for (const t of todo) copies.delete(t.a);
    throw e;
  } finally {
    staging.release();
  }
}

/** The last upload started by uploadParams: the next one starts after it (they share the slots). */
let lastUpload: Promise<void> = Promise.resolve();

/**
 * Uploads the parameters that are not on the device yet. Each staging slot is filled on the
 * thread pool (host_copy.ts) while this thread goes on with other work (module loads), then
 * sent; the returned promise settles once every copy is enqueued. Uploads run one after
 * another: a later one skips what an earlier one registered.
 */
export function uploadParams(params: readonly NDArray[]): Promise<void> {
  const run = async (): Promise<void> => {
    const end = traceSpan('load', 'weights upload');
    try {
      const steps = uploadSteps(params);
      for (let s = steps.next(); !s.done; s = steps.next()) {
        try {
          const copying = copyParts(s.value);
          // Copied here (a small slot): still let other work in between slots.
          await (copying ?? new Promise<void>((r) => setImmediate(r)));
        } catch (e) {
          // Into the generator, so its cleanup runs: the parameters' registrations are dropped
          // (they upload again next time, never read as copies whose bytes did not arrive) and
          // the staging ring released. It rethrows e.
          steps.throw(e);
        }
      }
    } finally {
      end();
    }
  };
  const p = lastUpload.then(run);
  lastUpload = p.catch(() => {});
  inFlight.add(p);
  const forget = (): void => void inFlight.delete(p);
  p.then(forget, forget);
  return p;
}

/**
 * Uploads what is not on the device yet, now (a run whose parameters were not uploaded ahead):
 * through the staging slots, or, while an upload started by uploadParams holds them, with
 * synchronous copies from the host bytes.
 */
export function uploadParamsNow(params: Iterable<NDArray>): void {
  const steps = uploadSteps(params, inFlight.size > 0);
  for (let s = steps.next(); !s.done; s = steps.next()) copyHere(s.value);
}

/** Whether an upload started by uploadParams is still enqueuing its copies. */
export function uploadsInFlight(): boolean {
  return inFlight.size > 0;
}

/** Resolves once every upload started by uploadParams has enqueued its copies. */
export async function weightsEnqueued(): Promise<void> {
  while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
}

/** The device copy of a parameter, if it has one (uploaded or being uploaded). */
export function deviceCopyOf(a: NDArray): DevicePtr | undefined {
  return copies.get(a);
}
