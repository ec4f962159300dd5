// The symbolic Tensor users trace: PyTorch names and signatures (DESIGN.md's public API).
// Every method records a node through the GraphBuilder, which validates it.

import { type DType, isHalf, isInt, opmathDType, promote, scalarDType } from '../graph/dtype.js';
import type { BinaryOp, ReduceOp, UnaryOp } from '../graph/ir.js';
import { ShapeError, normDim, normDims, numel } from '../graph/shape.js';
import { SymbolicUnsupportedError } from '../graph/sym.js';
import { NDArray } from '../graph/ndarray.js';
import { type Tracer, currentTracer } from './tracer.js';

/** Anything that may stand where a tensor operand goes. */
export type TensorLike = Tensor | NDArray | number | boolean;

export class Tensor {
  constructor(
    readonly tracer: Tracer,
    readonly id: number,
  ) {}

  get shape(): readonly number[] {
    return this.tracer.graph.node(this.id).shape;
  }
  get dtype(): DType {
    return this.tracer.graph.node(this.id).dtype;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get size(): number {
    return numel(this.shape);
  }

  private wrap(id: number): Tensor {
    return new Tensor(this.tracer, id);
  }
  private get b() {
    return this.tracer.b;
  }
  /** Node id of an operand; scalars take this tensor's dtype class (weak typing). */
  private operand(x: TensorLike): number {
    return operandId(this.tracer, x, this.dtype);
  }

  private un(fn: UnaryOp): Tensor {
    return this.wrap(this.b.unary(fn, this.id));
  }
  private bin(fn: BinaryOp, other: TensorLike): Tensor {
    return this.wrap(this.b.binary(fn, this.id, this.operand(other)));
  }

  add(o: TensorLike) { return this.bin('add', o); }
  sub(o: TensorLike) { return this.bin('sub', o); }
  mul(o: TensorLike) { return this.bin('mul', o); }
  /**
   * True division (int operands give float32, as in PyTorch); with roundingMode 'trunc' the
   * quotient rounded toward zero, which for integer operands is exact integer division in
   * their type (C's `/`; a zero divisor gives 0, as in NumPy).
   */
  div(o: TensorLike, roundingMode?: 'trunc'): Tensor {
    if (roundingMode === undefined) return this.bin('div', o);
    if (roundingMode !== 'trunc') throw new TypeError(`div: roundingMode must be 'trunc' or omitted, got ${String(roundingMode)}`);
    const other = this.operand(o);
    if (isInt(promote(this.dtype, this.b.dtype(other), 'div'))) return this.wrap(this.b.binary('trunc_div', this.id, other));
    const q = this.b.binary('div', this.id, other);
    const neg = this.b.binary('lt', q, this.b.scalar(0, this.b.dtype(q)));
    return this.wrap(this.b.where(neg, this.b.unary('ceil', q), this.b.unary('floor', q)));
  }
  pow(o: TensorLike) { return this.bin('pow', o); }
  maximum(o: TensorLike) { return this.bin('maximum', o); }
  minimum(o: TensorLike) { return this.bin('minimum', o); }
  eq(o: TensorLike) { return this.bin('eq', o); }
  ne(o: TensorLike) { return this.bin('ne', o); }
  lt(o: TensorLike) { return this.bin('lt', o); }
  le(o: TensorLike) { return this.bin('le', o); }
  gt(o: TensorLike) { return this.bin('gt', o); }
  ge(o: TensorLike) { return this.bin('ge', o); }
  logicalAnd(o: TensorLike) { return this.bin('and', o); }
  logicalOr(o: TensorLike) { return this.bin('or', o); }
  logicalXor(o: TensorLike) { return this.bin('xor', o); }
  /** Python-style modulo (result has the divisor's sign). */
  remainder(o: TensorLike) { return this.bin('mod', o); }
  /** C-style modulo (result has the dividend's sign). */
  fmod(o: TensorLike) { return this.bin('fmod', o); }

  neg() { return this.un('neg'); }
  abs() { return this.un('abs'); }
  exp() { return this.un('exp'); }
  log() { return this.un('log'); }
  sqrt() { return this.un('sqrt'); }
  rsqrt() { return this.un('rsqrt'); }
  sin() { return this.un('sin'); }
  cos() { return this.un('cos'); }
  tan() { return this.un('tan'); }
  tanh() { return this.un('tanh'); }
  sigmoid() { return this.un('sigmoid'); }
  relu() { return this.un('relu'); }
  /** Exact (erf) GELU by default; `approximate: 'tanh'` for the tanh form. */
  gelu(approximate: 'none' | 'tanh' = 'none') { return this.un(approximate === 'tanh' ? 'gelu_tanh' : 'gelu'); }
  silu() { return this.un('silu'); }
  erf() { return this.un('erf'); }
  floor() { return this.un('floor'); }
  ceil() { return this.un('ceil'); }
  round() { return this.un('round'); }
  reciprocal() { return this.un('reciprocal'); }
  sign() { return this.un('sign'); }
  logicalNot() { return this.un('not'); }
  isnan() { return this.un('isnan'); }
  isinf() { return this.un('isinf'); }
  softplus() { return this.un('softplus'); }
  unary(fn: UnaryOp) { return this.un(fn); }

  private red(fn: ReduceOp, dims?: number | number[], keepdim = false): Tensor {
    return this.wrap(this.b.reduce(fn, this.id, dims, keepdim));
  }
  sum(dims?: number | number[], keepdim = false) { return this.red('sum', dims, keepdim); }
  prod(dims?: number | number[], keepdim = false) { return this.red('prod', dims, keepdim); }
  max(dims?: number | number[], keepdim = false) { return this.red('max', dims, keepdim); }
  min(dims?: number | number[], keepdim = false) { return this.red('min', dims, keepdim); }
  mean(dims?: number | number[], keepdim = false): Tensor {
    const axes = normDims('mean', dims, this.ndim);
    const sym = this.tracer.graph.node(this.id).sym;
    // The count is a constant of the graph: over a symbolic dim it would hold for one size only.
    const reduced = sym ? axes.map((a) => sym[a]!).filter((d) => typeof d !== 'number') : [];
    if (reduced.length) throw new SymbolicUnsupportedError(`mean over symbolic dim(s) of [${sym!.map(String).join(',')}]`, reduced.flatMap((d) => (typeof d === 'number' ? [] : d.symbols())));
    const count = axes.reduce((p, a) => p * this.shape[a]!, 1);
    return this.inOpmath((x) => x.sum(dims, keepdim).div(count));
  }
  argmax(dim = -1, keepdim = false, selectLast = false): Tensor {
    return this.wrap(this.b.reduce('argmax', this.id, dim, keepdim, selectLast));
  }
  argmin(dim = -1, keepdim = false, selectLast = false): Tensor {
    return this.wrap(this.b.reduce('argmin', this.id, dim, keepdim, selectLast));
  }
  cumsum(dim: number, exclusive = false, reverse = false): Tensor {
    return this.wrap(this.b.cumsum(this.id, dim, exclusive, reverse));
  }

  /** Decomposed into max, sub, exp, sum and div; the scheduler fuses it into one row kernel. */
  softmax(dim: number): Tensor {
    return this.inOpmath((x) => {
      const e = x.sub(x.max(dim, true)).exp();
      return e.div(e.sum(dim, true));
    });
  }
  logSoftmax(dim: number): Tensor {
    return this.inOpmath((x) => {
      const shifted = x.sub(x.max(dim, true));
      return shifted.sub(shifted.exp().sum(dim, true).log());
    });
  }

  /**
   * Runs `f` on this tensor in its opmath dtype (float32 for ints and half types): int inputs
   * give float32 results, half inputs are cast back once at the end, as PyTorch does.
   */
  inOpmath(f: (x: Tensor) => Tensor): Tensor {
    const y = f(this.to(opmathDType(this.dtype)));
    return isHalf(this.dtype) ? y.to(this.dtype) : y;
  }

  matmul(o: Tensor | NDArray): Tensor {
    return this.wrap(this.b.matmul(this.id, this.operand(o)));
  }

  reshape(shape: number[]) { return this.wrap(this.b.reshape(this.id, shape)); }
  view(shape: number[]) { return this.reshape(shape); }
  permute(dims: number[]) { return this.wrap(this.b.permute(this.id, dims)); }
  transpose(d0: number, d1: number): Tensor {
    const a = normDim('transpose', d0, this.ndim);
    const c = normDim('transpose', d1, this.ndim);
    const perm = Array.from({ length: this.ndim }, (_, i) => i);
    perm[a] = c;
    perm[c] = a;
    return this.permute(perm);
  }
  expand(shape: number[]) { return this.wrap(this.b.expand(this.id, shape)); }
  unsqueeze(dim: number): Tensor {
    const d = normDim('unsqueeze', dim, this.ndim, 1);
    const s = [...this.shape];
    s.splice(d, 0, 1);
    return this.reshape(s);
  }
  squeeze(dim?: number | number[]): Tensor {
    if (dim === undefined) return this.reshape(this.shape.filter((d) => d !== 1));
    const dims = normDims('squeeze', dim, this.ndim);
    for (const d of dims) {
      if (this.shape[d] !== 1) throw new ShapeError(`squeeze: dim ${d} of [${this.shape.join(',')}] has size ${this.shape[d]}, not 1`);
    }
    return this.reshape(this.shape.filter((_, i) => !dims.includes(i)));
  }
  flatten(start = 0, end = -1): Tensor {
    if (this.ndim === 0) return this.reshape([1]);
    const s = normDim('flatten', start, this.ndim);
    const e = normDim('flatten', end, this.ndim);
    if (s > e) throw new ShapeError(`flatten: start dim ${start} after end dim ${end}`);
    const mid = this.shape.slice(s, e + 1).reduce((p, d) => p * d, 1);
    return this.reshape([...this.shape.slice(0, s), mid, ...this.shape.slice(e + 1)]);
  }
  slice(dim: number, start?: number, end?: number, step = 1): Tensor {
    return this.wrap(this.b.slice(this.id, dim, start, end, step));
  }
  gather(dim: number, indices: Tensor | NDArray): Tensor {
    return this.wrap(this.b.gather(this.id, operandId(this.tracer, indices, 'int64'), dim));
  }
  to(dtype: DType): Tensor {
    return this.wrap(this.b.cast(this.id, dtype));
  }
}

/** Resolves any TensorLike to a node id in `t`'s graph. */
export function operandId(t: Tracer, x: TensorLike, like: DType): number {
  if (x instanceof Tensor) {
    if (x.tracer !== t) throw new Error('kiln: a tensor from a different traced function was used');
    return x.id;
  }
  if (x instanceof NDArray) return t.param(x);
  if (typeof x === 'number' || typeof x === 'boolean') {
    const dt = typeof x === 'boolean' ? 'bool' : scalarDType(x, like);
    return t.b.scalar(typeof x === 'boolean' ? (x ? 1 : 0) : x, dt);
  }
  throw new TypeError(`kiln: expected a Tensor, NDArray or number, got ${typeof x}`);
}

/** The tracer of the first Tensor among `xs`, or the active one. */
export function tracerOf(op: string, xs: readonly TensorLike[]): Tracer {
  for (const x of xs) if (x instanceof Tensor) return x.tracer;
  return currentTracer(op);
}
