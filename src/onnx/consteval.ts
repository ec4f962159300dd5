// A small evaluator of kiln graph nodes over JS numbers, used to fold load-time-known values
// (shape arithmetic, masks, index tensors) while importing. It follows the IR's semantics
// node by node, including the casts the builders insert, so a folded value equals what the
// compiled graph would have computed. Results are rounded to their dtype after every node.

import { binaryFnFor, castValue, coerceStored, unaryFnFor } from '../graph/elementwise_ref.js';
import type { Graph, Node } from '../graph/ir.js';
import { scatterRef } from '../graph/scatter_ref.js';
import { contiguousStrides, numel, type Shape } from '../graph/shape.js';

/** For each flat output index, the flat index into an operand broadcast to `out`. */
function broadcastIndex(inShape: Shape, out: Shape): Int32Array {
  const n = numel(out);
  const res = new Int32Array(n);
  const inStrides = contiguousStrides(inShape);
  const off = out.length - inShape.length;
  const coord = new Array<number>(out.length).fill(0);
  for (let i = 0; i < n; i++) {
    let src = 0;
    for (let d = off; d < out.length; d++) if (inShape[d - off] !== 1) src += coord[d]! * inStrides[d - off]!;
    res[i] = src;
    for (let d = out.length - 1; d >= 0; d--) {
      if (++coord[d]! < out[d]!) break;
      coord[d] = 0;
    }
  }
  return res;
}

/** Calls fn(flatOut, coord) for every element of `shape` in row-major order. */
function forEachCoord(shape: Shape, fn: (i: number, coord: number[]) => void): void {
  const n = numel(shape);
  const coord = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    fn(i, coord);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++coord[d]! < shape[d]!) break;
      coord[d] = 0;
    }
  }
}

/** The values f(coord) for every element of `shape`, in row-major order. */
function mapCoords(shape: Shape, f: (coord: number[]) => number): number[] {
  const res = new Array<number>(numel(shape));
  forEachCoord(shape, (i, c) => (res[i] = f(c)));
  return res;
}

