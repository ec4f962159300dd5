// Runs a plan on the GPU. Kernels launch on the default stream in plan order; temporaries
// live in one device arena per program (the memory plan's offsets), constants are uploaded
// once, captured parameters once per NDArray for the process (weights.ts: one block per batch,
// shared by every program binding them), host inputs are copied in per call, and outputs stay
// on the device until toTypedArray() (through the caching allocator, freed when collected).
//
// A plan over symbolic sizes (schedule/plan_sizes.ts binds each call's sizes and checks its
// guards) keeps, per binding, what its sizes decide: each symbolic kernel's grid, block, size
// arguments and cuBLAS product (sym_launch.ts), its temporaries' offsets in a second device
// arena (placed as the static ones are, sharing bytes where their lifetimes allow:
// schedule/memory_plan.ts; the arena grown when a call's sizes need more, never shrunk) and
// the products' scratch; all of it is recomputed only when a call's sizes differ from the last
// call's. Outputs are sized per call from their formulas.

import { type AnyTypedArray, allocTyped, byteSize, numbersToTyped } from '../../graph/dtype.js';
import { numel } from '../../graph/shape.js';
import { NDArray, type DeviceStorage } from '../../graph/ndarray.js';
import type { Plan, PlanBuffer } from '../../schedule/plan.js';
import { checkInputs } from '../../schedule/check_inputs.js';
import { planSizes, shapeUnder } from '../../schedule/plan_sizes.js';
import { layOutSymbolicTemps } from '../../schedule/memory_plan.js';
import type { Binding } from '../../graph/sym.js';
import { type SymLaunch, symLaunchFn } from './sym_launch.js';
import { setting } from '../../config/read.js';
import { traceSpan } from '../../observe/trace.js';
import type { Executable } from '../../schedule/backend.js';
import { deviceAllocator } from './allocator.js';
import type { CudaKernelMeta, GemmMeta } from './kernel_text.js';
import type { Cublas } from './cublas.js';
import { type DevicePtr, initCuda, memcpyDtoH, memcpyHtoD, memsetD32 } from './driver.js';
import { type PreparedLaunch, prepareLaunch } from './launch.js';
import { deviceCopyOf, uploadParamsNow, uploadsInFlight, weightsEnqueued } from './weights.js';
import type { LoadedCudaKernel } from './loader.js';
import { RunProfile } from './step_profile.js';
import { type StepLabel, profilingEnabled, stepLabel } from '../../observe/step_profile.js';

const alloc = () => deviceAllocator();
const POISON = setting('KILN_POISON_OUTPUTS');
const PROFILE = profilingEnabled();

/** Frees device outputs the user dropped without calling release(). */
const outputsFinalizer = new FinalizationRegistry<{ ptr: DevicePtr; released: boolean }>((h) => {
  if (!h.released) {
    h.released = true;
    alloc().free(h.ptr);
  }
});

class DeviceBuffer implements DeviceStorage {
  readonly device = 'cuda' as const;
  private readonly handle: { ptr: DevicePtr; released: boolean };
  constructor(
    readonly ptr: DevicePtr,
    private readonly dtype: PlanBuffer['dtype'],
    private readonly n: number,
  ) {
    this.handle = { ptr, released: false };
    outputsFinalizer.register(this, this.handle, this);
  }
  async read(): Promise<AnyTypedArray> {
    const host = allocTyped(this.dtype, this.n);
    if (this.n > 0) memcpyDtoH(host, this.ptr, this.n * byteSize(this.dtype));
    return host;
  }
  release(): void {
    if (this.handle.released) return;
    this.handle.released = true;
    outputsFinalizer.unregister(this);
    alloc().free(this.ptr);
  }
}

/**
 * A kernel's buffer pointers in device memory, for a kernel with more than fit in kernel
 * parameter space (kernel_text.ts). Copied to the device only when they changed since the
 * last launch (inputs' device copies and outputs are new allocations, temporaries are not).
 * A copy from pageable memory waits for the stream's earlier work first (the CUDA driver API's
 * synchronous memcpy), so it never rewrites a table a queued launch still reads.
 */
class PointerTable {
  readonly ptr: DevicePtr;
  private readonly words: Uint32Array;
  private copied = false;

  constructor(private readonly length: number) {
    this.ptr = alloc().alloc(Math.max(8 * length, 8));
    this.words = new Uint32Array(2 * length);
  }

