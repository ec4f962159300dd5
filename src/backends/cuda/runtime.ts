// Runs a plan on the GPU. Kernels launch on the default stream in plan order; temporaries
// live in one device arena per program (the memory plan's offsets), constants and captured
// parameters are uploaded once, host inputs are copied in per call, and outputs stay on the
// device until toTypedArray() (through the caching allocator, freed when collected).

import { assertUnchanged } from '../../frontend/host_mapping.js';
import { type AnyTypedArray, allocTyped, byteSize, numbersToTyped } from '../../graph/dtype.js';
import { numel } from '../../graph/shape.js';
import { NDArray, type DeviceStorage } from '../../frontend/ndarray.js';
import type { Plan, PlanBuffer } from '../../schedule/plan.js';
import { checkInputs } from '../../schedule/check_inputs.js';
import { traceSpan } from '../../observe/trace.js';
import type { Executable } from '../backend.js';
import { deviceAllocator } from './allocator.js';
import type { CudaKernelMeta, GemmMeta } from './kernel_text.js';
import type { Cublas } from './cublas.js';
import { type DevicePtr, initCuda, memcpyDtoH, memcpyHtoD, memsetD32 } from './driver.js';
import { type PreparedLaunch, prepareLaunch } from './launch.js';
import type { LoadedCudaKernel } from './loader.js';

const alloc = () => deviceAllocator();
const POISON = process.env.KILN_POISON_OUTPUTS === '1';

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

/** Device copies of captured parameters, uploaded once per NDArray object. */
const paramCopies = new WeakMap<NDArray, DevicePtr>();

