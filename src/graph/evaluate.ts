// The one evaluator of graph nodes over JS numbers. It serves the reference interpreter
// (interpret.ts, the oracle of every test) and the ONNX importer's load-time folding
// (onnx/emit.ts), so the two can never disagree about what an op computes: with no fusion, no
// views and no index tricks, each node is the obvious loop over dense row-major Float64Arrays,
// its pointwise meaning from elementwise_ref.ts (integers wrapping exactly, int_ref.ts) and
// the scatter's from scatter_ref.ts.
//
// They differ in one thing only, how a node's results take their dtype (`Rounding`), applied
// after every node and after each update of a scatter:
// - 'reference': ints truncate toward zero and wrap modulo 2^bits, bool is 0/1, float16 and
//   bfloat16 round to their format (as PyTorch rounds each op's half result), but float32
//   results stay in float64 on purpose: tests compare with a float32 tolerance against the
//   more precise value.
// - 'kernel': the same, and float32 results round to float32 too, as a kernel stores them,
//   so a folded value is the one the compiled graph would have computed.
// Within a node both compute in float64 (integer sums, products and matmuls exactly, wrapping
// as they go); 64-bit integers are exact only where a double holds them.

import { type DType, isInt } from './dtype.js';
import { binaryFnFor, castValue, coerce, coerceStored, unaryFnFor } from './elementwise_ref.js';
import type { Graph, Node, ReduceOp } from './ir.js';
import { scatterRef } from './scatter_ref.js';
import { contiguousStrides, fmtShape, numel, type Shape } from './shape.js';

/** A value: dense row-major data, as float64 numbers with the dtype's semantics applied. */
export interface RefTensor {
  shape: number[];
  dtype: DType;
  data: Float64Array;
}

/** How a node's results take their dtype: see the top of this file. */
export type Rounding = 'reference' | 'kernel';

export class EvalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvalError';
  }
}

/** `v` as a value of dtype `dt` under `rounding`. */
function storeFn(rounding: Rounding): (v: number, dt: DType) => number {
  return rounding === 'kernel' ? coerceStored : coerce;
}

/**
 * Evaluates every node of `graph` but its inputs, in order, filling `vals` in (the caller
 * binds the inputs: `vals[id]` for each input node). Returns `vals`.
 */
export function evaluateGraph(graph: Graph, vals: (RefTensor | undefined)[], rounding: Rounding): (RefTensor | undefined)[] {
  const get = (id: number): RefTensor => {
    const v = vals[id];
    if (!v) throw new EvalError(`evaluate: node ${id} used before it was computed`);
    return v;
  };
  for (const n of graph.nodes) {
    if (n.op === 'input' || vals[n.id]) continue;
    const data = evalNode(n, n.inputs.map(get), rounding);
    if (data.length !== numel(n.shape)) {
      throw new EvalError(`evaluate: node ${n.id} (${n.op}) produced ${data.length} values for shape ${fmtShape(n.shape)}`);
    }
    vals[n.id] = { shape: [...n.shape], dtype: n.dtype, data };
  }
  return vals;
}

/** The value of node `n` given its operands' values, its dtype applied under `rounding`. */
export function evalNode(n: Node, xs: readonly RefTensor[], rounding: Rounding): Float64Array {
  const store = storeFn(rounding);
  const data = compute(n, xs, (v) => store(v, n.dtype));
  if (n.dtype !== 'float64') for (let i = 0; i < data.length; i++) data[i] = store(data[i]!, n.dtype);
  return data;
}

