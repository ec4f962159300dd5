// The importer's builder: every ONNX op is expressed as a function over GraphBuilder calls,
// and this class runs it either for real (appending nodes to the traced graph) or, when
// every operand is known at load time, on a scratch graph evaluated at once by the reference
// interpreter's evaluator (graph/evaluate.ts) with results rounded as a kernel stores them.
// One converter thus serves both roles, and a folded value matches the compiled one.

import type { DType } from '../graph/dtype.js';
import { GraphBuilder } from '../graph/builder.js';
import { evaluateGraph, type RefTensor } from '../graph/evaluate.js';
import { Graph, dependsOnSizes } from '../graph/ir.js';
import { numel, type Shape } from '../graph/shape.js';
import type { Tracer } from '../frontend/tracer.js';
import { ConstTensor } from './const_tensor.js';
import type { Dim } from '../graph/sym.js';
import { foldSymbols } from './sym_fold.js';

/** An importer value: a node of the traced graph, or a tensor known at load time. */
export type Val = number | ConstTensor;

export type BuildFn = (b: GraphBuilder, ids: number[]) => number | number[];

/** Folding bigger tensors in JS costs more than it saves. */
const FOLD_LIMIT = 1 << 20;
/** Known tensors up to this size become kernel constants; larger ones become parameters. */
const CONST_LIMIT = 16;

export class Emitter {
  private readonly materialized = new Map<ConstTensor, number>();

  constructor(readonly tracer: Tracer) {}

  get b(): GraphBuilder {
    return this.tracer.b;
  }

  shape(v: Val): Shape {
    return v instanceof ConstTensor ? v.shape : this.b.shape(v);
  }
  dtype(v: Val): DType {
    return v instanceof ConstTensor ? v.dtype : this.b.dtype(v);
  }

  /** The graph node for a value, creating a constant or parameter for a known tensor once. */
  id(v: Val): number {
    if (!(v instanceof ConstTensor)) return v;
    let id = this.materialized.get(v);
    if (id === undefined && v.sym) {
      // Sizes used as data (x · seq): computed per call, never the hints' values.
      id = this.sizeValue(v.sym, v.shape, v.dtype);
      this.materialized.set(v, id);
    }
    if (id === undefined) {
      // Weights stay parameters (new weights must not change kernels); small computed values
      // fuse as constants, unless numbers cannot hold them (64-bit ints past 2^53).
      id = v.weight || v.size > CONST_LIMIT || !v.exactAsNumbers() ? this.tracer.param(v.toNDArray()) : this.b.constant(v.values(), v.shape, v.dtype);
      this.materialized.set(v, id);
    }
    return id;
  }

  /** The size symbols' values at the hints (the sizes the graph is traced at), from its inputs. */
  hints(): Map<string, number> {
    return this.b.hints();
  }

  /** A tensor of size formulas as graph values computed per call (GraphBuilder.sizeScalar). */
  private sizeValue(dims: readonly Dim[], shape: Shape, dtype: DType): number {
    const b = this.b;
    const elems = dims.map((d) => b.sizeScalar(d));
    const flat = elems.length === 1 ? elems[0]! : b.cat(elems.map((e) => b.reshape(e, [1])), 0);
    return b.cast(b.reshape(flat, shape), dtype);
  }

  /** Runs `fn` over the operands: folded in JS when all are known and small, else into the graph. */
  emit(operands: readonly Val[], fn: BuildFn): Val[] {
    // Folding computes over numbers: 64-bit ints past 2^53 are computed by the kernels instead.
    if (operands.every((v) => v instanceof ConstTensor && v.size <= FOLD_LIMIT && v.exactAsNumbers())) {
      const folded = this.fold(operands as ConstTensor[], fn);
      if (folded) return folded;
    }
    const res = fn(this.b, operands.map((v) => this.id(v)));
    // A value with no elements is known whatever the inputs: keep it out of the compiled graph.
    // (Over symbolic sizes only a dim that is 0 for every binding makes it empty.)
    const empty = (id: number) => numel(this.b.shape(id)) === 0 && (this.b.sym(id)?.includes(0) ?? true);
    return (typeof res === 'number' ? [res] : res).map((id) => (empty(id) ? new ConstTensor(this.b.shape(id), this.b.dtype(id), []) : id));
  }

  emit1(operands: readonly Val[], fn: (b: GraphBuilder, ids: number[]) => number): Val {
    return this.emit(operands, fn)[0]!;
  }

  private fold(operands: ConstTensor[], fn: BuildFn): Val[] | undefined {
    const g = new Graph();
    const sb = new GraphBuilder(g);
    sb.symbolHints = this.hints();
    const ids = operands.map((c, i) => sb.input(`c${i}`, c.shape, c.dtype));
    const res = fn(sb, ids);
    const outs = typeof res === 'number' ? [res] : res;
    for (let i = operands.length; i < g.nodes.length; i++) if (numel(g.nodes[i]!.shape) > FOLD_LIMIT) return undefined;
    // A value of symbolic size (an iota of length seq) is computed per call, never folded at the hints.
    if (g.nodes.some(dependsOnSizes)) return undefined;
    const vals: (RefTensor | undefined)[] = operands.map((c) => ({ shape: [...c.shape], dtype: c.dtype, data: Float64Array.from(c.values()) }));
    evaluateGraph(g, vals, 'kernel');
    // Sizes over symbols (sym_fold.ts): carried where the ops allow, else the hints' values alone.
    const syms = operands.some((c) => c.sym) ? foldSymbols(g, vals, operands.map((c) => c.sym?.slice()), this.hints(), this.b.g.guards) : undefined;
    const folded = outs.map((o) => {
      if (o < operands.length) return operands[o]!;
      const c = new ConstTensor(g.node(o).shape, g.node(o).dtype, Array.from(vals[o]!.data));
      if (syms?.[o]) c.sym = syms[o]!;
      return c;
    });
    return folded.every((c) => c.exactAsNumbers()) ? folded : undefined;
  }
}