/** Parameters up to this size are uploaded together (see uploadSmallParams); bigger ones alone. */
const PARAM_BATCH_MAX_BYTES = 1 << 20;
/** Each parameter in a shared upload starts on this boundary (float4 and wider loads need 16 B). */
const PARAM_ALIGN = 256;

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
  /** The parameter list uploadSmallParams last went through. */
  private paramsChecked: readonly NDArray[] | undefined;
  private readonly cublas: Cublas | undefined;

  constructor(
    private readonly plan: Plan,
    loaded: readonly LoadedCudaKernel[],
    /** The cuBLAS handle, for plans with cuBLAS products (gemm meta). */
    cublas: Cublas | undefined,
  ) {
    initCuda();
    this.metas = loaded.map((l) => l.meta as CudaKernelMeta);
    this.launches = loaded.map((l) => {
      const m = l.meta as CudaKernelMeta;
      // A kernel with a pointer table takes the table, then its workspace if it has one.
      const n = m.pointerTable ? (m.workspace ? 2 : 1) : m.params + (m.gemm || m.workspace ? 1 : 0);
      return prepareLaunch(l.fn, new Array(n).fill('ptr'));
    });
    const arena = plan.arenaBytes > 0 ? alloc().alloc(plan.arenaBytes) : 0;
    this.fixed = plan.buffers.map((b) => {
      if (b.kind === 'temp') return arena + b.offset!;
      if (b.kind === 'const') {
        // Constants are kept as numbers in the plan (half types as values, encoded here).
        const host = numbersToTyped(b.dtype, b.data!);
        const p = alloc().alloc(Math.max(host.byteLength, 4));
        if (host.byteLength) memcpyHtoD(p, host);
        return p;
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
      if (m.pointerTable) this.tables.set(i, new PointerTable(m.params + (m.gemm ? 1 : 0)));
    });
    if (this.metas.some((m) => m.gemm) && cublas === undefined) throw new Error('CudaExecutable: this plan has cuBLAS products but no cuBLAS handle was given');
    this.cublas = cublas;
  }

  async run(inputs: readonly NDArray[], params: readonly NDArray[]): Promise<NDArray[]> {
    checkInputs(this.plan, inputs, params);
    const end = traceSpan('run', 'cuda plan');
    this.uploadSmallParams(params);
    const uploaded: DevicePtr[] = [];
    const outputs = new Map<number, DeviceBuffer>();
    const ptrs = this.plan.buffers.map((b, i) => {
      switch (b.kind) {
        case 'input':
          return this.deviceCopy(inputs[b.index!]!, uploaded);
        case 'param':
          return this.paramCopy(params[b.index!]!);
        case 'output': {
          const n = numel(b.shape);
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
          return this.fixed[i]!;
      }
    });
    this.plan.steps.forEach((step, si) => {
      const meta = this.metas[step.kernel]!;
      const args = step.args.map((a) => ptrs[a]!);
      if (meta.gemm?.direct !== undefined) {
        // The product is the result: cuBLAS writes it in place, nothing else to launch.
        this.gemm(meta.gemm, args, args[meta.gemm.direct]!);
        return;
      }
      if (meta.gemm) {
        const scratch = this.scratch.get(si)!;
        this.gemm(meta.gemm, args, scratch);
        args.push(scratch);
      }
      const { grid, block, shared } = meta.launch;
      if (grid[0] * grid[1] * grid[2] === 0) return;
      const launchArgs = meta.pointerTable ? [this.tables.get(si)!.write(args)] : args;
      if (meta.workspace) launchArgs.push(this.scratch.get(si)!);
      this.launches[step.kernel]!.launch(launchArgs, grid, block, shared);
    });
    // Stream order makes it safe to recycle the input copies now: later work on the default
    // stream runs after these kernels.
    for (const p of uploaded) alloc().free(p);
    end();
    return this.plan.outputs.map((o) => {
      const b = this.plan.buffers[o]!;
      return NDArray.fromDevice(outputs.get(o)!, b.shape, b.dtype);
    });
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
    const host = a.toTypedArraySync();
    const p = alloc().alloc(Math.max(host.byteLength, 4));
    if (host.byteLength) memcpyHtoD(p, host);
    uploaded.push(p);
    return p;
  }

  /**
   * Uploads, in one copy, every small host parameter the plan uses that has no device copy
   * yet. A warm start of 100 small layers made 200 cuMemAlloc + cuMemcpyHtoD calls for 2 KB
   * each (~2 ms of its first run). The copies share one block which, like every parameter
   * copy, stays for the life of the process.
   */
  private uploadSmallParams(params: readonly NDArray[]): void {
    // A program passes the same parameter list on every call: checked once, not per call.
    if (params === this.paramsChecked) return;
    this.paramsChecked = params;
    const todo: { a: NDArray; host: AnyTypedArray; offset: number }[] = [];
    let bytes = 0;
    const seen = new Set<NDArray>();
    for (const b of this.plan.buffers) {
      if (b.kind !== 'param') continue;
      const a = params[b.index!]!;
      if (seen.has(a) || paramCopies.has(a) || a.deviceData() !== undefined) continue;
      seen.add(a);
      const host = a.hostData();
      if (host === undefined || host.byteLength > PARAM_BATCH_MAX_BYTES) continue;
      todo.push({ a, host, offset: bytes });
      bytes += Math.ceil(Math.max(host.byteLength, 4) / PARAM_ALIGN) * PARAM_ALIGN;
    }
    if (todo.length < 2) return;
    assertUnchanged(todo.map((t) => t.host));
    const staging = new Uint8Array(bytes);
    for (const t of todo) staging.set(new Uint8Array(t.host.buffer, t.host.byteOffset, t.host.byteLength), t.offset);
    const block = alloc().alloc(bytes);
    memcpyHtoD(block, staging);
    for (const t of todo) paramCopies.set(t.a, block + t.offset);
  }

  private paramCopy(a: NDArray): DevicePtr {
    const dev = a.deviceData();
    if (dev instanceof DeviceBuffer) return dev.ptr;
    let p = paramCopies.get(a);
    if (p === undefined) {
      const host = a.toTypedArraySync();
      // A weight mapped from its file: the upload must not read pages a truncation took away.
      assertUnchanged([host]);
      p = alloc().alloc(Math.max(host.byteLength, 4));
      if (host.byteLength) memcpyHtoD(p, host);
      paramCopies.set(a, p);
    }
    return p;
  }
}
