// A small evaluator of kiln graph nodes over JS numbers, used to fold load-time-known values
// (shape arithmetic, masks, index tensors) while importing. It follows the IR's semantics
// node by node, including the casts the builders insert, so a folded value equals what the
// compiled graph would have computed. Results are rounded to their dtype after every node.

import type { DType } from '../graph/dtype.js';
import type { Graph, Node } from '../graph/ir.js';
import { contiguousStrides, numel, type Shape } from '../graph/shape.js';

/** Rounds a JS number to what a value of dtype `d` can hold. */
export function coerce(v: number, d: DType): number {
  switch (d) {
    case 'float32':
      return Math.fround(v);
    case 'int32':
      return Number.isFinite(v) ? Math.trunc(v) | 0 : 0;
    case 'int64':
      return Number.isFinite(v) ? Math.trunc(v) : v > 0 ? 9223372036854775807 : v < 0 ? -9223372036854775808 : 0;
    case 'bool':
      return v ? 1 : 0;
    default:
      return d satisfies never;
  }
}

/** erf to float32 accuracy (Numerical Recipes' erfc Chebyshev fit, |rel err| < 1.2e-7). */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z - 1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 +
        t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

/** Round half to even, as C's rint and ONNX's Round. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function unaryFn(fn: Node & { op: 'unary' }): (x: number) => number {
  switch (fn.fn) {
    case 'neg': return (x) => -x;
    case 'abs': return Math.abs;
    case 'exp': return Math.exp;
    case 'log': return Math.log;
    case 'sqrt': return Math.sqrt;
    case 'rsqrt': return (x) => 1 / Math.sqrt(x);
    case 'sin': return Math.sin;
    case 'cos': return Math.cos;
    case 'tan': return Math.tan;
    case 'tanh': return Math.tanh;
    case 'sigmoid': return (x) => 1 / (1 + Math.exp(-x));
    case 'relu': return (x) => (x > 0 ? x : 0);
    case 'gelu': return (x) => 0.5 * x * (1 + erf(x / Math.SQRT2));
    case 'gelu_tanh': return (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    case 'silu': return (x) => x / (1 + Math.exp(-x));
    case 'erf': return erf;
    case 'floor': return Math.floor;
    case 'ceil': return Math.ceil;
    case 'round': return roundHalfEven;
    case 'reciprocal': return (x) => 1 / x;
    case 'sign': return (x) => (x > 0 ? 1 : x < 0 ? -1 : x);
    case 'not': return (x) => (x ? 0 : 1);
    case 'isnan': return (x) => (Number.isNaN(x) ? 1 : 0);
    case 'isinf': return (x) => (x === Infinity || x === -Infinity ? 1 : 0);
    case 'asin': return Math.asin;
    case 'acos': return Math.acos;
    case 'atan': return Math.atan;
    case 'sinh': return Math.sinh;
    case 'cosh': return Math.cosh;
    case 'asinh': return Math.asinh;
    case 'acosh': return Math.acosh;
    case 'atanh': return Math.atanh;
    case 'softplus': return (x) => (x > 20 ? x : Math.log1p(Math.exp(x)));
    default: return fn.fn satisfies never;
  }
}

function binaryFn(n: Node & { op: 'binary' }, intArith: boolean): (a: number, b: number) => number {
  switch (n.fn) {
    case 'add': return (a, b) => a + b;
    case 'sub': return (a, b) => a - b;
    case 'mul': return (a, b) => a * b;
    case 'div': return intArith ? (a, b) => Math.trunc(a / b) : (a, b) => a / b;
    case 'pow': return Math.pow;
    case 'maximum': return (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b));
    case 'minimum': return (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b));
    case 'eq': return (a, b) => (a === b ? 1 : 0);
    case 'ne': return (a, b) => (a !== b ? 1 : 0);
    case 'lt': return (a, b) => (a < b ? 1 : 0);
    case 'le': return (a, b) => (a <= b ? 1 : 0);
    case 'gt': return (a, b) => (a > b ? 1 : 0);
    case 'ge': return (a, b) => (a >= b ? 1 : 0);
    case 'and': return (a, b) => (a && b ? 1 : 0);
    case 'or': return (a, b) => (a || b ? 1 : 0);
    case 'xor': return (a, b) => ((a ? 1 : 0) ^ (b ? 1 : 0));
    case 'mod': return (a, b) => { const r = a % b; return r !== 0 && (r < 0) !== (b < 0) ? r + b : r; };
    case 'fmod': return (a, b) => a % b;
    default: return n.fn satisfies never;
  }
}

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

/** Evaluates one node given its operands' values. */
export function evalNode(g: Graph, n: Node, args: number[][]): number[] {
  const out = n.shape;
  const size = numel(out);
  const inShape = (k: number) => g.node(n.inputs[k]!).shape;
  let res: number[];
  switch (n.op) {
    case 'input':
      throw new Error('consteval: input nodes have no value');
    case 'const':
      res = [...n.data];
      break;
    case 'unary': {
      const f = unaryFn(n);
      res = args[0]!.map(f);
      break;
    }
    case 'binary': {
      const inDt = g.node(n.inputs[0]!).dtype;
      const f = binaryFn(n, inDt === 'int32' || inDt === 'int64');
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
      res = [...args[0]!];
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
      res = new Array<number>(size);
      forEachCoord(out, (i, c) => {
        let src = 0;
        for (let d = 0; d < c.length; d++) src += c[d]! * st[n.perm[d]!]!;
        res[i] = args[0]![src]!;
      });
      break;
    }
    case 'slice': {
      const st = contiguousStrides(inShape(0));
      res = new Array<number>(size);
      forEachCoord(out, (i, c) => {
        let src = 0;
        for (let d = 0; d < c.length; d++) src += (n.dims[d]!.start + c[d]! * n.dims[d]!.step) * st[d]!;
        res[i] = args[0]![src]!;
      });
      break;
    }
    case 'cat': {
      res = new Array<number>(size);
      const offsets: number[] = [];
      let acc = 0;
      for (let k = 0; k < n.inputs.length; k++) {
        offsets.push(acc);
        acc += inShape(k)[n.axis]!;
      }
      forEachCoord(out, (i, c) => {
        let k = n.inputs.length - 1;
        while (offsets[k]! > c[n.axis]!) k--;
        const s = inShape(k);
        const st = contiguousStrides(s);
        let src = 0;
        for (let d = 0; d < c.length; d++) src += (d === n.axis ? c[d]! - offsets[k]! : c[d]!) * st[d]!;
        res[i] = args[k]![src]!;
      });
      break;
    }
    case 'gather': {
      const ds = inShape(0);
      const is = inShape(1);
      const st = contiguousStrides(ds);
      const ist = contiguousStrides(is);
      const ax = n.axis;
      res = new Array<number>(size);
      forEachCoord(out, (i, c) => {
        let ii = 0;
        for (let d = 0; d < is.length; d++) ii += c[ax + d]! * ist[d]!;
        let idx = args[1]![ii]!;
        if (idx < 0) idx += ds[ax]!;
        if (idx < 0 || idx >= ds[ax]!) throw new Error(`gather: index ${args[1]![ii]} out of range for dim of size ${ds[ax]}`);
        let src = idx * st[ax]!;
        for (let d = 0; d < ax; d++) src += c[d]! * st[d]!;
        for (let d = ax + 1; d < ds.length; d++) src += c[d - 1 + is.length]! * st[d]!;
        res[i] = args[0]![src]!;
      });
      break;
    }
    case 'iota':
      res = new Array<number>(size);
      forEachCoord(out, (i, c) => (res[i] = n.start + c[n.axis]! * n.step));
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
          if (n.exclusive) { res[at] = coerce(acc, n.dtype); acc += args[0]![at]!; }
          else { acc += args[0]![at]!; res[at] = coerce(acc, n.dtype); }
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
            case 'sum': acc += v; break;
            case 'prod': acc *= v; break;
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
            for (let k = 0; k < K; k++) acc += args[0]![a0 + m * K + k]! * args[1]![b0 + k * N + j]!;
            res[bi * M * N + m * N + j] = acc;
          }
      }
      break;
    }
    default:
      return n satisfies never;
  }
  for (let i = 0; i < res.length; i++) res[i] = coerce(res[i]!, n.dtype);
  return res;
}
