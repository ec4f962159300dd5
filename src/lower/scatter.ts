// The scatter op's per-update expressions for its kernel: at a point of `updates`, whether
// the update applies (its index, negative ones wrapped, is in range), the flat position it
// targets in the output, and the value stored there (the update, or it combined with the
// element already there). Also which dims of `updates` may target one element twice: the
// kernel walks those serially, in order, and runs the others ("lanes") in parallel.
//
// Why an ordered scheme rather than atomics: updates at different lane points always target
// different elements (ScatterND: a lane is a coordinate inside the slice, which the index
// does not change; ScatterElements: every coordinate but the indexed axis), so each thread
// owning a set of lanes needs no atomics, no locks and no float atomics for mul/max/min or
// for 8/16-bit and half types (which CUDA lacks), and duplicates combine in row-major update
// order on every backend and thread count: the same answer as the reference interpreter,
// bit for bit for integers, and `reduction: 'none'` is deterministic (the last update wins).
// The cost: when the lanes are few and the updates many (ScatterND of scalars into a
// vector), the updates run on few threads.

import type { DType } from '../graph/dtype.js';
import type { BinaryOp, Graph, Node } from '../graph/ir.js';
import { contiguousStrides } from '../graph/shape.js';
import { type Expr, cst, iadd, idx, imul } from './expr.js';

export type ScatterNode = Node & { op: 'scatter' };

/** The dims of `updates` along which two updates may target the same element: [start, end). */
export function scatterSerialDims(g: Graph, node: ScatterNode): [number, number] {
  if (node.form === 'elements') return [node.axis, node.axis + 1];
  const q = g.node(node.inputs[1]!).shape.length;
  return [0, q - 1];
}

export interface ScatterPoint {
  /** bool: every index component is in range (after negative ones wrap). */
  valid: Expr;
  /** Flat position in the output (meaningful only where valid). */
  at: Expr;
  /** The update's value (node dtype). */
  update: Expr;
}

/**
 * The update at `point` (a multi-index of updates' shape). `read(id, idxs)` is the value of
 * operand node `id` at `idxs` in the kernel being built (inlined, or a load).
 */
export function scatterPoint(g: Graph, node: ScatterNode, point: readonly Expr[], read: (id: number, idxs: Expr[]) => Expr): ScatterPoint {
  const ds = node.shape;
  const strides = contiguousStrides(ds);
  const [, indicesId, updatesId] = node.inputs as [number, number, number];
  const checks: Expr[] = [];
  /** Index value `raw` for a dim of size n, negative values wrapped; its range check joins `checks`. */
  const wrapped = (raw: Expr, n: number): Expr => {
    const r: Expr = { k: 'cast', a: raw, dt: 'index' };
    const neg: Expr = { k: 'bin', op: 'lt', a: r, b: idx(0), dt: 'bool' };
    const w: Expr = { k: 'where', c: neg, a: iadd(r, idx(n)), b: r, dt: 'index' };
    checks.push({ k: 'bin', op: 'ge', a: w, b: idx(0), dt: 'bool' }, { k: 'bin', op: 'lt', a: w, b: idx(n), dt: 'bool' });
    return w;
  };
  let at = idx(0);
  if (node.form === 'nd') {
    const is = g.node(indicesId).shape;
    const q = is.length;
    const kk = is[q - 1]!;
    const lead = point.slice(0, q - 1);
    for (let t = 0; t < kk; t++) {
      const w = wrapped(read(indicesId, [...lead, idx(t)]), ds[t]!);
      at = iadd(at, imul(w, strides[t]!));
    }
    point.slice(q - 1).forEach((p, j) => (at = iadd(at, imul(p, strides[kk + j]!))));
  } else {
    const w = wrapped(read(indicesId, [...point]), ds[node.axis]!);
    point.forEach((p, d) => (at = iadd(at, imul(d === node.axis ? w : p, strides[d]!))));
  }
  const valid = checks.length === 0 ? cst(1, 'bool') : checks.reduce((a, b) => ({ k: 'bin', op: 'and', a, b, dt: 'bool' }));
  return { valid, at, update: read(updatesId, [...point]) };
}

/** The value stored at the target: the update, or it combined with `old` (bool: add is or, mul is and). */
export function scatterValue(node: ScatterNode, old: Expr, update: Expr): Expr {
  const dt: DType = node.dtype;
  const op: BinaryOp | undefined = {
    none: undefined,
    add: dt === 'bool' ? ('or' as const) : ('add' as const),
    mul: dt === 'bool' ? ('and' as const) : ('mul' as const),
    max: 'maximum' as const,
    min: 'minimum' as const,
  }[node.reduction];
  return op === undefined ? update : { k: 'bin', op, a: old, b: update, dt };
}
