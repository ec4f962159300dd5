// Host-to-host copies into the CUDA weights' page-locked staging slots, on libuv's worker
// threads (koffi's async calls of libc's memcpy) instead of the main thread.
//
// Why: a warm GPT-2 small spent 96 ms of its 309 ms start copying 497 MB of mapped weights into
// the staging slots with TypedArray.set on the main thread (~5 GB/s, one core), and nothing else
// could run meanwhile: the kernels' module loads and cuBLAS's start waited behind it. Split over
// the pool's threads (UV_THREADPOOL_SIZE, 4 by default), the copy uses several cores' memory
// bandwidth and leaves the main thread free while it runs.
//
// The copies read and write memory nothing else touches meanwhile: the source is a parameter's
// host bytes (kept alive by the caller until the promise settles), the destination a staging
// slot the caller owns until it sends it.

import { createRequire } from 'node:module';
import type koffiModule from 'koffi';

/** One copy: `src` into `dst`, of the same length. */
export interface CopyPart {
  src: Uint8Array;
  dst: Uint8Array;
}

type Koffi = typeof koffiModule;
interface AsyncMemcpy {
  async(dst: bigint, src: bigint, n: number, done: (err: unknown) => void): void;
}

let libc: { koffi: Koffi; memcpy: AsyncMemcpy } | null | undefined;

/** libc's memcpy, taking addresses (so koffi converts nothing), loaded on first use; null where unavailable. */
function loadMemcpy(): typeof libc {
  if (libc !== undefined) return libc;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    const memcpy = koffi.load('libc.so.6').func('void *memcpy(uint64_t dst, uint64_t src, size_t n)') as unknown as AsyncMemcpy;
    libc = { koffi, memcpy };
  } catch {
    libc = null;
  }
  return libc;
}

/** Below this many bytes in all, one copy on this thread beats handing pieces to the pool. */
const THREADED_MIN = 4 << 20;
/** No piece handed to a thread is smaller (a dispatch costs ~10-20 µs). */
const PIECE_MIN = 512 << 10;

/** The pool's size: libuv reads UV_THREADPOOL_SIZE once, at its first use, default 4. */
function poolThreads(): number {
  const n = Number(process.env.UV_THREADPOOL_SIZE);
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1024) : 4;
}

/** Copies every part on this thread, now. */
export function copyHere(parts: readonly CopyPart[]): void {
  for (const p of parts) p.dst.set(p.src);
}

/**
 * Copies every part. Large batches go to the thread pool in about one piece per thread (a part
 * bigger than a piece is cut, small parts are copied here meanwhile) and the returned promise
 * settles when all landed; a small batch, or no libc through koffi, is copied here at once
 * and undefined returned.
 */
export function copyParts(parts: readonly CopyPart[]): Promise<void> | undefined {
  for (const p of parts) if (p.src.byteLength !== p.dst.byteLength) throw new RangeError(`copyParts: ${p.src.byteLength} bytes into ${p.dst.byteLength}`);
  const total = parts.reduce((n, p) => n + p.src.byteLength, 0);
  const lib = total >= THREADED_MIN ? loadMemcpy() : null;
  if (!lib) {
    copyHere(parts);
    return undefined;
  }
  const piece = Math.max(PIECE_MIN, Math.ceil(total / poolThreads()));
  const small: CopyPart[] = [];
  const copies: Promise<void>[] = [];
  for (const p of parts) {
    if (p.src.byteLength < PIECE_MIN) {
      small.push(p);
      continue;
    }
    const src = lib.koffi.address(p.src) as bigint;
    const dst = lib.koffi.address(p.dst) as bigint;
    for (let at = 0; at < p.src.byteLength; at += piece) {
      const n = Math.min(piece, p.src.byteLength - at);
      copies.push(
        new Promise<void>((resolve, reject) => {
          lib.memcpy.async(dst + BigInt(at), src + BigInt(at), n, (err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()));
        }),
      );
    }
  }
  copyHere(small);
  // Every piece settles before the promise does, even when one fails: a piece still writing
  // into a slot the caller has given up would corrupt that slot's next use.
  return Promise.allSettled(copies).then((results) => {
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  });
}
