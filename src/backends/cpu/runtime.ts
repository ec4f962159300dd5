// Runs a plan on the CPU: kernels are koffi functions over host buffers. Inputs and
// parameters are passed in place (no copy), temporaries live in one arena allocated once per
// program (dead buffers' bytes are reused, as the memory plan says), and each output is a
// fresh typed array that becomes the returned NDArray.
//
// Every kernel takes one argument, the block of its buffer pointers (kernel_text.ts). Each
// plan step's block is made once, when the plan is instantiated, with the addresses of its
// temporaries and constants, which never move (the arena and the constants are allocated
// here, once). A call writes only the addresses of the buffers it is given or makes (inputs,
// parameters, outputs), once per buffer however many steps read it, then calls each kernel
// with its block: no argument is converted per step. An address is taken with koffi.address
// (handed over by the loader: this module is in the library bundle, which never loads koffi),
// which also moves a small typed array's data off V8's heap if it was there, so the address
// holds until the array is collected; the call keeps every array it addresses alive until its
// kernels have run (the run is synchronous).

import { type AnyTypedArray, allocTyped, numbersToTyped, viewTyped } from '../../graph/dtype.js';
import { numel } from '../../graph/shape.js';
import { NDArray } from '../../frontend/ndarray.js';
import type { Plan, PlanBuffer } from '../../schedule/plan.js';
import type { Executable } from '../backend.js';
import type { LoadedCKernel } from './loader.js';
import { traceSpan } from '../../observe/trace.js';
import { checkInputs } from '../../schedule/check_inputs.js';

/** A kernel entry: `void name(void *const *args)`. */
type KernelFn = (args: BigUint64Array) => void;

/** A buffer whose array comes with each call (input, parameter) or is made by it (output). */
interface CallBuffer {
  id: number;
  kind: 'input' | 'param' | 'output';
  /** Where its address goes: indices into the executable's `blocks`, one per use by a step. */
  slots: number[];
}

/**
 * Parameters' addresses by array: a model's weights come back with every call, so their
 * addresses are looked up rather than taken again. Weak: the cache never keeps an array alive.
 * Inputs and outputs are usually new arrays each call and take koffi.address directly.
 */
const paramAddresses = new WeakMap<AnyTypedArray, bigint>();

function paramAddress(t: AnyTypedArray, address: (t: AnyTypedArray) => bigint): bigint {
  // A detached array (its buffer transferred) has no bytes left: never trust a cached address for it.
  if (t.byteLength === 0) return address(t);
  let a = paramAddresses.get(t);
  if (a === undefined) {
    a = address(t);
    paramAddresses.set(t, a);
  }
  return a;
}

export class CpuExecutable implements Executable {
  private readonly fns: KernelFn[];
  private readonly fixed: (AnyTypedArray | undefined)[];
  /** Every step's pointer block, one after another: step s's block is steps[s].block, a view of this. */
  private readonly blocks: BigUint64Array;
  private readonly steps: { fn: KernelFn; block: BigUint64Array }[];
  private readonly callBuffers: CallBuffer[];
  private readonly address: (t: AnyTypedArray) => bigint;

  constructor(
    private readonly plan: Plan,
    loaded: readonly LoadedCKernel[],
  ) {
    this.fns = plan.kernels.map((pk, i) => loaded[i]!.lib.func(pk.name, 'void', ['void *']) as KernelFn);
    // A plan with no kernels addresses nothing.
    this.address = loaded[0]?.address ?? (() => 0n);
    const arena = new ArrayBuffer(Math.max(plan.arenaBytes, 8));
    this.fixed = plan.buffers.map((b) => fixedBuffer(b, arena));
    // An ArrayBuffer of its own: its memory is off V8's heap, so a block never moves.
    const total = plan.steps.reduce((n, s) => n + s.args.length, 0);
    this.blocks = new BigUint64Array(new ArrayBuffer(Math.max(total, 1) * 8));
    const fixedAddress = new Map<number, bigint>();
    const byId = new Map<number, CallBuffer>();
    let at = 0;
    this.steps = plan.steps.map((s) => {
      const start = at;
      for (const id of s.args) {
        const b = plan.buffers[id]!;
        if (b.kind === 'input' || b.kind === 'param' || b.kind === 'output') {
          let cb = byId.get(id);
          if (cb === undefined) byId.set(id, (cb = { id, kind: b.kind, slots: [] }));
          cb.slots.push(at);
        } else {
          let a = fixedAddress.get(id);
          if (a === undefined) fixedAddress.set(id, (a = this.address(this.fixed[id]!)));
          this.blocks[at] = a;
        }
        at++;
      }
      return { fn: this.fns[s.kernel]!, block: this.blocks.subarray(start, at) };
    });
    this.callBuffers = [...byId.values()];
  }

  async run(inputs: readonly NDArray[], params: readonly NDArray[]): Promise<NDArray[]> {
    checkInputs(this.plan, inputs, params);
    const end = traceSpan('run', 'cpu plan');
    const bufs: (AnyTypedArray | undefined)[] = this.fixed.slice();
    const blocks = this.blocks;
    for (const cb of this.callBuffers) {
      const t = this.callArray(cb.id, inputs, params);
      const address = cb.kind === 'param' ? paramAddress(t, this.address) : this.address(t);
      bufs[cb.id] = t;
      for (const slot of cb.slots) blocks[slot] = address;
    }
    for (const step of this.steps) step.fn(step.block);
    end();
    return this.plan.outputs.map((o) => {
      const b = this.plan.buffers[o]!;
      // A graph output no step reads or writes (nothing to compute) still gets its array.
      const t = bufs[o] ?? (bufs[o] = this.callArray(o, inputs, params));
      return NDArray.from(t, b.shape, { dtype: b.dtype });
    });
  }

  /** The array of buffer `id` for this call: the input or parameter given, or a fresh output. */
  private callArray(id: number, inputs: readonly NDArray[], params: readonly NDArray[]): AnyTypedArray {
    const b = this.plan.buffers[id]!;
    if (b.kind === 'input') return inputs[b.index!]!.toTypedArraySync();
    if (b.kind === 'param') return params[b.index!]!.toTypedArraySync();
    return allocTyped(b.dtype, numel(b.shape));
  }
}

function fixedBuffer(b: PlanBuffer, arena: ArrayBuffer): AnyTypedArray | undefined {
  if (b.kind === 'temp') return viewTyped(b.dtype, arena, b.offset!, numel(b.shape));
  // Constants are kept as numbers in the plan (half types as values, encoded here).
  if (b.kind === 'const') return numbersToTyped(b.dtype, b.data!);
  return undefined;
}
