// Run-time index checks (Graph.indexChecks): kernels clamp every gather's index and drop a
// scatter's out-of-range updates, so memory stays in bounds; this module makes the bad index
// an error. compileGraph compiles a copy of the graph with two scalar int64 outputs per check
// after the user's: the first bad element's flat position in the indices (their size when
// none) and that element's index. A run reads them (on CUDA when any result is first read
// back, the synchronisation that result needs anyway) and throws IndexRangeError naming the
// ONNX node or the graph op, the index, where it is and the dim's size.

import type { NDArray } from '../graph/ndarray.js';
import type { Traced } from '../frontend/trace.js';
import { GraphBuilder } from '../graph/builder.js';
import { Graph, type IndexCheck, dimsOf } from '../graph/ir.js';
import { type Dim, SymInt, SymbolicUnsupportedError } from '../graph/sym.js';
import { fmtShape, numel } from '../graph/shape.js';

export class IndexRangeError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'IndexRangeError';
  }
}

/** What a run needs to read a checked graph's outputs (no graph: a warm start may have none). */
export interface IndexCheckOutputs {
  /** The user's outputs come first; two per check follow. */
  userOutputs: number;
  checks: readonly IndexCheck[];
  /** Each check's indices shape, for the message. */
  shapes: readonly (readonly number[])[];
}

export interface CheckedGraph extends IndexCheckOutputs {
  traced: Traced;
}

/** A copy of traced with every index check as outputs (traced itself when it has none). */
export function withIndexChecks(traced: Traced): CheckedGraph {
  const src = traced.graph;
  const userOutputs = src.outputs.length;
  if (src.indexChecks.length === 0) return { traced, userOutputs, checks: [], shapes: [] };
  const g = new Graph();
  g.nodes.push(...src.nodes);
  g.inputs.push(...src.inputs);
  g.guards.push(...src.guards);
  const b = new GraphBuilder(g);
  const outs = [...src.outputs];
  for (const c of src.indexChecks) {
    const shape = b.shape(c.indices);
    const N = numel(shape);
    const i64 = (v: number) => b.scalar(v, 'int64');
    // Indices of symbolic sizes (an embedding's ids [batch, seq]): their count is known per
    // call only, so no bad element reads NONE, and the gather's own clamp keeps its read inside.
    const sym = b.sym(c.indices);
    const flat = b.reshape(b.cast(c.indices, 'int64'), [N]);
    const size = c.sizes.length === 1 ? b.sizeScalar(c.sizes[0]!) : coordinateSizes(b, c.sizes, b.dims(flat)[0]!, N);
    const wrapped = b.where(b.binary('lt', flat, i64(0)), b.binary('add', flat, size), flat);
    const bad = b.binary('or', b.binary('lt', wrapped, i64(0)), b.binary('ge', wrapped, size));
    const positions = b.iota([N], 0, 0, 1, 'int64', b.sym(flat));
    const first = b.reduce('min', b.where(bad, positions, i64(sym ? NONE : N)), undefined, false);
    const value = sym ? b.gather(flat, first, 0, false) : b.gather(flat, b.binary('minimum', first, i64(N - 1)), 0, false);
    outs.push(first, value);
  }
  g.outputs = outs;
  // A symbolic dim's size is written -1: a run knows only the first bad element's flat position.
  return { traced: { ...traced, graph: g }, userOutputs, checks: src.indexChecks.slice(), shapes: src.indexChecks.map((c) => dimsOf(src.node(c.indices)).map((d) => (typeof d === 'number' ? d : -1))) };
}

/**
 * Each index element's dim size, for indices whose last dim holds one coordinate per entry of
 * `sizes` (`count` elements, a formula over symbolic sizes): the sizes repeated.
 */