  /** Puts the first `length` of `ptrs` in the table; returns the table's device address. */
  write(ptrs: readonly DevicePtr[]): DevicePtr {
    let changed = !this.copied;
    for (let i = 0; i < this.length; i++) {
      const v = ptrs[i]!;
      const lo = v >>> 0;
      const hi = Math.floor(v / 4294967296) >>> 0;
      if (this.words[2 * i] !== lo || this.words[2 * i + 1] !== hi) {
        this.words[2 * i] = lo;
        this.words[2 * i + 1] = hi;
        changed = true;
      }
    }
    if (changed) memcpyHtoD(this.ptr, this.words);
    this.copied = true;
    return this.ptr;
  }
}

export class CudaExecutable implements Executable {
  private readonly launches: PreparedLaunch[];
  private readonly metas: CudaKernelMeta[];
  private readonly fixed: (DevicePtr | undefined)[];
  private readonly scratch = new Map<number, DevicePtr>();
  /** By step: the device array of buffer pointers of a kernel with too many for parameters. */
  private readonly tables = new Map<number, PointerTable>();
  /** The parameter list last checked for uploads. */
  private paramsChecked: readonly NDArray[] | undefined;
  private readonly cublas: Cublas | undefined;
  /** The temporaries' block (0: the plan has none). */
  private readonly arena: DevicePtr;
  private disposed = false;
  /** A symbolic kernel's launch under a binding, by kernel (undefined: static kernel). */
  private readonly symLaunchFns: (((b: Binding) => SymLaunch) | undefined)[];
  /** The sizes the per-binding state below was made for ('' : none yet). */
  private sizesFor = '';
  /** Per step: its symbolic kernel's launch under the current binding. */
  private readonly stepLaunch: (SymLaunch | undefined)[] = [];
  /** The symbolic temporaries' arena and its size, and each one's offset under the current binding (by buffer id). */
  private symArena: DevicePtr = 0;
  private symArenaBytes = 0;
  private symOffsets = new Map<number, number>();
  /** Per step: the scratch of a symbolic cuBLAS product (grown when a call's product needs more). */
  private readonly symScratch = new Map<number, { ptr: DevicePtr; bytes: number }>();

  constructor(
    private readonly plan: Plan,
    loaded: readonly LoadedCudaKernel[],
    /** The cuBLAS handle, for plans with cuBLAS products (gemm meta). */
    cublas: Cublas | undefined,
  ) {
    initCuda();
    this.metas = loaded.map((l) => l.meta);
    this.launches = loaded.map((l) => {
      const m = l.meta;
      // A kernel with a pointer table takes the table, then its workspace if it has one; a
      // symbolic kernel then its sizes.
      const n = m.pointerTable ? (m.workspace ? 2 : 1) : m.params + (hasProduct(m) || m.workspace ? 1 : 0);
      return prepareLaunch(l.fn, [...new Array<'ptr'>(n).fill('ptr'), ...new Array<'i64'>(m.sym?.sizes.length ?? 0).fill('i64')]);
    });
    this.symLaunchFns = this.metas.map((m) => (m.sym ? symLaunchFn(m) : undefined));
    const arena = (this.arena = plan.arenaBytes > 0 ? alloc().alloc(plan.arenaBytes) : 0);
    this.fixed = plan.buffers.map((b) => {
      // A temporary of symbolic size lives in the symbolic arena, placed per binding.
      if (b.kind === 'temp' && b.dims) return undefined;
      if (b.kind === 'temp') return arena + b.offset!;
      if (b.kind === 'const') {
        // Constants are kept as numbers in the plan (half types as values, encoded here).
        return hostToDevice(numbersToTyped(b.dtype, b.data!));
      }
      return undefined;
    });
    plan.steps.forEach((s, i) => {
      const m = this.metas[s.kernel]!;
      const g = m.gemm;
      if (g && g.direct === undefined) this.scratch.set(i, alloc().alloc(g.batch * g.M * g.N * 4));
      if (m.workspace) {
        // Zeroed once: the kernel leaves its counters at zero again after every launch.
        const bytes = Math.ceil(m.workspace / 4) * 4;
        const p = alloc().alloc(bytes);
        memsetD32(p, 0, bytes / 4);
        this.scratch.set(i, p);
      }
      if (m.pointerTable) this.tables.set(i, new PointerTable(m.params + (hasProduct(m) ? 1 : 0)));
    });
    if (this.metas.some(hasProduct) && cublas === undefined) throw new Error('CudaExecutable: this plan has cuBLAS products but no cuBLAS handle was given');
    this.cublas = cublas;
  }

