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
// holds until the array is collected (an NDArray remembers it: addressOf); the call keeps
// every array it addresses alive until its kernels have run (the run is synchronous).
//
// A product whose kernel may read its B packed once (kernel meta `packB`, tiled_gemm.ts) has one
// more slot in its block: NULL (the kernel packs B per call) unless B is a parameter of an
// executable whose parameters are immutable (an ONNX model's weights), where each call writes
// the address of that weight's panels, packed on the first call that meets them
// (packed_weights.ts), and kept until the executable is disposed.

import { type AnyTypedArray, allocTyped, numbersToTyped, viewTyped } from '../../graph/dtype.js';
import { numel } from '../../graph/shape.js';
import { NDArray } from '../../graph/ndarray.js';
import type { Plan, PlanBuffer } from '../../schedule/plan.js';
import { type SizeFn, planSizes, shapeUnder, sizeFn } from '../../schedule/plan_sizes.js';
import { layOutSymbolicTemps } from '../../schedule/memory_plan.js';
import type { Executable, InstantiateOptions } from '../../schedule/backend.js';
import type { LoadedCKernel } from './loader.js';
import { traceSpan } from '../../observe/trace.js';
import { profileTable, profilingEnabled, stepLabel } from '../../observe/step_profile.js';
import { checkInputs } from '../../schedule/check_inputs.js';
import { assertUnchanged, mappedFileOf } from '../../graph/host_mapping.js';
import { setting } from '../../config/read.js';
import { type PackingKernel, packedPanels, releasePanels } from './packed_weights.js';

/** A kernel entry: `void name(void *const *args)`. */
type KernelFn = (args: BigUint64Array) => void;

/**
 * A buffer whose array comes with each call (input, parameter) or is made by it (output), or
 * a temporary of symbolic size, made again when the call's sizes change.
 */
interface CallBuffer {
  kind: 'input' | 'param' | 'output' | 'temp';
  /** Position among the inputs or the parameters. */
  index: number;
  /** For an output or temporary: its dtype and element count (of a symbolic one, per binding: `buffer`). */
  dtype: PlanBuffer['dtype'];
  numel: number;
  buffer: PlanBuffer;
  /** Where its address goes: indices into the executable's `blocks`, one per use by a step. */
  slots: number[];
}

/**
 * The address of `a`'s host data `t`, remembered on the array: inputs and parameters (a
 * model's weights) usually come back with every call, and outputs are often fed back in.
 */
function addressOf(a: NDArray, t: AnyTypedArray, address: (t: AnyTypedArray) => bigint): bigint {
  let p = a.cpuAddress;
  // A detached array (its buffer transferred) has no bytes left: never trust a remembered address for it.
  if (p === undefined || t.byteLength === 0) a.cpuAddress = p = address(t);
  return p;
}

export class CpuExecutable implements Executable {
  /** Every step's pointer block, one after another: step s's block is steps[s].block, a view of this. */
  private readonly blocks: BigUint64Array;
  private readonly steps: { fn: KernelFn; block: BigUint64Array }[];
  /** The buffers each call gives or makes that a step uses or the plan returns. */
  private readonly callBuffers: CallBuffer[];
  /** Each plan output: its index in callBuffers, else (a constant) -1; its buffer id, shape and dtype. */
  private readonly outputs: { call: number; id: number; shape: number[]; dtype: PlanBuffer['dtype'] }[];
  private readonly address: (t: AnyTypedArray) => bigint;
  /**
   * The temporaries' arena views and the constants, by buffer id. The blocks hold only their
   * addresses, so the executable holds the arrays: collected, their memory would be freed
   * under the kernels.
   */
  private readonly fixed: (AnyTypedArray | undefined)[];
  /** A symbolic plan's size arguments: each step's slots after its pointers, with the symbol each takes. */
  private readonly sizeSlots: { slot: number; name: string }[] = [];
  /**
   * Products reading an immutable parameter as a B packed once: the parameter, B's slot, the
   * packed-B slot, how the kernel packs, and (a symbolic M) which calls run the tile.
   */
  private readonly packedSteps: { param: number; bSlot: number; slot: number; kernel: PackingKernel; when?: { rows: SizeFn; above: number } }[] = [];
  /** The weights' panels this executable holds (released by dispose): kernel keys by weight. */
  private readonly panelsHeld = new Map<NDArray, Set<string>>();
  /** The binding the symbolic temporaries were laid out for, and their views (by call buffer). */
  private tempsFor = '';
  private readonly temps = new Map<number, { t: AnyTypedArray; address: bigint }>();
  /**
   * The symbolic temporaries' arena: one block, the temporaries placed for the current sizes as
   * the static ones are (sharing bytes where their lifetimes allow, schedule/memory_plan.ts),
   * grown when a call's sizes need more (never shrunk, so sizes that come and go reuse it).
   */
  private symArena = new ArrayBuffer(0);