function coordinateSizes(b: GraphBuilder, sizes: readonly Dim[], count: Dim, N: number): number {
  const k = sizes.length;
  const row = sizes.every((d) => typeof d === 'number') ? b.constant(sizes as number[], [1, k], 'int64') : b.reshape(b.cat(sizes.map((d) => b.reshape(b.sizeScalar(d), [1])), 0), [1, k]);
  if (typeof count === 'number') return b.reshape(b.expand(row, [N / k, k]), [N]);
  const rows = SymInt.of(count).divExact(k);
  if (!rows) throw new SymbolicUnsupportedError(`${count.key()} indices in coordinates of ${k}`, count.symbols());
  return b.reshape(b.expand(row, [N / k, k], [rows.constant ?? rows, k]), [N], [count]);
}

/** The first bad position of a symbolic check that found none (any count of indices is below it). */
const NONE = Number.MAX_SAFE_INTEGER;

/** The error for check `c` whose first bad element is at flat position `pos` with index `v`, or undefined. */
function failure(c: IndexCheck, shape: readonly number[], pos: number, v: number): IndexRangeError | undefined {
  const symbolic = shape.includes(-1);
  if (symbolic ? pos === NONE : !(pos < numel(shape))) return undefined;
  const sz = c.sizes[pos % c.sizes.length]!;
  // A symbolic dim's size is not known here (the run's binding is not): its formula.
  const size = typeof sz === 'number' ? sz : sz.key();
  const valid = typeof sz === 'number' ? `${-sz} to ${sz - 1}` : `-(${size}) to ${size} - 1`;
  // Over symbolic sizes the multi-index needs the call's sizes: a vector's is its position.
  const at = !symbolic ? `indices[${shape.map((_, d) => Math.floor(pos / numel(shape.slice(d + 1))) % shape[d]!).join(',')}]` : shape.length === 1 ? `indices[${pos}]` : `flat position ${pos} of the indices`;
  const comp = c.sizes.length > 1 ? ` (coordinate ${pos % c.sizes.length} of ${c.sizes.length})` : '';
  const dims = symbolic ? `[${shape.map((d) => (d < 0 ? '?' : d)).join(', ')}]` : fmtShape(shape);
  return new IndexRangeError(`${c.label}: index ${v} at ${at}${comp} is out of range for ${c.what}: size ${size}, valid ${valid} (indices ${dims})`);
}

function scalarOf(a: NDArray): Promise<number> {
  return a.toArray().then((v) => v[0]!);
}

/** The first failing check's error, reading the check outputs. */
async function firstFailure(cg: IndexCheckOutputs, outs: readonly NDArray[]): Promise<IndexRangeError | undefined> {
  for (let i = 0; i < cg.checks.length; i++) {
    const pos = await scalarOf(outs[cg.userOutputs + 2 * i]!);
    // Over symbolic sizes a passing check is known only from failure() (its position is NONE):
    // it must not end the search, or a later check's failure goes unseen.
    if (!cg.shapes[i]!.includes(-1) && pos >= numel(cg.shapes[i]!)) continue;
    const err = failure(cg.checks[i]!, cg.shapes[i]!, pos, await scalarOf(outs[cg.userOutputs + 2 * i + 1]!));
    if (err) return err;
  }
  return undefined;
}

/**
 * The user's outputs of a run, once the checks pass: host results are checked now (throws);
 * device results are handed back at once and check when first read back.
 */
export async function checkedOutputs(cg: IndexCheckOutputs, outs: NDArray[]): Promise<NDArray[]> {
  if (cg.checks.length === 0) return outs;
  const user = outs.slice(0, cg.userOutputs);
  const checks = outs.slice(cg.userOutputs);
  if (checks.every((a) => a.hostData() !== undefined)) {
    const err = await firstFailure(cg, outs);
    if (err) throw err;
    return user;
  }
  let verdict: Promise<IndexRangeError | undefined> | undefined;
  const verify = async () => {
    verdict ??= firstFailure(cg, outs);
    const err = await verdict;
    if (err) throw err;
  };
  for (const a of user) if (a.deviceData()) a.readCheck = verify;
  return user;
}
