// Seeded random data for the integer dtypes, with the edge values every integer test wants
// at the front: 0, the maximum, the minimum and the largest value below the maximum.
//
// 64-bit values drawn from a range wider than 2^53 are multiples of 2^11 (uint64) or 2^10
// (int64), so that each is exact as a double (the reference interpreter holds numbers) and so
// are their sums, differences and products modulo 2^64; the "value below the maximum" is then
// the largest such multiple. The maximum itself (2^64 - 1, 2^63 - 1) reads as 2^64 / 2^63,
// which the interpreter takes to mean the maximum: fine for one operation, so tests use it
// directly, not in chains.

import { NDArray } from '../src/graph/ndarray.js';
import type { DType } from '../src/graph/dtype.js';
import { INT_INFO, type IntDType } from '../src/graph/int.js';
import { mulberry32 } from '../src/graph/random.js';
import { numel } from '../src/graph/shape.js';

/** The integer dtypes kiln gained after int32/int64 (each test loops over them). */
export const NEW_INTS = ['int8', 'uint8', 'int16', 'uint16', 'uint32', 'uint64'] as const;

/** The step 64-bit test values are multiples of (1 for narrower types). */
export function grain(dt: IntDType): bigint {
  return dt === 'uint64' ? 2048n : dt === 'int64' ? 1024n : 1n;
}

export interface IntDataOptions {
  /** Inclusive bounds (default: the dtype's whole range). */
  lo?: bigint;
  hi?: bigint;
  /** Leave zero out (divisors). */
  nonzero?: boolean;
  /** Put 0, max, min and the largest value below max first (default true). */
  edges?: boolean;
}

/** Uniform random integers of `dt` (a 64-bit draw from two 32-bit ones), edge values first. */
export function intData(dt: IntDType, shape: readonly number[], seed: number, o: IntDataOptions = {}): NDArray {
  const { min, max } = INT_INFO[dt];
  const lo = o.lo ?? min;
  const hi = o.hi ?? max;
  const g = hi - lo > 2n ** 53n ? grain(dt) : 1n;
  const r = mulberry32(seed);
  const draw = () => {
    const u = (BigInt(Math.floor(r() * 2 ** 32)) << 32n) | BigInt(Math.floor(r() * 2 ** 32));
    const v = lo + (u % (hi - lo + 1n));
    return v - (((v % g) + g) % g);
  };
  const n = numel(shape);
  const belowMax = g === 1n ? max - 1n : max - (max % g);
  const edges = o.edges === false ? [] : [...new Set([0n, max, min, belowMax])].filter((v) => v >= lo && v <= hi && !(o.nonzero && v === 0n));
  const vals: bigint[] = [];
  for (let i = 0; i < n; i++) {
    let v = i < edges.length ? edges[i]! : draw();
    while (o.nonzero && v === 0n) v = draw();
    vals.push(v);
  }
  return NDArray.from(vals, shape, { dtype: dt as DType });
}