/** Evaluates one node given its operands' values. */
export function evalNode(g: Graph, n: Node, args: number[][]): number[] {
  const out = n.shape;
  const size = numel(out);
  const inShape = (k: number) => g.node(n.inputs[k]!).shape;
  const inDType = (k: number) => g.node(n.inputs[k]!).dtype;
  // Integer sums and products wrap exactly, as the kernels compute them.
  const opDt = n.inputs.length > 0 ? inDType(0) : n.dtype;
  const add = binaryFnFor('add', opDt);
  const mul = binaryFnFor('mul', opDt);
  let res: number[];
  switch (n.op) {
    case 'input':
      throw new Error('consteval: input nodes have no value');
    case 'const':
      res = [...n.data];
      break;
    case 'unary':
      res = args[0]!.map(unaryFnFor(n.fn, inDType(0)));
      break;
    case 'binary': {
      const f = binaryFnFor(n.fn, inDType(0));
      const ia = broadcastIndex(inShape(0), out);
      const ib = broadcastIndex(inShape(1), out);
      const [a, b] = [args[0]!, args[1]!];
      res = new Array<number>(size);
      for (let i = 0; i < size; i++) res[i] = f(a[ia[i]!]!, b[ib[i]!]!);
      break;
    }
    case 'where': {
      const idx = [0, 1, 2].map((k) => broadcastIndex(inShape(k), out));
      res = new Array<number>(size);
      for (let i = 0; i < size; i++) res[i] = args[0]![idx[0]![i]!] ? args[1]![idx[1]![i]!]! : args[2]![idx[2]![i]!]!;
      break;
    }
    case 'cast':
      res = args[0]!.map((v) => castValue(v, inDType(0), n.to));
      break;
    case 'reshape':
      res = [...args[0]!];
      break;
    case 'expand': {
      const ia = broadcastIndex(inShape(0), out);
      res = Array.from(ia, (j) => args[0]![j]!);
      break;
    }
    case 'permute': {
      const st = contiguousStrides(inShape(0));
      res = mapCoords(out, (c) => {
        let src = 0;
        for (let d = 0; d < c.length; d++) src += c[d]! * st[n.perm[d]!]!;
        return args[0]![src]!;
      });
      break;
    }
    case 'slice': {
      const st = contiguousStrides(inShape(0));
      res = mapCoords(out, (c) => {
        let src = 0;
        for (let d = 0; d < c.length; d++) src += (n.dims[d]!.start + c[d]! * n.dims[d]!.step) * st[d]!;
        return args[0]![src]!;
      });
      break;
    }
    case 'window': {
      const ins = inShape(0);
      const st = contiguousStrides(ins);
      res = mapCoords(out, (c) => {
        let src = 0;
        const pos = c.slice(0, ins.length);
        for (const [w, d] of n.dims.entries()) {
          const p = c[d.dim]! * d.stride + c[ins.length + w]! * d.dilation - d.pad;
          if (p < 0 || p >= ins[d.dim]!) return n.fill;
          pos[d.dim] = p;
        }
        for (let d = 0; d < pos.length; d++) src += pos[d]! * st[d]!;
        return args[0]![src]!;
      });
      break;
    }
    case 'cat': {
      const offsets: number[] = [];
      let acc = 0;
      for (let k = 0; k < n.inputs.length; k++) {
        offsets.push(acc);
        acc += inShape(k)[n.axis]!;
      }
      res = mapCoords(out, (c) => {
        let k = n.inputs.length - 1;
        while (offsets[k]! > c[n.axis]!) k--;
        const s = inShape(k);
        const st = contiguousStrides(s);
        let src = 0;
        for (let d = 0; d < c.length; d++) src += (d === n.axis ? c[d]! - offsets[k]! : c[d]!) * st[d]!;
        return args[k]![src]!;
      });
      break;
    }
    case 'gather': {
      const ds = inShape(0);
      const is = inShape(1);
      const st = contiguousStrides(ds);
      const ist = contiguousStrides(is);
      const ax = n.axis;
      res = mapCoords(out, (c) => {
        let ii = 0;
        for (let d = 0; d < is.length; d++) ii += c[ax + d]! * ist[d]!;
        let idx = args[1]![ii]!;
        if (idx < 0) idx += ds[ax]!;
        if (idx < 0 || idx >= ds[ax]!) throw new Error(`gather: index ${args[1]![ii]} out of range for dim of size ${ds[ax]}`);
        let src = idx * st[ax]!;
        for (let d = 0; d < ax; d++) src += c[d]! * st[d]!;
        for (let d = ax + 1; d < ds.length; d++) src += c[d - 1 + is.length]! * st[d]!;
        return args[0]![src]!;
      });
      break;
    }
    case 'iota':
      res = mapCoords(out, (c) => n.start + c[n.axis]! * n.step);
      break;
    case 'cumsum': {
      const st = contiguousStrides(out);
      const len = out[n.axis]!;
      const step = st[n.axis]!;
      res = new Array<number>(size);
      forEachCoord(out, (i, c) => {
        if (c[n.axis] !== 0) return;
        let acc = 0;
        for (let k = 0; k < len; k++) {
          const j = n.reverse ? len - 1 - k : k;
          const at = i + j * step;
          if (n.exclusive) { res[at] = coerceStored(acc, n.dtype); acc = add(acc, args[0]![at]!); }
          else { acc = add(acc, args[0]![at]!); res[at] = coerceStored(acc, n.dtype); }
        }
      });
      break;
    }
    case 'reduce': {
      const s = inShape(0);
      const st = contiguousStrides(s);
      const red = n.axes;
      const redShape = red.map((a) => s[a]!);
      const keptShape = s.map((d, i) => (red.includes(i) ? 1 : d));
      res = new Array<number>(size);
      forEachCoord(keptShape, (i, c) => {
        let base = 0;
        for (let d = 0; d < c.length; d++) base += c[d]! * st[d]!;
        let acc = n.fn === 'sum' ? 0 : n.fn === 'prod' ? 1 : NaN;
        let arg = 0;
        let k = 0;
        forEachCoord(redShape, (_j, rc) => {
          let at = base;
          for (let r = 0; r < red.length; r++) at += rc[r]! * st[red[r]!]!;
          const v = args[0]![at]!;
          switch (n.fn) {
            case 'sum': acc = add(acc, v); break;
            case 'prod': acc = mul(acc, v); break;
            case 'max': if (k === 0 || v > acc || Number.isNaN(v)) acc = v; break;
            case 'min': if (k === 0 || v < acc || Number.isNaN(v)) acc = v; break;
            case 'argmax': if (k === 0 || v > acc || (n.selectLast && v === acc)) { acc = v; arg = k; } break;
            case 'argmin': if (k === 0 || v < acc || (n.selectLast && v === acc)) { acc = v; arg = k; } break;
          }
          k++;
        });
        res[i] = n.fn === 'argmax' || n.fn === 'argmin' ? arg : acc;
      });
      break;
    }
    case 'scatter':
      res = Array.from(scatterRef(n, inShape(0), args[0]!, inShape(1), args[1]!, args[2]!, n.dtype, (v) => coerceStored(v, n.dtype)));
      break;
    case 'matmul': {
      const A = inShape(0);
      const B = inShape(1);
      const M = A[A.length - 2]!;
      const K = A[A.length - 1]!;
      const N = B[B.length - 1]!;
      const batch = out.slice(0, -2);
      const ia = broadcastIndex(A.slice(0, -2), batch);
      const ib = broadcastIndex(B.slice(0, -2), batch);
      res = new Array<number>(size).fill(0);
      for (let bi = 0; bi < numel(batch); bi++) {
        const a0 = ia[bi]! * M * K;
        const b0 = ib[bi]! * K * N;
        for (let m = 0; m < M; m++)
          for (let j = 0; j < N; j++) {
            let acc = 0;
            for (let k = 0; k < K; k++) acc = add(acc, mul(args[0]![a0 + m * K + k]!, args[1]![b0 + k * N + j]!));
            res[bi * M * N + m * N + j] = acc;
          }
      }
      break;
    }
    default:
      return n satisfies never;
  }
  for (let i = 0; i < res.length; i++) res[i] = coerceStored(res[i]!, n.dtype);
  return res;
}