  /**
   * Returns the arena, constants, scratch and pointer tables to the allocator. Outputs already
   * returned stay valid (they are the caller's); parameters' device copies are shared by every
   * program binding the same NDArrays (weights.ts) and stay. Work already queued runs first:
   * the blocks are reused only by later work on the same stream.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.arena) alloc().free(this.arena);
    this.plan.buffers.forEach((b, i) => {
      if (b.kind === 'const') alloc().free(this.fixed[i]!);
    });
    for (const p of this.scratch.values()) alloc().free(p);
    for (const t of this.tables.values()) alloc().free(t.ptr);
    for (const p of this.symScratch.values()) alloc().free(p.ptr);
    if (this.symArena) alloc().free(this.symArena);
    this.symArena = 0;
    this.symScratch.clear();
    this.scratch.clear();
    this.tables.clear();
  }

  async run(inputs: readonly NDArray[], params: readonly NDArray[]): Promise<NDArray[]> {
    if (this.disposed) throw new Error('CudaExecutable: run after dispose()');
    const binding = checkInputs(this.plan, inputs, params);
    // Uploads started ahead (compileGraph, beside the module loads) enqueue their copies first.
    if (uploadsInFlight()) {
      await weightsEnqueued();
      // Disposed while waiting: its buffers are gone.
      if (this.disposed) throw new Error('CudaExecutable: disposed during run()');
    }
    const end = traceSpan('run', 'cuda plan');
    this.uploadParams(params);
    const symbolic = binding.size > 0;
    if (symbolic) {
      let key = '';
      for (const v of binding.values()) key += `${v},`;
      if (key !== this.sizesFor) {
        this.resize(binding);
        this.sizesFor = key;
      }
    }
    const sizes = symbolic ? planSizes(this.plan) : undefined;
    const uploaded: DevicePtr[] = [];
    const outputs = new Map<number, DeviceBuffer>();
    const ptrs = this.plan.buffers.map((b, i) => {
      switch (b.kind) {
        case 'input':
          return this.deviceCopy(inputs[b.index!]!, uploaded);
        case 'param':
          return this.paramCopy(params[b.index!]!);
        case 'output': {
          const n = numel(b.dims ? shapeUnder(sizes!.buffers.get(b.id)!, binding) : b.shape);
          // Whole 32-bit words, so the poison fill below stays inside (half buffers may hold an odd count).
          const bytes = Math.max(Math.ceil((n * byteSize(b.dtype)) / 4) * 4, 4);
          const d = new DeviceBuffer(alloc().alloc(bytes), b.dtype, n);
          // Tests poison outputs so an element no kernel wrote shows up: 0x7fc17fc1 is a NaN as
          // float32 and, in each 16-bit half, as float16 and as bfloat16.
          if (POISON) memsetD32(d.ptr, 0x7fc17fc1, bytes / 4);
          outputs.set(i, d);
          return d.ptr;
        }
        default:
          return this.fixed[i] ?? this.symArena + this.symOffsets.get(b.id)!;
      }
    });
    const profile = PROFILE ? new RunProfile() : undefined;
    this.plan.steps.forEach((step, si) => {
      profile?.begin();
      this.launchStep(step.kernel, si, step.args.map((a) => ptrs[a]!));
      profile?.step(this.stepLabel(step.kernel, si));
    });
    profile?.finish();
    // Stream order makes it safe to recycle the input copies now: later work on the default
    // stream runs after these kernels.
    for (const p of uploaded) alloc().free(p);
    end();
    return this.plan.outputs.map((o) => {
      const b = this.plan.buffers[o]!;
      return NDArray.fromDevice(outputs.get(o)!, b.dims ? shapeUnder(sizes!.buffers.get(b.id)!, binding) : b.shape, b.dtype);
    });
  }

  /**
   * What a new binding decides: each symbolic step's launch (grid, block, size arguments, cuBLAS
   * product), its products' scratch and the symbolic temporaries' offsets, the arena grown when
   * they need more. Blocks are freed and reallocated in stream order (allocator.ts): work queued
   * earlier still reads the old ones safely.
   */
  private resize(binding: Binding): void {
    this.plan.steps.forEach((step, si) => {
      const launch = this.symLaunchFns[step.kernel]?.(binding);
      this.stepLaunch[si] = launch;
      const g = launch?.gemm;
      if (g && g.direct === undefined) {
        const bytes = Math.max(g.batch * g.M * g.N * 4, 4);
        const have = this.symScratch.get(si);
        if (!have || have.bytes < bytes) {
          if (have) alloc().free(have.ptr);
          this.symScratch.set(si, { ptr: alloc().alloc(bytes), bytes });
        }
      }
    });
    const packed = layOutSymbolicTemps(this.plan, binding, SYM_ALIGN);
    this.symOffsets = packed.offsets;
    const total = packed.bytes;
    if (total > this.symArenaBytes) {
      if (this.symArena) alloc().free(this.symArena);
      this.symArena = alloc().alloc(total);
      this.symArenaBytes = total;
    }
  }

