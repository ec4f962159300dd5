// State shared by the op converters while one graph is imported: the ONNX value names in
// scope, the emitter, and the rules for reading load-time-known arguments (axes, shapes,
// split sizes), including the one for arguments that depend on a graph input's value.

import type { Shape } from '../graph/shape.js';
import type { Binding, Dim } from '../graph/sym.js';
import { ConstTensor } from './const_tensor.js';
import { Emitter, type Val } from './emit.js';
import { Unsupported } from './errors.js';
import type { OnnxNode } from './node.js';

/**
 * A shape argument depends on the value of these graph inputs. The loader then treats them
 * as values fixed at run time: the graph is built (and compiled) once per distinct value.
 */
export class NeedsInputValues extends Error {
  constructor(readonly inputs: string[], detail: string) {
    super(detail);
    this.name = 'NeedsInputValues';
  }
}

/** Inputs wider than this are never specialised on: that would compile once per batch of data. */
export const MAX_VALUE_INPUT = 16;

/**
 * The op converters as the context calls them: ops/types.ts's OpTable is one (the converters
 * import this module, so it names only what it calls, not their module).
 */
export type Converters = Record<string, { convert(ctx: ConvertContext, node: OnnxNode): Val[] }>;

export class ConvertContext {
  readonly values: Map<string, Val>;

  constructor(
    readonly em: Emitter,
    /** The converters, for ops whose bodies are subgraphs (Loop). */
    readonly table: Converters,
    parent?: ConvertContext,
  ) {
    // A subgraph sees every value of the enclosing scope (ONNX's outer-scope references).
    this.values = new Map(parent?.values);
  }

  /** A nested scope for a subgraph body. */
  child(): ConvertContext {
    return new ConvertContext(this.em, this.table, this);
  }

  /** Converts nodes in order, binding their outputs in this scope. */
  convertNode(n: OnnxNode): void {
    const def = this.table[n.opType];
    if (!def) throw new Unsupported(`operator ${n.opType} is not supported`);
    const g = this.em.b.g;
    const saved = g.checkLabel;
    g.checkLabel = n.label;
    let outs;
    try {
      outs = def.convert(this, n);
    } finally {
      g.checkLabel = saved;
    }
    n.outputs.forEach((name, i) => {
      if (name && outs[i] !== undefined) this.values.set(name, outs[i]!);
    });
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  value(name: string, node: OnnxNode): Val {
    const v = this.values.get(name);
    if (v === undefined) throw new Error(`${node.label}: input '${name}' is not produced by any earlier node, initializer or graph input`);
    return v;
  }

  /** Required input k of the node. */
  in(node: OnnxNode, k: number): Val {
    if (!node.hasInput(k)) throw new Error(`${node.label}: missing required input ${k}`);
    return this.value(node.inputs[k]!, node);
  }

  /** Optional input k, undefined when absent. */
  opt(node: OnnxNode, k: number): Val | undefined {
    return node.hasInput(k) ? this.value(node.inputs[k]!, node) : undefined;
  }

  shape(v: Val): Shape {
    return this.em.shape(v);
  }

  /** A value's dims: size formulas where symbolic (a graph node's `sym`), else its shape. */
  dims(v: Val): readonly Dim[] {
    return v instanceof ConstTensor ? v.shape : (this.em.b.sym(v) ?? this.em.b.shape(v));
  }

  /**
   * Input k's elements as sizes known at load time, formulas where they depend on the size
   * symbols (a target shape from Shape → Gather → Concat); undefined when the input is absent.
   */
  dimsIn(node: OnnxNode, k: number, what: string): Dim[] | undefined {
    return this.optConstIn(node, k, what)?.dims();
  }

  /** The symbols' values at the hints (the sizes the graph is traced at), from the graph inputs. */
  hints(): Binding {
    return this.em.hints();
  }

  /** A size formula's value at the hints. */
  hintOf(d: Dim): number {
    return typeof d === 'number' ? d : d.eval(this.hints());
  }

  /** Input k's value, which must be known at load time (it sets a shape, axes or sizes). */
  constIn(node: OnnxNode, k: number, what: string): ConstTensor {
    return this.requireConst(this.in(node, k), node, what);
  }

  optConstIn(node: OnnxNode, k: number, what: string): ConstTensor | undefined {
    const v = this.opt(node, k);
    return v === undefined ? undefined : this.requireConst(v, node, what);
  }

  /** Input k as a list of integers known at load time (undefined when the input is absent). */
  intsIn(node: OnnxNode, k: number, what: string): number[] | undefined {
    return this.optConstIn(node, k, what)?.values();
  }

  requireConst(v: Val, node: OnnxNode, what: string): ConstTensor {
    if (v instanceof ConstTensor) return v;
    const deps = this.userInputsOf(v);
    const msg = `${node.label}: ${what} must be known at load time`;
    if (deps.length > 0 && deps.every((d) => d.size <= MAX_VALUE_INPUT)) {
      throw new NeedsInputValues(deps.map((d) => d.name), `${msg}; it depends on the value of graph input(s) ${deps.map((d) => `'${d.name}'`).join(', ')}`);
    }
    throw new Unsupported(`${msg} (it is computed from ${deps.length ? `graph input(s) ${deps.map((d) => `'${d.name}'`).join(', ')}` : 'runtime data'}: dynamic shapes are not supported)`);
  }

  /** The user graph inputs a graph node depends on. */
  private userInputsOf(id: number): { name: string; size: number }[] {
    const g = this.em.tracer.graph;
    const seen = new Set<number>();
    const out: { name: string; size: number }[] = [];
    const stack = [id];
    while (stack.length) {
      const i = stack.pop()!;
      if (seen.has(i)) continue;
      seen.add(i);
      const n = g.node(i);
      if (n.op === 'input' && n.kind === 'input') out.push({ name: n.name, size: n.shape.reduce((a, b) => a * b, 1) });
      stack.push(...n.inputs);
    }
    return out;
  }
}
