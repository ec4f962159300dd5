// 128-bit vector access in pointwise kernels (codegen.ts's static ones, sym_pointwise.ts's over
// symbolic sizes): a 4-byte buffer moves as float4 / int4 when every access of it is at the
// thread's own flat position, and those loads then read lanes of one vector register.

import type { DType } from '../../graph/dtype.js';
import { type Expr, children, exprKey, mapChildren, reg } from '../../lower/expr.js';
import type { KernelBuf, Store } from '../../lower/loop_ir.js';

/** Lanes of a 128-bit vector register. */
export const LANES = ['x', 'y', 'z', 'w'] as const;

/** The vector type of a 4-byte dtype (others move as scalars). */
export function vecType(dt: DType): string | undefined {
  return dt === 'float32' ? 'float4' : dt === 'int32' ? 'int4' : undefined;
}

function loadsAt(e: Expr, out: Map<number, string[]>): void {
  if (e.k === 'load') out.set(e.buf, [...(out.get(e.buf) ?? []), exprKey(e.at)]);
  for (const c of children(e)) loadsAt(c, out);
}

/**
 * The buffers `stores` read only at the own position `ownKey` (an index's exprKey), and whether
 * every store is at it: what can move as vectors.
 */
export function ownPositionAccess(stores: readonly Store[], bufs: readonly KernelBuf[], ownKey: string): { vecIn: Set<number>; vecStores: boolean } {
  const loads = new Map<number, string[]>();
  for (const s of stores) {
    loadsAt(s.value, loads);
    loadsAt(s.at, loads);
  }
  const vecIn = new Set<number>();
  for (const [buf, keys] of loads) if (vecType(bufs[buf]!.dtype) && keys.every((x) => x === ownKey)) vecIn.add(buf);
  const vecStores = stores.every((s) => exprKey(s.at) === ownKey && vecType(bufs[s.buf]!.dtype));
  return { vecIn, vecStores };
}

/** Replaces loads of `vecBufs` at the own position by lane `lane` of the vector register v{buf}. */
export function vectorizeLoads(e: Expr, ownKey: string, lane: number, vecBufs: ReadonlySet<number>): Expr {
  const rec = (x: Expr): Expr =>
    x.k === 'load' && vecBufs.has(x.buf) && exprKey(x.at) === ownKey ? reg(`v${x.buf}.${LANES[lane]}`, x.dt) : mapChildren(x, rec);
  return rec(e);
}