  constructor(
    private readonly plan: Plan,
    loaded: readonly LoadedCKernel[],
    how: InstantiateOptions = {},
  ) {
    const fns = plan.kernels.map((pk, i) => loaded[i]!.lib.func(pk.name, 'void', ['void *']) as KernelFn);
    // A plan with no kernels addresses nothing.
    this.address = loaded[0]?.address ?? (() => 0n);
    const arena = new ArrayBuffer(Math.max(plan.arenaBytes, 8));
    // Temporaries and constants: made once, here; the blocks hold their addresses from now on.
    const fixed = (this.fixed = plan.buffers.map((b) => fixedBuffer(b, arena)));
    const fixedAddress = new Map<number, bigint>();
    const callIndex = new Map<number, number>();
    this.callBuffers = [];
    const callBuffer = (id: number): CallBuffer => {
      let i = callIndex.get(id);
      if (i === undefined) {
        const b = plan.buffers[id]!;
        callIndex.set(id, (i = this.callBuffers.length));
        this.callBuffers.push({ kind: b.kind as CallBuffer['kind'], index: b.index ?? -1, dtype: b.dtype, numel: numel(b.shape), buffer: b, slots: [] });
      }
      return this.callBuffers[i]!;
    };
    const isCall = (id: number) => fixed[id] === undefined;
    // An ArrayBuffer of its own: its memory is off V8's heap, so a block never moves.
    const meta = (s: Plan['steps'][number]) => {
      const k = plan.kernels[s.kernel]!;
      return k.backend === 'c' ? k.meta : undefined;
    };
    const packB = (s: Plan['steps'][number]) => meta(s)?.packB;
    const packWeights = how.immutableParams === true && setting('KILN_CPU_PACK_WEIGHTS');
    const total = plan.steps.reduce((n, s) => n + s.args.length + (s.sizes?.length ?? 0) + (packB(s) === undefined ? 0 : 1), 0);
    this.blocks = new BigUint64Array(new ArrayBuffer(Math.max(total, 1) * 8));
    let at = 0;
    this.steps = plan.steps.map((s) => {
      const start = at;
      for (const id of s.args) {
        if (isCall(id)) {
          callBuffer(id).slots.push(at);
        } else {
          let a = fixedAddress.get(id);
          if (a === undefined) fixedAddress.set(id, (a = this.address(fixed[id]!)));
          this.blocks[at] = a;
        }
        at++;
      }
      for (const name of s.sizes ?? []) this.sizeSlots.push({ slot: at++, name });
      const b = packB(s);
      if (b !== undefined) {
        // The packed-B slot: NULL (packed per call) unless B is an immutable parameter.
        const bBuf = plan.buffers[s.args[b]!]!;
        const when = meta(s)?.packWhen;
        if (packWeights && bBuf.kind === 'param') {
          this.packedSteps.push({
            param: bBuf.index!,
            bSlot: start + b,
            slot: at,
            kernel: packingKernel(plan.kernels[s.kernel]!, loaded[s.kernel]!, this.blocks.subarray(start, at + 1)),
            ...(when ? { when: { rows: sizeFn(when.rows), above: when.above } } : {}),
          });
        }
        at++;
      }
      return { fn: fns[s.kernel]!, block: this.blocks.subarray(start, at) };
    });
    this.outputs = plan.outputs.map((id) => {
      const b = plan.buffers[id]!;
      // An output no step writes (nothing to compute) still gets its array: a call buffer with no slots.
      return { call: isCall(id) ? this.callBuffers.indexOf(callBuffer(id)) : -1, id, shape: b.shape, dtype: b.dtype };
    });
  }

  /** Offsets of the symbolic temporaries under `binding`, the arena grown to hold them, and their views. */
  private layOutTemps(binding: ReadonlyMap<string, number>, sizes: ReturnType<typeof planSizes>): void {
    const { offsets, bytes } = layOutSymbolicTemps(this.plan, binding, SYM_ALIGN);
    if (bytes > this.symArena.byteLength) this.symArena = new ArrayBuffer(bytes);
    this.temps.clear();
    this.callBuffers.forEach((cb, i) => {
      if (cb.kind !== 'temp') return;
      const n = Math.max(numel(shapeUnder(sizes.buffers.get(cb.buffer.id)!, binding)), 1);
      const t = viewTyped(cb.dtype, this.symArena, offsets.get(cb.buffer.id)!, n);
      this.temps.set(i, { t, address: this.address(t) });
    });
  }

  /** KILN_PROFILE: each kernel call timed by the host clock into the CPU table. */
  private runProfiled(): void {
    const table = profileTable('cpu');
    for (const [si, step] of this.steps.entries()) {
      const t0 = performance.now();
      step.fn(step.block);
      const k = this.plan.steps[si]!.kernel;
      table.add(stepLabel(this.plan.kernels[k]!.name, this.plan.info[k]), performance.now() - t0);
    }
    table.endRun();
  }