/** Node `n`'s values before its dtype is applied; `round` is that dtype's rounding, for a scatter's updates. */
function compute(n: Node, xs: readonly RefTensor[], round: (v: number) => number): Float64Array {
  switch (n.op) {
    case 'input':
      throw new EvalError('evaluate: inputs are bound, not evaluated');
    case 'const':
      return Float64Array.from(n.data);
    case 'unary': {
      const f = unaryFnFor(n.fn, xs[0]!.dtype);
      return xs[0]!.data.map(f);
    }
    case 'binary': {
      const f = binaryFnFor(n.fn, xs[0]!.dtype);
      const [a, b] = [broadcastTo(xs[0]!, n.shape), broadcastTo(xs[1]!, n.shape)];
      const out = new Float64Array(a.length);
      for (let i = 0; i < out.length; i++) out[i] = f(a[i]!, b[i]!);
      return out;
    }
    case 'where': {
      const [c, a, b] = [broadcastTo(xs[0]!, n.shape), broadcastTo(xs[1]!, n.shape), broadcastTo(xs[2]!, n.shape)];
      const out = new Float64Array(c.length);
      for (let i = 0; i < out.length; i++) out[i] = c[i] !== 0 ? a[i]! : b[i]!;
      return out;
    }
    case 'cast': {
      // castValue saturates float → int; the target dtype's semantics are applied after.
      const from = xs[0]!.dtype;
      return xs[0]!.data.map((v) => castValue(v, from, n.to));
    }
    case 'reduce':
      return reduce(xs[0]!, n.fn, n.axes, n.selectLast ?? false);
    case 'reshape':
      return xs[0]!.data.slice();
    case 'permute':
      return permute(xs[0]!, n.perm);
    case 'expand':
      return broadcastTo(xs[0]!, n.shape);
    case 'slice': {
      const x = xs[0]!;
      const inStrides = contiguousStrides(x.shape);
      return mapIndex(n.shape, (idx) => {
        let off = 0;
        for (let d = 0; d < idx.length; d++) {
          const sd = n.dims[d]!;
          off += (sd.start + sd.step * idx[d]!) * inStrides[d]!;
        }
        return x.data[off]!;
      });
    }
    case 'window': {
      const x = xs[0]!;
      const inStrides = contiguousStrides(x.shape);
      const rank = x.shape.length;
      return mapIndex(n.shape, (idx) => {
        const pos = idx.slice(0, rank);
        for (const [w, d] of n.dims.entries()) {
          const p = idx[d.dim]! * d.stride + idx[rank + w]! * d.dilation - d.pad;
          if (p < 0 || p >= x.shape[d.dim]!) return n.fill;
          pos[d.dim] = p;
        }
        let off = 0;
        for (let d = 0; d < rank; d++) off += pos[d]! * inStrides[d]!;
        return x.data[off]!;
      });
    }
    case 'cat': {
      const out = new Float64Array(numel(n.shape));
      const outer = numel(n.shape.slice(0, n.axis));
      const inner = numel(n.shape.slice(n.axis + 1));
      const rowOut = n.shape[n.axis]! * inner;
      let base = 0;
      for (const x of xs) {
        const row = x.shape[n.axis]! * inner;
        for (let o = 0; o < outer; o++) {
          for (let j = 0; j < row; j++) out[o * rowOut + base + j] = x.data[o * row + j]!;
        }
        base += row;
      }
      return out;
    }
    case 'gather': {
      const [data, idx] = [xs[0]!, xs[1]!];
      const axis = n.axis;
      const len = data.shape[axis]!;
      const outer = numel(data.shape.slice(0, axis));
      const inner = numel(data.shape.slice(axis + 1));
      const out = new Float64Array(numel(n.shape));
      let o = 0;
      for (let a = 0; a < outer; a++) {
        for (let k = 0; k < idx.data.length; k++) {
          let j = idx.data[k]!;
          if (j < 0) j += len;
          if (j < 0 || j >= len) {
            throw new EvalError(`evaluate: gather index ${idx.data[k]} out of range for dim ${axis} of size ${len}`);
          }
          for (let i = 0; i < inner; i++) out[o++] = data.data[(a * len + j) * inner + i]!;
        }
      }
      return out;
    }
    case 'iota':
      return mapIndex(n.shape, (idx) => n.start + n.step * idx[n.axis]!);
    case 'cumsum':
      return cumsum(xs[0]!, n.axis, n.exclusive, n.reverse);
    case 'scatter': {
      const [data, idx, upd] = [xs[0]!, xs[1]!, xs[2]!];
      return scatterRef(n, data.shape, data.data, idx.shape, idx.data, upd.data, n.dtype, round);
    }
    case 'matmul':
      return matmul(xs[0]!, xs[1]!, n.shape);
    default:
      return n satisfies never;
  }
}

