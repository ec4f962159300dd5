// Which nodes get a buffer (are "realized") and which are inlined into their consumers.
// Realized: graph inputs, non-scalar constants, reductions, matmuls, scans, scatters, graph outputs,
// matmul operands that are not strided views of a buffer (except a window view's: read
// through its index expression, an implicit GEMM), multi-use pointwise values
// whose inlined expression would be large (recomputing them would cost more than a store),
// and, where the backend asks (windowInputs), the computed value under a window view of
// several taps (a depthwise conv's or a pool's input).

import { type Graph, dimsOf } from '../graph/ir.js';
import { numel } from '../graph/shape.js';
import { type StridedView, composeView, contiguousView } from '../lower/views.js';

/** Past this many inlined operations, a value used more than once is computed once and stored. */
const INLINE_LIMIT = 24;

export interface Realization {
  realized: Set<number>;
  /** Nodes that the outputs depend on. */
  live: Set<number>;
  /** Strided views for matmul operands: operand node id → view of a realized base. */
  views: Map<number, StridedView>;
  /**
   * B operands of matmuls read through their index expression (views over a window view: a
   * conv's implicit GEMM), never materialised; the node under their views is realized.
   */
  implicit: Set<number>;
}

export function liveNodes(g: Graph): Set<number> {
  const live = new Set<number>();
  const stack = [...g.outputs];
  while (stack.length) {
    const id = stack.pop()!;
    if (live.has(id)) continue;
    live.add(id);
    stack.push(...g.node(id).inputs);
  }
  return live;
}

export interface RealizeOptions {
  /** Matmuls over a window view with at least this many multiply-adds materialise it (Backend.im2colMinMacs). */
  im2colMinMacs?: number | undefined;
  /**
   * ...and, when set, only those whose product has fewer 64×64 output tiles than this
   * (Backend.im2colMaxTiles): a conv with few output tiles would starve the generated GEMM.
   */
  im2colMaxTiles?: number | undefined;
  /**
   * With im2colMaxTiles: products at least this deep (K, the taps times input channels per
   * group) materialise im2col whatever their tiles (Backend.im2colMinDepth).
   */
  im2colMinDepth?: number | undefined;
  /**
   * Realize the computed value a window view of more than one tap reads (through views), so a
   * pooling or direct conv reads a buffer (Backend.realizesWindowInputs). Inlined, the value
   * is computed again for every tap that reads it (a depthwise conv's input activation 9 or 49
   * times, its bias and a SiLU's exp included), and its indices pass through the views'
   * divisions; realized, it is usually one more store in its producer (a matmul's epilogue, a
   * normalisation's row kernel).
   */
  windowInputs?: boolean | undefined;
}

/** Output tiles of the generated GEMM (64×64) for a product of shape [...batch, M, N]. */
function gemmTiles(shape: readonly number[]): number {
  const m = shape.at(-2) ?? 1;
  const n = shape.at(-1) ?? 1;
  return Math.ceil(m / 64) * Math.ceil(n / 64) * numel(shape.slice(0, -2));
}

export function realize(g: Graph, options: RealizeOptions = {}): Realization {
  const live = liveNodes(g);
  const realized = new Set<number>();
  const views = new Map<number, StridedView>();
  const implicit = new Set<number>();
  const uses = new Array<number>(g.nodes.length).fill(0);
  for (const n of g.nodes) if (live.has(n.id)) for (const i of n.inputs) uses[i]!++;
  for (const o of g.outputs) realized.add(o);
  const size = new Array<number>(g.nodes.length).fill(0);

  for (const n of g.nodes) {
    if (!live.has(n.id)) continue;
    if (options.windowInputs && n.op === 'window' && n.dims.some((d) => d.k > 1)) {
      const base = viewBase(g, n.inputs[0]!);
      const b = g.node(base);
      // A cat stays inlined (a transposed conv's zero-stuffed input: materialised, it would be stride² times its input).
      if (b.op !== 'cat' && !(b.op === 'const' && b.data.length === 1)) realized.add(base);
    }
    switch (n.op) {
      case 'input':
        realized.add(n.id);
        break;
      case 'const':
        if (n.data.length !== 1) realized.add(n.id);
        break;
      case 'reduce':
      case 'matmul':
      case 'cumsum':
      case 'scatter':
        realized.add(n.id);
        break;
      default:
        break;
    }
    if (n.op === 'matmul') {
      const [a, b] = n.inputs as [number, number];
      views.set(a, stridedOperand(g, a, realized));
      const bases = realized.has(b) || a === b ? undefined : windowBases(g, b);
      const depth = g.node(a).shape.at(-1)!;
      const macs = numel(n.shape) * depth;
      const fewTiles = gemmTiles(n.shape) < (options.im2colMaxTiles ?? Infinity) || depth >= (options.im2colMinDepth ?? Infinity);
      // Over symbolic sizes the operand stays implicit: im2col is chosen by size, which a
      // symbolic program knows per call only (the implicit GEMM is right for every size).
      if (bases !== undefined && !n.sym && macs >= (options.im2colMinMacs ?? Infinity) && fewTiles) {
        // im2col: the operand computed into its own buffer by one kernel, then a strided GEMM.
        realized.add(b);
        views.set(b, contiguousView(g.node(b)));
      } else if (bases !== undefined) {
        for (const base of bases) realized.add(base);
        implicit.add(b);
      } else views.set(b, stridedOperand(g, b, realized));
    }
    size[n.id] = realized.has(n.id) ? 1 : 1 + n.inputs.reduce((s, i) => s + (realized.has(i) ? 1 : size[i]!), 0);
    if (!realized.has(n.id) && uses[n.id]! > 1 && size[n.id]! > INLINE_LIMIT && numel(n.shape) > 1) {
      realized.add(n.id);
      size[n.id] = 1;
    }
  }
  return { realized, live, views, implicit };
}

const VIEW_OPS = new Set(['reshape', 'permute', 'expand', 'slice', 'window']);

/** The node under `id`'s views (itself when it is no view). */
function viewBase(g: Graph, id: number): number {
  let n = g.node(id);
  while (VIEW_OPS.has(n.op)) n = g.node(n.inputs[0]!);
  return n.id;
}

/**
 * For views (and cats of views: a transposed conv's zero-stuffed input) that include a window
 * view, the nodes under them (scalar constants aside: they inline); else undefined.
 */
function windowBases(g: Graph, id: number): number[] | undefined {
  let windowed = false;
  const bases: number[] = [];
  const walk = (i: number): void => {
    const n = g.node(i);
    if (VIEW_OPS.has(n.op)) {
      windowed ||= n.op === 'window';
      walk(n.inputs[0]!);
    } else if (n.op === 'cat') n.inputs.forEach(walk);
    else if (!(n.op === 'const' && n.data.length === 1)) bases.push(i);
  };
  walk(id);
  return windowed ? bases : undefined;
}

/** A strided view of a realized node for a matmul operand, realizing whatever is not a view. */
function stridedOperand(g: Graph, id: number, realized: Set<number>): StridedView {
  const n = g.node(id);
  const contiguous = (): StridedView => {
    realized.add(id);
    return contiguousView(n);
  };
  if (realized.has(id)) return contiguousView(n);
  if (n.op === 'reshape' || n.op === 'permute' || n.op === 'expand' || n.op === 'slice' || n.op === 'window') {
    const input = g.node(n.inputs[0]!);
    const inner = stridedOperand(g, input.id, realized);
    return composeView(n, inner, input.shape, dimsOf(input)) ?? contiguous();
  }
  return contiguous();
}