  async run(inputs: readonly NDArray[], params: readonly NDArray[]): Promise<NDArray[]> {
    const binding = checkInputs(this.plan, inputs, params);
    const end = traceSpan('run', 'cpu plan');
    const symbolic = binding.size > 0;
    const sizes = symbolic ? planSizes(this.plan) : undefined;
    let bindingKey = '';
    if (symbolic) {
      for (const v of binding.values()) bindingKey += `${v},`;
      if (bindingKey !== this.tempsFor) {
        // New sizes: the size arguments and the symbolic temporaries, once per change of sizes.
        for (const s of this.sizeSlots) this.blocks[s.slot] = BigInt(binding.get(s.name)!);
        this.layOutTemps(binding, sizes!);
        this.tempsFor = bindingKey;
      }
    }
    const blocks = this.blocks;
    const cbs = this.callBuffers;
    const arrays = new Array<AnyTypedArray>(cbs.length);
    const addresses = new Array<bigint>(cbs.length);
    let mapped: AnyTypedArray[] | undefined;
    for (let i = 0; i < cbs.length; i++) {
      const cb = cbs[i]!;
      let t: AnyTypedArray;
      let address: bigint;
      if (cb.kind === 'output') {
        t = allocTyped(cb.dtype, symbolic && cb.buffer.dims ? numel(shapeUnder(sizes!.buffers.get(cb.buffer.id)!, binding)) : cb.numel);
        address = this.address(t);
      } else if (cb.kind === 'temp') {
        const made = this.temps.get(i)!;
        t = made.t;
        address = made.address;
      } else {
        const a = (cb.kind === 'input' ? inputs : params)[cb.index]!;
        t = a.toTypedArraySync();
        address = addressOf(a, t, this.address);
        if (cb.kind === 'param' && mappedFileOf(t) !== undefined) (mapped ??= []).push(t);
      }
      arrays[i] = t;
      addresses[i] = address;
      const slots = cb.slots;
      for (let j = 0; j < slots.length; j++) blocks[slots[j]!] = address;
    }
    // Weights mapped from a file (an ONNX model's external data) are read in place: a file
    // changed since it was mapped is an error here, before a kernel reads a page it lost.
    if (mapped !== undefined) assertUnchanged(mapped);
    for (const ps of this.packedSteps) {
      // A call of few rows takes the few-row kernels, which read B in place: NULL, nothing packed
      // (a program that only ever runs few rows, a decode loop, never holds panels).
      if (ps.when !== undefined && ps.when.rows(binding) <= ps.when.above) {
        blocks[ps.slot] = 0n;
        continue;
      }
      // The weight's panels for this kernel (packed now, the first time), by the weight's NDArray.
      const w = params[ps.param]!;
      blocks[ps.slot] = packedPanels(w, blocks[ps.bSlot]!, ps.kernel, this, this.address);
      let keys = this.panelsHeld.get(w);
      if (keys === undefined) this.panelsHeld.set(w, (keys = new Set()));
      keys.add(ps.kernel.key);
    }
    if (PROFILE) this.runProfiled();
    else for (const step of this.steps) step.fn(step.block);
    end();
    return this.outputs.map((o) => {
      if (o.call < 0) return NDArray.from(this.fixed[o.id]!, o.shape, { dtype: o.dtype });
      const t = arrays[o.call]!;
      const dims = symbolic ? sizes!.buffers.get(o.id) : undefined;
      const out = NDArray.from(t, dims ? shapeUnder(dims, binding) : o.shape, { dtype: o.dtype });
      // The array wraps t itself (allocTyped made it of the dtype's own kind), so t's address is its data's.
      if (out.hostData() === t) out.cpuAddress = addresses[o.call];
      return out;
    });
  }

  /** Releases the weights' panels this executable packed or shared (packed_weights.ts); the rest is V8's to collect. */
  dispose(): void {
    for (const [w, keys] of this.panelsHeld) for (const key of keys) releasePanels(w, key, this);
    this.panelsHeld.clear();
  }
}

/**
 * How the kernel of plan kernel `pk` packs a weight (its `_packed_floats` and `_packb`,
 * tiled_gemm.ts): B read at its slot of the step's `block` (which the call has filled), the
 * panels written at the address put in the block's last slot, the packed-B one.
 */
function packingKernel(pk: Plan['kernels'][number], lib: LoadedCKernel, block: BigUint64Array): PackingKernel {
  const packb = lib.lib.func(`${pk.name}_packb`, 'void', ['void *']) as KernelFn;
  const floats = lib.lib.func(`${pk.name}_packed_floats`, 'int64_t', []) as () => number | bigint;
  return {
    key: pk.key,
    get floats() {
      return Number(floats());
    },
    pack(address) {
      block[block.length - 1] = address;
      packb(block);
    },
  };
}

const SYM_ALIGN = 64;
const PROFILE = profilingEnabled();

function fixedBuffer(b: PlanBuffer, arena: ArrayBuffer): AnyTypedArray | undefined {
  // A temporary of symbolic size is made per binding (a call buffer).
  if (b.kind === 'temp' && b.dims) return undefined;
  if (b.kind === 'temp') return viewTyped(b.dtype, arena, b.offset!, numel(b.shape));
  // Constants are kept as numbers in the plan (half types as values, encoded here).
  if (b.kind === 'const') return numbersToTyped(b.dtype, b.data!);
  return undefined;
}
