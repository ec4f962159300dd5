// Kernel launches with little host cost. cuLaunchKernel takes `void **kernelParams`: one
// pointer per argument, each to that argument's value. Building it per launch through koffi
// (arrays of pointers, marshalled each call) costs far more than the launch itself, so each
// (function, layout) gets a native block once: the pointer array, then one 8-byte slot per
// argument that the pointers already point to. A launch writes the values into the slots
// through typed-array views and makes a single koffi call: no allocation, no marshalling.
// cuLaunchKernel copies the values at launch time, so the slots may be rewritten at once.
import koffi from 'koffi';
import { CudaError, DEFAULT_STREAM, driverApi, type CUfunction, type CUstream, type DevicePtr } from './driver.js';

export type ArgKind = 'ptr' | 'i32' | 'i64' | 'f32';
export type KernelArg = { kind: 'ptr'; value: DevicePtr } | { kind: 'i32' | 'i64'; value: number } | { kind: 'f32'; value: number };
export type Dim3 = readonly [number, number, number];

const KIND_CODE: Record<ArgKind, number> = { ptr: 0, i64: 0, i32: 1, f32: 2 };

// Native blocks are freed when their ArgPack is collected (kernels live as long as the
// process in practice, so this is a backstop, not the common path).
const nativeBlocks = new FinalizationRegistry<unknown>((block) => koffi.free(block));

/**
 * The kernelParams block for one argument layout. Slots are 8 bytes each whatever the kind:
 * a pointer may point anywhere, and 8 keeps 64-bit values aligned.
 */
export class ArgPack {
  /** The `void **kernelParams` to pass to cuLaunchKernel. */
  readonly address: bigint;
  private readonly codes: Uint8Array;
  private readonly u32: Uint32Array;
  private readonly i32: Int32Array;
  private readonly f32: Float32Array;
  /** Index (in 32-bit words) of the first slot. */
  private readonly base: number;
  private block: unknown;

  constructor(readonly layout: readonly ArgKind[]) {
    const n = layout.length;
    this.codes = Uint8Array.from(layout, (k) => {
      const c = KIND_CODE[k];
      if (c === undefined) throw new TypeError(`unknown kernel argument kind '${String(k)}'`);
      return c;
    });
    const bytes = Math.max(8, 16 * n);
    this.block = koffi.alloc('uint8_t', bytes);
    this.address = koffi.address(this.block);
    const view = koffi.view(this.block, bytes);
    new Uint8Array(view).fill(0);
    const ptrs = new BigUint64Array(view, 0, n);
    for (let i = 0; i < n; i++) ptrs[i] = this.address + BigInt(8 * n + 8 * i);
    this.u32 = new Uint32Array(view);
    this.i32 = new Int32Array(view);
    this.f32 = new Float32Array(view);
    this.base = 2 * n;
    nativeBlocks.register(this, this.block, this);
  }

  /** Writes one value per argument, in layout order. Integers up to 2^53 in magnitude (i64, ptr). */
  set(values: ArrayLike<number>): void {
    const codes = this.codes;
    const n = codes.length;
    if (values.length !== n) throw new RangeError(`kernel takes ${n} arguments (${this.layout.join(', ')}), got ${values.length}`);
    for (let i = 0, w = this.base; i < n; i++, w += 2) {
      const v = values[i]!;
      switch (codes[i]) {
        case 0: // ptr, i64: two's complement little-endian halves, exact for |v| < 2^53
          this.u32[w] = v >>> 0;
          this.u32[w + 1] = Math.floor(v / 4294967296) >>> 0;
          break;
        case 1:
          this.i32[w] = v;
          break;
        default:
          this.f32[w] = v;
      }
    }
  }

  /** Frees the native block now (the pack must not be used afterwards). */
  dispose(): void {
    if (this.block === undefined) return;
    nativeBlocks.unregister(this);
    koffi.free(this.block);
    this.block = undefined;
  }
}

export interface PreparedLaunch {
  readonly layout: readonly ArgKind[];
  /** Enqueues the kernel; `values` in layout order (DevicePtr numbers for 'ptr'). */
  launch(values: ArrayLike<number>, grid: Dim3, block: Dim3, sharedBytes?: number, stream?: CUstream): void;
}

/** A fast launcher for `fn` with a fixed argument layout: a repeated launch allocates nothing. */
export function prepareLaunch(fn: CUfunction, layout: readonly ArgKind[]): PreparedLaunch {
  const pack = new ArgPack(layout);
  const cuLaunchKernel = driverApi().cuLaunchKernel;
  const params = pack.address;
  return {
    layout: pack.layout,
    launch(values, grid, block, sharedBytes = 0, stream = DEFAULT_STREAM) {
      pack.set(values);
      const r = cuLaunchKernel(fn, grid[0], grid[1], grid[2], block[0], block[1], block[2], sharedBytes, stream, params, null);
      if (r !== 0) throw new CudaError('cuLaunchKernel', r, `(grid [${grid.join(',')}], block [${block.join(',')}], shared ${sharedBytes} B)`);
    },
  };
}

const prepared = new Map<CUfunction, Map<string, PreparedLaunch>>();

/**
 * Convenience launch with typed arguments; prepares (once) and reuses the launcher for this
 * function and layout. Hot paths should hold a PreparedLaunch instead.
 */
export function launchKernel(fn: CUfunction, grid: Dim3, block: Dim3, sharedBytes: number, stream: CUstream, args: readonly KernelArg[]): void {
  let kinds = '';
  const values = new Array<number>(args.length);
  for (let i = 0; i < args.length; i++) {
    kinds += `${args[i]!.kind},`;
    values[i] = args[i]!.value;
  }
  let byLayout = prepared.get(fn);
  if (byLayout === undefined) prepared.set(fn, (byLayout = new Map()));
  let p = byLayout.get(kinds);
  if (p === undefined) {
    p = prepareLaunch(
      fn,
      args.map((a) => a.kind),
    );
    byLayout.set(kinds, p);
  }
  p.launch(values, grid, block, sharedBytes, stream);
}
