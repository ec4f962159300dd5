// trace(fn, specs): runs a user function over symbolic tensors and returns the Graph with its
// inputs (user inputs first, then the NDArrays it captured, as parameters) and outputs.

import type { DType } from '../graph/dtype.js';
import type { Graph } from '../graph/ir.js';
import type { Dim } from '../graph/sym.js';
import { NDArray } from '../graph/ndarray.js';
import { Tensor } from './tensor.js';
import { Tracer, withTracer } from './tracer.js';
import { traceSpan } from '../observe/trace.js';

export interface InputSpec {
  /** The sizes; where `sym` gives a symbolic dim, its hint. */
  shape: readonly number[];
  dtype: DType;
  /** Symbolic dims (graph/sym.ts), one per dim, a number where static; absent: all static. */
  sym?: readonly Dim[];
}

export interface Traced {
  graph: Graph;
  /** Captured NDArrays, in the order of the graph's parameter inputs (after the user inputs). */
  params: NDArray[];
  /** True when fn returned an array (so the compiled function returns an array too). */
  returnsArray: boolean;
  /**
   * The params never change (an ONNX model's initializers and the constants folded from them),
   * so a runtime may keep them in another layout too (the CPU's weights packed once:
   * backends/cpu/packed_weights.ts). Never set for compile(fn): its captured arrays may change
   * between calls and each call must see them.
   */
  immutableParams?: boolean;
}

export type TracedFn = (...xs: Tensor[]) => Tensor | NDArray | number | readonly (Tensor | NDArray | number)[];

export function trace(fn: TracedFn, specs: readonly InputSpec[]): Traced {
  const end = traceSpan('trace', 'trace function');
  try {
    return traceGraph(fn, specs);
  } finally {
    end();
  }
}

function traceGraph(fn: TracedFn, specs: readonly InputSpec[]): Traced {
  const t = new Tracer();
  const inputs = specs.map((s, i) => new Tensor(t, t.b.input(`input${i}`, s.shape, s.dtype, 'input', s.sym)));
  const result = withTracer(t, () => fn(...inputs));
  const list = Array.isArray(result) ? result : [result];
  if (list.length === 0) throw new Error('compile: the traced function returned no tensors');
  t.graph.outputs = list.map((r, i) => {
    if (r instanceof Tensor) {
      if (r.tracer !== t) throw new Error(`compile: output ${i} is a tensor from another trace`);
      return r.id;
    }
    if (r instanceof NDArray) return t.param(r);
    if (typeof r === 'number') return t.b.scalar(r, 'float32');
    throw new TypeError(`compile: output ${i} of the traced function is not a Tensor (got ${typeof r})`);
  });
  // Parameters are appended after user inputs so call order is (inputs..., params...).
  const g = t.graph;
  const userInputs = g.inputs.filter((id) => g.node(id).op === 'input' && (g.node(id) as { kind: string }).kind === 'input');
  const paramInputs = g.inputs.filter((id) => !userInputs.includes(id));
  g.inputs.splice(0, g.inputs.length, ...userInputs, ...paramInputs);
  return { graph: g, params: t.params, returnsArray: Array.isArray(result) };
}