/** Calls f with every multi-index of `shape` in row-major order. */
function mapIndex(shape: Shape, f: (idx: number[]) => number): Float64Array {
  const total = numel(shape);
  const out = new Float64Array(total);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < total; i++) {
    out[i] = f(idx);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** NumPy broadcasting of `x` to `shape` (leading dims added, size-1 dims repeated). */
function broadcastTo(x: RefTensor, shape: Shape): Float64Array {
  const off = shape.length - x.shape.length;
  if (off < 0) throw new EvalError(`evaluate: cannot broadcast ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  const strides = contiguousStrides(x.shape);
  for (let d = 0; d < x.shape.length; d++) {
    const s = x.shape[d]!;
    if (s !== 1 && s !== shape[d + off]) throw new EvalError(`evaluate: cannot broadcast ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  }
  return mapIndex(shape, (idx) => {
    let o = 0;
    for (let d = 0; d < x.shape.length; d++) if (x.shape[d] !== 1) o += idx[d + off]! * strides[d]!;
    return x.data[o]!;
  });
}

function permute(x: RefTensor, perm: readonly number[]): Float64Array {
  const strides = contiguousStrides(x.shape);
  const outShape = perm.map((p) => x.shape[p]!);
  return mapIndex(outShape, (idx) => {
    let o = 0;
    for (let d = 0; d < perm.length; d++) o += idx[d]! * strides[perm[d]!]!;
    return x.data[o]!;
  });
}

/** Running sums along `axis` (integers wrap as they go, exactly). */
function cumsum(x: RefTensor, axis: number, exclusive: boolean, reverse: boolean): Float64Array {
  const len = x.shape[axis]!;
  const outer = numel(x.shape.slice(0, axis));
  const inner = numel(x.shape.slice(axis + 1));
  const out = new Float64Array(x.data.length);
  const add = binaryFnFor('add', x.dtype);
  for (let a = 0; a < outer; a++) {
    for (let i = 0; i < inner; i++) {
      let acc = 0;
      for (let s = 0; s < len; s++) {
        const j = reverse ? len - 1 - s : s;
        const off = (a * len + j) * inner + i;
        if (exclusive) {
          out[off] = acc;
          acc = add(acc, x.data[off]!);
        } else {
          acc = add(acc, x.data[off]!);
          out[off] = acc;
        }
      }
    }
  }
  return out;
}

function reduce(x: RefTensor, fn: ReduceOp, axes: readonly number[], selectLast: boolean): Float64Array {
  // Move reduced axes last (permute), then fold each contiguous run of `inner` values.
  const keep = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const perm = [...keep, ...axes];
  const data = permute(x, perm);
  const inner = numel(axes.map((a) => x.shape[a]!));
  const outer = numel(keep.map((a) => x.shape[a]!));
  const out = new Float64Array(outer);
  for (let o = 0; o < outer; o++) {
    const row = data.subarray(o * inner, (o + 1) * inner);
    out[o] = fold(fn, row, selectLast, x.dtype);
  }
  return out;
}

function fold(fn: ReduceOp, row: Float64Array, selectLast: boolean, dt: DType): number {
  switch (fn) {
    case 'sum': {
      // Integer sums wrap as they go, exactly (the kernels' modular sum); float sums in float64.
      const add = binaryFnFor('add', dt);
      let s = 0;
      for (const v of row) s = add(s, v);
      return s;
    }
    case 'prod': {
      const mul = binaryFnFor('mul', dt);
      let p = 1;
      for (const v of row) p = mul(p, v);
      return p;
    }
    case 'max':
    case 'min': {
      // NaN propagates, as in PyTorch.
      let m = row[0]!;
      for (const v of row) {
        if (Number.isNaN(v)) return NaN;
        if (fn === 'max' ? v > m : v < m) m = v;
      }
      return m;
    }
    case 'argmax':
    case 'argmin': {
      // First index of the extremum (last with selectLast); a NaN counts as the extremum, as in PyTorch.
      let best = 0;
      let bv = row[0]!;
      for (let i = 1; i < row.length; i++) {
        const v = row[i]!;
        if (Number.isNaN(bv)) {
          if (selectLast && Number.isNaN(v)) best = i;
          continue;
        }
        const better = Number.isNaN(v) || (fn === 'argmax' ? v > bv : v < bv) || (selectLast && v === bv);
        if (better) {
          best = i;
          bv = v;
        }
      }
      return best;
    }
    default:
      return fn satisfies never;
  }
}

function matmul(a: RefTensor, b: RefTensor, outShape: Shape): Float64Array {
  const M = a.shape[a.shape.length - 2]!;
  const K = a.shape[a.shape.length - 1]!;
  const N = b.shape[b.shape.length - 1]!;
  if (b.shape[b.shape.length - 2] !== K) {
    throw new EvalError(`evaluate: matmul inner dims differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  }
  const batch = outShape.slice(0, -2);
  // Broadcast each operand's batch dims to the output's, keeping its own matrix dims.
  const A = broadcastTo(a, [...batch, M, K]);
  const B = broadcastTo(b, [...batch, K, N]);
  const nb = numel(batch);
  if (isInt(a.dtype)) return intMatmul(A, B, nb, M, K, N, a.dtype);
  const out = new Float64Array(nb * M * N);
  for (let t = 0; t < nb; t++) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += A[t * M * K + i * K + k]! * B[t * K * N + k * N + j]!;
        out[t * M * N + i * N + j] = s;
      }
    }
  }
  return out;
}

/** Integer products: each product and partial sum wraps exactly, as the kernels' modular arithmetic. */
function intMatmul(A: Float64Array, B: Float64Array, nb: number, M: number, K: number, N: number, dt: DType): Float64Array {
  const add = binaryFnFor('add', dt);
  const mul = binaryFnFor('mul', dt);
  const out = new Float64Array(nb * M * N);
  for (let t = 0; t < nb; t++) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s = add(s, mul(A[t * M * K + i * K + k]!, B[t * K * N + k * N + j]!));
        out[t * M * N + i * N + j] = s;
      }
    }
  }
  return out;
}