  /** One step of the plan: its cuBLAS product, if it has one, then its kernel. */
  private launchStep(kernel: number, si: number, args: DevicePtr[]): void {
    const meta = this.metas[kernel]!;
    const sym = this.stepLaunch[si];
    const gemm = meta.gemm ?? sym?.gemm;
    if (gemm?.direct !== undefined) {
      // The product is the result: cuBLAS writes it in place, nothing else to launch.
      this.gemm(gemm, args, args[gemm.direct]!);
      return;
    }
    if (gemm) {
      const scratch = sym ? this.symScratch.get(si)!.ptr : this.scratch.get(si)!;
      this.gemm(gemm, args, scratch);
      args.push(scratch);
    }
    const { grid, block } = sym ?? meta.launch;
    if (grid[0] * grid[1] * grid[2] === 0) return;
    const launchArgs = meta.pointerTable ? [this.tables.get(si)!.write(args)] : args;
    if (meta.workspace) launchArgs.push(this.scratch.get(si)!);
    if (sym) launchArgs.push(...sym.sizes);
    this.launches[kernel]!.launch(launchArgs, grid, block, meta.launch.shared);
  }

  /** KILN_PROFILE's name for a step's kernel: its name, kind, graph ops and cuBLAS shape. */
  private stepLabel(kernel: number, si: number): StepLabel {
    const g = this.metas[kernel]!.gemm ?? this.stepLaunch[si]?.gemm;
    const shape = g ? ` cublas ${g.batch}x${g.M}x${g.N}x${g.K}${g.direct !== undefined ? ' direct' : ''}` : '';
    return stepLabel(this.plan.kernels[kernel]!.name, this.plan.info[kernel], shape);
  }

  private gemm(g: GemmMeta, args: DevicePtr[], out: DevicePtr): void {
    const A = args[g.a.param]! + g.a.offset * 4;
    const B = args[g.b.param]! + g.b.offset * 4;
    this.cublas!.sgemmStridedBatched({
      M: g.M, N: g.N, K: g.K, A, B, C: out,
      transA: g.a.trans, transB: g.b.trans, lda: g.a.ld, ldb: g.b.ld, ldc: g.N,
      batch: g.batch, strideA: g.a.batchStride, strideB: g.b.batchStride, strideC: g.M * g.N,
    });
  }

  private deviceCopy(a: NDArray, uploaded: DevicePtr[]): DevicePtr {
    const dev = a.deviceData();
    if (dev) {
      if (!(dev instanceof DeviceBuffer)) throw new TypeError(`input on device '${dev.device}' cannot be used by a CUDA program`);
      return dev.ptr;
    }
    const p = hostToDevice(a.toTypedArraySync());
    uploaded.push(p);
    return p;
  }

  /** Uploads, in one batch, every host parameter the plan uses that has no device copy yet. */
  private uploadParams(params: readonly NDArray[]): void {
    // A program passes the same parameter list on every call: checked once, not per call.
    if (params === this.paramsChecked) return;
    uploadParamsNow(planParams(this.plan, params));
    this.paramsChecked = params;
  }

  private paramCopy(a: NDArray): DevicePtr {
    const dev = a.deviceData();
    if (dev instanceof DeviceBuffer) return dev.ptr;
    let p = deviceCopyOf(a);
    if (p === undefined) {
      uploadParamsNow([a]);
      p = deviceCopyOf(a)!;
    }
    return p;
  }
}

/** Byte alignment of each symbolic temporary in its arena (float4 loads need 16). */
const SYM_ALIGN = 256;

/** Whether a kernel runs a cuBLAS product first (its scratch is then one more pointer). */
function hasProduct(m: CudaKernelMeta): boolean {
  return m.gemm !== undefined || m.sym?.gemm !== undefined;
}

/** A fresh device block (at least 4 bytes, so an empty array still has an address) holding a copy of `host`. */
function hostToDevice(host: AnyTypedArray): DevicePtr {
  const p = alloc().alloc(Math.max(host.byteLength, 4));
  if (host.byteLength) memcpyHtoD(p, host);
  return p;
}

/**
 * A host array's copy on the GPU (the public toDevice): a program given it as an input reads it
 * where it is, with no copy per call, as PyTorch's `.cuda()` inputs. Freed by release() or when
 * collected, as outputs are.
 */
export function uploadArray(a: NDArray): NDArray {
  initCuda();
  const p = hostToDevice(a.toTypedArraySync());
  return NDArray.fromDevice(new DeviceBuffer(p, a.dtype, a.size), a.shape, a.dtype);
}

/** The parameters a plan reads (a program's list may hold some its plan no longer uses). */
export function planParams(plan: Plan, params: readonly NDArray[]): NDArray[] {
  return plan.buffers.filter((b) => b.kind === 'param').map((b) => params[b.index!]!);
}
