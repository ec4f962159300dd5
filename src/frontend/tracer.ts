// The tracing context: while a user function runs under trace(), every Tensor op appends a
// node to one Graph. NDArrays captured by the function become parameters (graph inputs
// known by shape and dtype, never by value), each NDArray object once.

import { GraphBuilder } from '../graph/builder.js';
import { Graph } from '../graph/ir.js';
import { NDArray } from '../graph/ndarray.js';

export class Tracer {
  readonly graph = new Graph();
  readonly b = new GraphBuilder(this.graph);
  /** Captured NDArrays in the order they became parameters. */
  readonly params: NDArray[] = [];
  private readonly paramIds = new Map<NDArray, number>();

  param(a: NDArray): number {
    let id = this.paramIds.get(a);
    if (id === undefined) {
      id = this.b.input(`param${this.params.length}`, a.shape, a.dtype, 'param');
      this.paramIds.set(a, id);
      this.params.push(a);
    }
    return id;
  }
}

let current: Tracer | undefined;

export function currentTracer(op: string): Tracer {
  if (!current) throw new Error(`${op}: tensors can only be used inside a function traced by compile()`);
  return current;
}

export function withTracer<T>(t: Tracer, fn: () => T): T {
  const prev = current;
  current = t;
  try {
    return fn();
  } finally {
    current = prev;
  }
}

