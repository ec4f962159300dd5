// The reference interpreter: evaluates a Graph node by node in float64, with no fusion, no
// views and no index tricks. It is the oracle every compiled result is checked against, so it
// favours the obvious loop over the fast one and shares nothing with lower/ or schedule/.
//
// Every value is a dense row-major Float64Array. After each node the values are coerced to the
// node's dtype semantics (ints truncate toward zero and wrap modulo 2^bits, bool is 0/1,
// float16 and bfloat16 round to their format, as PyTorch rounds each op's half result);
// float32 results are kept in float64 on purpose, since tests compare with a float32
// tolerance. Integer arithmetic (sums, products, matmuls included) is exact and wraps as in
// the kernels (int_ref.ts); 64-bit values are exact only where a double holds them (below
// 2^53, or multiples of a power of two above).

import { type DType, isInt, typedToNumbers } from './dtype.js';
import { binaryFnFor, castValue, coerce, unaryFnFor } from './elementwise_ref.js';
import type { Graph, Node, ReduceOp } from './ir.js';
import { scatterRef } from './scatter_ref.js';
import { contiguousStrides, fmtShape, numel, type Shape } from './shape.js';
import type { NDArray } from './ndarray.js';

export interface RefTensor {
  shape: number[];
  dtype: DType;
  data: Float64Array;
}

export class InterpretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InterpretError';
  }
}

/** Evaluates `graph` on `inputs` (in `graph.inputs` order: user inputs, then params). */
export function interpret(graph: Graph, inputs: readonly NDArray[]): RefTensor[] {
  if (inputs.length !== graph.inputs.length) {
    throw new InterpretError(`interpret: graph has ${graph.inputs.length} inputs, got ${inputs.length}`);
  }
  const vals: (RefTensor | undefined)[] = new Array(graph.nodes.length);
  graph.inputs.forEach((id, i) => {
    const n = graph.node(id);
    const a = inputs[i]!;
    const name = n.op === 'input' ? n.name : `#${id}`;
    if (a.dtype !== n.dtype) {
      throw new InterpretError(`interpret: input ${i} (${name}) expects dtype ${n.dtype}, got ${a.dtype}`);
    }
    if (a.shape.length !== n.shape.length || a.shape.some((d, j) => d !== n.shape[j])) {
      throw new InterpretError(`interpret: input ${i} (${name}) expects shape ${fmtShape(n.shape)}, got ${fmtShape(a.shape)}`);
    }
    const host = a.hostData();
    if (!host) throw new InterpretError(`interpret: input ${i} (${name}) is on the device; the reference needs host data`);
    const data = typedToNumbers(a.dtype, host);
    vals[id] = { shape: [...n.shape], dtype: n.dtype, data };
  });
  const get = (id: number): RefTensor => {
    const v = vals[id];
    if (!v) throw new InterpretError(`interpret: node ${id} used before it was computed`);
    return v;
  };
  for (const n of graph.nodes) {
    if (n.op === 'input') continue;
    const data = evalNode(n, n.inputs.map(get));
    if (data.length !== numel(n.shape)) {
      throw new InterpretError(`interpret: node ${n.id} (${n.op}) produced ${data.length} values for shape ${fmtShape(n.shape)}`);
    }
    coerceInPlace(data, n.dtype);
    vals[n.id] = { shape: [...n.shape], dtype: n.dtype, data };
  }
  return graph.outputs.map((id) => {
    const v = get(id);
    return { shape: [...v.shape], dtype: v.dtype, data: v.data.slice() };
  });
}

/** Applies dtype semantics (coerce) to float64 values in place. */
function coerceInPlace(d: Float64Array, dt: DType): void {
  if (dt === 'float32' || dt === 'float64') return;
  for (let i = 0; i < d.length; i++) d[i] = coerce(d[i]!, dt);
}

function evalNode(n: Node, xs: RefTensor[]): Float64Array {
  switch (n.op) {
    case 'input':
      throw new InterpretError('interpret: inputs are bound, not evaluated');
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
      // castValue saturates float → int; coerceInPlace then applies the target dtype's semantics.
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
            throw new InterpretError(`interpret: gather index ${idx.data[k]} out of range for dim ${axis} of size ${len}`);
          }
          for (let i = 0; i < inner; i++) out[o++] = data.data[(a * len + j) * inner + i]!;
        }
      }
      return out;
    }
    case 'iota':
      return mapIndex(n.shape, (idx) => n.start + n.step * idx[n.axis]!);
    case 'cumsum': {
      const x = xs[0]!;
      const len = x.shape[n.axis]!;
      const outer = numel(x.shape.slice(0, n.axis));
      const inner = numel(x.shape.slice(n.axis + 1));
      const out = new Float64Array(x.data.length);
      const add = binaryFnFor('add', x.dtype);
      for (let a = 0; a < outer; a++) {
        for (let i = 0; i < inner; i++) {
          let acc = 0;
          for (let s = 0; s < len; s++) {
            const j = n.reverse ? len - 1 - s : s;
            const off = (a * len + j) * inner + i;
            if (n.exclusive) {
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
    case 'scatter': {
      const [data, idx, upd] = [xs[0]!, xs[1]!, xs[2]!];
      return scatterRef(n, data.shape, data.data, idx.shape, idx.data, upd.data, n.dtype, (v) => coerce(v, n.dtype));
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
  if (off < 0) throw new InterpretError(`interpret: cannot broadcast ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  const strides = contiguousStrides(x.shape);
  for (let d = 0; d < x.shape.length; d++) {
    const s = x.shape[d]!;
    if (s !== 1 && s !== shape[d + off]) throw new InterpretError(`interpret: cannot broadcast ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
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
    throw new InterpretError(`interpret: matmul inner dims differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
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
