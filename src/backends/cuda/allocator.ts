// A caching device allocator, after PyTorch's CUDACachingAllocator: cuMemAlloc/cuMemFree
// synchronise the device and cost tens of µs, so freed blocks go to size-bucketed free lists
// and are handed out again. Sizes round up to 512 B below 1 MiB and to a power of two above,
// so a buffer plan's many similar sizes share buckets.
//
// Reuse is safe for work ordered on ONE stream (kiln's plans run on one): a block freed after
// its last use was enqueued is only reused by work enqueued later on the same stream. Code
// that frees while another stream may still read the block must synchronise first.
import { CudaError, memAlloc, memFree, type DevicePtr } from './driver.js';

const SMALL_ROUND = 512;
const CUDA_ERROR_OUT_OF_MEMORY = 2;
const LARGE_THRESHOLD = 1 << 20;

/** The size actually reserved for a request of `bytes` (0 bytes still gets a real block). */
export function roundAllocationSize(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`cannot allocate ${bytes} bytes`);
  if (bytes <= LARGE_THRESHOLD) return Math.max(SMALL_ROUND, Math.ceil(bytes / SMALL_ROUND) * SMALL_ROUND);
  return 2 ** Math.ceil(Math.log2(bytes));
}

/** Where blocks come from; the driver by default, a fake in tests. */
export interface RawDeviceMemory {
  alloc(bytes: number): DevicePtr;
  free(ptr: DevicePtr): void;
}

const driverMemory: RawDeviceMemory = { alloc: memAlloc, free: memFree };

export interface AllocatorStats {
  /** Bytes held from the driver (in use + cached). */
  reservedBytes: number;
  /** Rounded bytes handed out and not yet freed. */
  allocatedBytes: number;
  cachedBlocks: number;
  /** cuMemAlloc calls made / allocations served from the cache. */
  driverAllocs: number;
  cacheHits: number;
}

export class CachingAllocator {
  private readonly freeLists = new Map<number, DevicePtr[]>();
  /** Live blocks → their rounded size. */
  private readonly live = new Map<DevicePtr, number>();
  private reserved = 0;
  private allocated = 0;
  private cached = 0;
  private driverAllocs = 0;
  private cacheHits = 0;

  constructor(private readonly raw: RawDeviceMemory = driverMemory) {}

  alloc(bytes: number): DevicePtr {
    const size = roundAllocationSize(bytes);
    const list = this.freeLists.get(size);
    let ptr = list?.pop();
    if (ptr !== undefined) {
      this.cached--;
      this.cacheHits++;
    } else {
      ptr = this.allocFromDriver(size);
    }
    this.live.set(ptr, size);
    this.allocated += size;
    return ptr;
  }

  /** Returns the block to the cache (not to the driver). Throws on a pointer it did not hand out. */
  free(ptr: DevicePtr): void {
    const size = this.live.get(ptr);
    if (size === undefined) throw new Error(`CachingAllocator.free: 0x${ptr.toString(16)} is not a live allocation (double free?)`);
    this.live.delete(ptr);
    this.allocated -= size;
    let list = this.freeLists.get(size);
    if (list === undefined) this.freeLists.set(size, (list = []));
    list.push(ptr);
    this.cached++;
  }

  /** The rounded size of a live block. */
  sizeOf(ptr: DevicePtr): number | undefined {
    return this.live.get(ptr);
  }

  /** Gives every cached (free) block back to the driver; live blocks are untouched. */
  emptyCache(): void {
    for (const [size, list] of this.freeLists) {
      for (const ptr of list) {
        this.raw.free(ptr);
        this.reserved -= size;
      }
    }
    this.freeLists.clear();
    this.cached = 0;
  }

  stats(): AllocatorStats {
    return { reservedBytes: this.reserved, allocatedBytes: this.allocated, cachedBlocks: this.cached, driverAllocs: this.driverAllocs, cacheHits: this.cacheHits };
  }

  private allocFromDriver(size: number): DevicePtr {
    let ptr: DevicePtr;
    try {
      ptr = this.raw.alloc(size);
    } catch (e) {
      // Out of memory with blocks cached: give them back and try once more (as PyTorch does).
      if (!(e instanceof CudaError && e.code === CUDA_ERROR_OUT_OF_MEMORY) || this.cached === 0) throw e;
      this.emptyCache();
      ptr = this.raw.alloc(size);
    }
    this.driverAllocs++;
    this.reserved += size;
    return ptr;
  }
}

let shared: CachingAllocator | undefined;

/** The process-wide allocator over the driver (main process only). */
export function deviceAllocator(): CachingAllocator {
  return (shared ??= new CachingAllocator());
}
