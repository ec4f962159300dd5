// Ops that select or rearrange elements by index: Slice, Gather, GatherElements, GatherND,
// ScatterND, ScatterElements (and its opset-9 name Scatter), Split, Tile, Pad, Trilu, CumSum.
// Index arguments (starts, splits, pads...) are read at load time; data-dependent indices
// (Gather's, the scatters') stay runtime tensors, and are range-checked at load time where
// they are known then.

import type { GraphBuilder } from '../../graph/builder.js';
import { SCATTER_REDUCTIONS, type ScatterReduction, type SliceDim } from '../../graph/ir.js';
import { ShapeError, fmtShape, normDim, numel } from '../../graph/shape.js';
import type { SymSlice } from '../../graph/builder.js';
import { type Dim, SymInt, SymbolicUnsupportedError, fmtDims, symNumel, symStrides } from '../../graph/sym.js';
import { dimSymbols, sameDim } from '../../graph/sym_shape.js';
import { ConstTensor } from '../const_tensor.js';
import type { ConvertContext } from '../context.js';
import type { Val } from '../emit.js';
import type { OnnxNode } from '../node.js';
import type { OpTable } from './types.js';

/** ONNX Slice clamping (differs from Python's for out-of-range starts with negative steps). */
export function onnxSliceDim(n: number, start: number, end: number, step: number): SliceDim {
  if (step === 0) throw new ShapeError('Slice: step 0');
  if (start < 0) start += n;
  if (end < 0) end += n;
  let size: number;
  if (step > 0) {
    start = Math.min(Math.max(start, 0), n);
    end = Math.min(Math.max(end, 0), n);
    size = Math.max(0, Math.ceil((end - start) / step));
  } else {
    start = Math.min(Math.max(start, 0), n - 1);
    end = Math.min(Math.max(end, -1), n - 1);
    size = Math.max(0, Math.ceil((start - end) / -step));
  }
  return { start: size === 0 ? 0 : start, step, size };
}

function slice(ctx: ConvertContext, n: OnnxNode) {
  const x = ctx.in(n, 0);
  const shape = ctx.shape(x);
  let starts: number[], ends: number[], axes: number[] | undefined, steps: number[] | undefined;
  if (n.opset < 10) {
    starts = n.ints('starts') ?? [];
    ends = n.ints('ends') ?? [];
    axes = n.ints('axes');
  } else {
    starts = ctx.constIn(n, 1, 'starts').values();
    ends = ctx.constIn(n, 2, 'ends').values();
    axes = ctx.intsIn(n, 3, 'axes');
    steps = ctx.intsIn(n, 4, 'steps');
  }
  const dims: SliceDim[] = shape.map((s) => ({ start: 0, step: 1, size: s }));
  starts.forEach((st, i) => {
    const a = normDim('Slice', axes ? axes[i]! : i, shape.length);
    dims[a] = onnxSliceDim(shape[a]!, st, ends[i]!, steps ? steps[i]! : 1);
  });
  const sym = n.opset < 10 ? undefined : symbolicSlice(ctx, n, x, dims, axes, steps);
  return ctx.em.emit([x], (b, [x]) => b.sliceDims(x!, dims, sym));
}

/** Slice ends at or past this are "to the end" (exporters write INT64_MAX or INT32_MAX). */
const TO_END = 2 ** 31 - 1;

/**
 * A Slice over symbolic sizes (its input's dims or its starts and ends from a shape chain),
 * step 1: each sliced dim's start and size as formulas. ONNX clamps starts and ends into the
 * dim; a formula cannot, so the slice assumes they lie inside it and the plan guards that per
 * call (schedule/plan_symbols.ts sliceGuards: a static cache sliced to [0, seq) serves
 * seq <= its rows). A formula that disagrees with the clamped slice at the hints is not used.
 */
function symbolicSlice(ctx: ConvertContext, n: OnnxNode, x: Val, dims: readonly SliceDim[], axes: number[] | undefined, steps: number[] | undefined): (SymSlice | undefined)[] | undefined {
  const inDims = ctx.dims(x);
  const [starts, ends] = [ctx.dimsIn(n, 1, 'starts')!, ctx.dimsIn(n, 2, 'ends')!];
  const out: (SymSlice | undefined)[] = inDims.map(() => undefined);
  let any = false;
  starts.forEach((st, i) => {
    const a = normDim('Slice', axes ? axes[i]! : i, inDims.length);
    const len = inDims[a]!;
    const en = ends[i]!;
    if (typeof len === 'number' && typeof st === 'number' && typeof en === 'number') return;
    if ((steps?.[i] ?? 1) !== 1) return; // refused by the builder when the dim is symbolic
    const from = (v: Dim, end: boolean): Dim => {
      if (typeof v !== 'number') return v;
      if (v < 0) return SymInt.of(len).add(v);
      return end && v >= TO_END ? len : v;
    };
    const start = from(st, false);
    const size = SymInt.of(from(en, true)).sub(start);
    const sym: SymSlice = { start: SymInt.of(start).constant ?? start, size: size.constant ?? size };
    // At the hints the formulas must give the clamped slice (else the guards would refuse the hints).
    if (ctx.hintOf(sym.size) !== dims[a]!.size || (dims[a]!.size > 0 && ctx.hintOf(sym.start) !== dims[a]!.start)) return;
    out[a] = sym;
    any = true;
  });
  return any ? out : undefined;
}

function split(ctx: ConvertContext, n: OnnxNode) {
  const x = ctx.in(n, 0);
  const shape = ctx.shape(x);
  const axis = normDim('Split', n.int('axis', 0), shape.length);
  const len = shape[axis]!;
  let sizes = n.ints('split') ?? ctx.intsIn(n, 1, 'split sizes');
  if (!sizes) {
    const parts = n.int('num_outputs') ?? n.outputs.length;
    // Opset 18: equal chunks of ceil(len / parts), the last one smaller.
    const chunk = Math.ceil(len / parts);
    sizes = Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(chunk, len - i * chunk)));
  }
  if (sizes.reduce((a, b) => a + b, 0) !== len) throw new ShapeError(`Split: sizes [${sizes.join(',')}] do not add up to dim ${axis} of ${fmtShape(shape)}`);
  let off = 0;
  const ranges = sizes.map((s) => [off, (off += s)] as const);
  return ctx.em.emit([x], (b, [x]) => ranges.map(([s, e]) => b.slice(x!, axis, s, e)));
}

/** Tile: reshape to interleave a unit dim before each dim, expand it to the repeat count, merge. */
function tile(b: GraphBuilder, x: number, reps: number[]): number {
  const shape = b.shape(x);
  if (reps.length !== shape.length) throw new ShapeError(`Tile: ${reps.length} repeats for rank ${shape.length}`);
  const inter = shape.flatMap((d) => [1, d]);
  const big = shape.flatMap((d, i) => [reps[i]!, d]);
  return b.reshape(b.expand(b.reshape(x, inter), big), shape.map((d, i) => d * reps[i]!));
}

/**
 * Pad, one axis at a time: a gather with a load-time index vector (edge/reflect/wrap pick a
 * source element for each padded position), and for constant mode a mask choosing the value.
 */
function pad(ctx: ConvertContext, n: OnnxNode) {
  const x = ctx.in(n, 0);
  const shape = ctx.shape(x);
  const rank = shape.length;
  const mode = n.string('mode', 'constant');
  let pads: number[];
  let value: ReturnType<ConvertContext['opt']> = undefined;
  let axes: number[] = Array.from({ length: rank }, (_, i) => i);
  if (n.opset < 11) {
    pads = n.ints('pads') ?? n.ints('paddings') ?? [];
    value = ConstTensor.scalar(n.float('value', 0), 'float32');
  } else {
    pads = ctx.constIn(n, 1, 'pads').values();
    value = ctx.opt(n, 2);
    const ax = ctx.intsIn(n, 3, 'axes');
    if (ax) axes = ax.map((a) => normDim('Pad', a, rank));
  }
  if (pads.length !== 2 * axes.length) throw new ShapeError(`Pad: ${pads.length} pads for ${axes.length} axes`);
  const plan = axes.map((a, i) => ({ axis: a, before: pads[i]!, after: pads[i + axes.length]! })).filter((p) => p.before || p.after);
  const operands = value === undefined ? [x] : [x, value];
  return ctx.em.emit(operands, (b, [y, v]) => {
    for (const { axis, before, after } of plan) {
      const len = b.shape(y!)[axis]!;
      const out = len + before + after;
      if (out < 0) throw new ShapeError(`Pad: pads ${before},${after} remove more than dim ${axis} of ${fmtShape(shape)}`);
      if (len === 0 && mode !== 'constant') throw new ShapeError(`Pad: mode ${mode} cannot pad an empty dim`);
      const idx: number[] = [];
      const inside: number[] = [];
      for (let o = 0; o < out; o++) {
        const i = o - before;
        inside.push(i >= 0 && i < len ? 1 : 0);
        idx.push(sourceIndex(mode, i, len));
      }
      const g = b.gather(y!, b.constant(idx, [out], 'int64'), axis);
      if (mode === 'constant') {
        const maskShape = b.shape(g).map((d, k) => (k === axis ? d : 1));
        const fill = v === undefined ? b.scalar(0, b.dtype(y!)) : b.cast(v, b.dtype(y!));
        y = b.where(b.constant(inside, maskShape, 'bool'), g, fill);
      } else y = g;
    }
    return y!;
  });
}

/** The source element for padded position i (in input coordinates) of a dim of length len. */
function sourceIndex(mode: string, i: number, len: number): number {
  if (i >= 0 && i < len) return i;
  switch (mode) {
    case 'constant':
      return 0;
    case 'edge':
      return i < 0 ? 0 : len - 1;
    case 'wrap':
      return ((i % len) + len) % len;
    case 'reflect': {
      if (len === 1) return 0;
      const period = 2 * (len - 1);
      const m = ((i % period) + period) % period;
      return m < len ? m : period - m;
    }
    default:
      throw new ShapeError(`Pad: mode '${mode}'`);
  }
}

/** GatherElements as a gather from the flattened data at computed flat offsets. */
function gatherElements(b: GraphBuilder, data: number, indices: number, axisAttr: number): number {
  const ds = b.shape(data);
  const is = b.shape(indices);
  const axis = normDim('GatherElements', axisAttr, ds.length);
  if (is.length !== ds.length) throw new ShapeError(`GatherElements: indices ${fmtShape(is)} and data ${fmtShape(ds)} differ in rank`);
  const over = is.findIndex((n, d) => d !== axis && n > ds[d]!);
  if (over >= 0) throw new ShapeError(`GatherElements: indices ${fmtShape(is)} exceed data ${fmtShape(ds)} in dim ${over} (only dim ${axis} is indexed)`);
  // Over symbolic sizes (RoBERTa's token types: a buffer expanded to the batch, read at the
  // position ids) the strides and the axis size are sizes computed per call; a dim the
  // indices share with the data must be the same size for every binding.
  const symbolic = b.sym(data) !== undefined || b.sym(indices) !== undefined;
  const [dd, id] = [b.dims(data), b.dims(indices)];
  const differs = id.findIndex((n, d) => d !== axis && (typeof n !== 'number' || typeof dd[d] !== 'number') && !sameDim(n, dd[d]!));
  if (symbolic && differs >= 0) throw new SymbolicUnsupportedError(`GatherElements: indices dim ${differs} (${String(id[differs])}) is not data's (${String(dd[differs])}) for every binding`, dimSymbols([id[differs]!, dd[differs]!]));
  const what = `dim ${axis} of data ${symbolic ? fmtDims(dd) : fmtShape(ds)}`;
  let idx = b.cast(indices, 'int64');
  // Negative indices count from the end of the axis; one still out of range is clamped (the
  // flat offset stays inside data) and is a run-time error.
  b.checkIndices(indices, [dd[axis]!], what, 'GatherElements');
  const n = dd[axis]!;
  idx = b.where(b.binary('lt', idx, b.scalar(0, 'int64')), b.binary('add', idx, b.sizeScalar(n)), idx);
  idx = b.binary('maximum', b.binary('minimum', idx, b.sizeScalar(typeof n === 'number' ? n - 1 : n.sub(1))), b.scalar(0, 'int64'));
  let stride: Dim = 1;
  let flat = b.binary('mul', idx, b.sizeScalar(symbolic ? (symNumel(dd.slice(axis + 1)).constant ?? symNumel(dd.slice(axis + 1))) : numel(ds.slice(axis + 1))));
  for (let d = ds.length - 1; d >= 0; d--) {
    if (d !== axis) flat = b.binary('add', flat, b.binary('mul', b.iota(is, d, 0, 1, 'int64', symbolic ? id : undefined), b.sizeScalar(stride)));
    stride = typeof stride === 'number' && typeof dd[d] === 'number' ? stride * (dd[d] as number) : SymInt.of(stride).mul(dd[d]!);
  }
  return b.gather(b.reshape(data, [numel(ds)], symbolic ? [symNumel(dd)] : undefined), flat, 0, false);
}

/**
 * GatherND as a gather from data with its batch dims and the k indexed dims merged into one,
 * at flat offsets computed by graph ops (so the offsets inline into the gather's kernel):
 * each index component wrapped when negative, then clamped into its dim, so a bad index
 * read at run time never reads out of bounds (known indices are range-checked at load).
 */
export function gatherND(b: GraphBuilder, data: number, indices: number, batchDims: number): number {
  const ds = b.shape(data);
  const is = b.shape(indices);
  const q = is.length;
  const B = batchDims;
  if (q < 1) throw new ShapeError(`GatherND: indices must have rank >= 1, got ${fmtShape(is)}`);
  if (!Number.isInteger(B) || B < 0 || B >= Math.min(q, ds.length)) {
    throw new ShapeError(`GatherND: batch_dims ${B} must be in [0, ${Math.min(q, ds.length)}) for data ${fmtShape(ds)} and indices ${fmtShape(is)}`);
  }
  const bad = is.slice(0, B).findIndex((d, i) => d !== ds[i]);
  if (bad >= 0) throw new ShapeError(`GatherND: batch dim ${bad} differs: data ${fmtShape(ds)}, indices ${fmtShape(is)}`);
  const k = is[q - 1]!;
  if (k < 1 || B + k > ds.length) {
    throw new ShapeError(`GatherND: indices ${fmtShape(is)} address ${k} dims: must be 1 to ${ds.length - B} (rank-${ds.length} data ${fmtShape(ds)} with ${B} batch dims)`);
  }
  const merged = ds.slice(0, B + k);
  const rest = ds.slice(B + k);
  const lead = is.slice(0, -1);
  if (numel(merged) === 0 && numel(lead) * numel(rest) > 0) {
    throw new ShapeError(`GatherND: indices ${fmtShape(is)} address an empty dim of data ${fmtShape(ds)}`);
  }
  // Over symbolic sizes (a padding mask [batch, seq] read at [b, s] pairs built from Ranges)
  // the strides and clamps are sizes computed per call (GraphBuilder.sizeScalar).
  const symbolic = b.sym(data) !== undefined || b.sym(indices) !== undefined;
  const dd = b.dims(data);
  const mergedDims = dd.slice(0, B + k);
  const leadDims = b.dims(indices).slice(0, -1);
  const strides = symbolic ? symStrides(mergedDims).map((s) => s.constant ?? s) : merged.map((_, d) => numel(merged.slice(d + 1)));
  const i64 = (v: number) => b.scalar(v, 'int64');
  let flat: number | undefined;
  const addTerm = (term: number, stride: Dim) => {
    const t = stride === 1 ? term : b.binary('mul', term, b.sizeScalar(stride));
    flat = flat === undefined ? t : b.binary('add', flat, t);
  };
  for (let d = 0; d < B; d++) addTerm(b.iota(lead, d, 0, 1, 'int64', symbolic ? leadDims : undefined), strides[d]!);
  const idx = b.cast(indices, 'int64');
  // Each component is clamped below (memory stays in bounds); one out of range is a run-time error.
  b.checkIndices(indices, mergedDims.slice(B), `dims ${B} to ${B + k - 1} of data ${symbolic ? fmtDims(dd) : fmtShape(ds)}`, 'GatherND');
  for (let t = 0; t < k; t++) {
    const n = mergedDims[B + t]!;
    const raw = b.reshape(b.slice(idx, q - 1, t, t + 1), lead, symbolic ? leadDims : undefined);
    const wrapped = b.where(b.binary('lt', raw, i64(0)), b.binary('add', raw, b.sizeScalar(n)), raw);
    const clamped = b.binary('maximum', b.binary('minimum', wrapped, b.sizeScalar(typeof n === 'number' ? n - 1 : n.sub(1))), i64(0));
    addTerm(clamped, strides[B + t]!);
  }
  return b.gather(b.reshape(data, [numel(merged), ...rest], symbolic ? [symNumel(mergedDims).constant ?? symNumel(mergedDims), ...dd.slice(B + k)] : undefined), flat!, 0, false);
}

/**
 * Known indices must be in range for their dims (after negative ones wrap): ONNX calls any
 * other an error, and at load time it can be named. `dimOf(flat)` is the size of the data
 * dim that index element `flat` addresses.
 */
function checkKnownIndices(n: OnnxNode, indices: Val, dimOf: (flat: number) => number, data: readonly number[]): void {
  if (!(indices instanceof ConstTensor)) return;
  const vals = indices.values();
  const strides = indices.shape.map((_, d) => numel(indices.shape.slice(d + 1)));
  for (let i = 0; i < vals.length; i++) {
    const size = dimOf(i);
    const v = vals[i]!;
    if (v >= -size && v < size) continue;
    const at = strides.map((s, d) => Math.floor(i / s) % indices.shape[d]!);
    throw new ShapeError(`${n.label}: index ${v} at indices[${at.join(',')}] is out of range for a dim of size ${size} (data ${fmtShape(data)}, indices ${fmtShape(indices.shape)}; valid: ${-size} to ${size - 1})`);
  }
}

function reductionOf(n: OnnxNode): ScatterReduction {
  return n.string('reduction', 'none') as ScatterReduction;
}

function checkReduction(n: OnnxNode): string[] {
  const r = n.string('reduction', 'none');
  return (SCATTER_REDUCTIONS as readonly string[]).includes(r) ? [] : [`reduction='${r}'`];
}

function gatherNDOp(ctx: ConvertContext, n: OnnxNode) {
  const [data, indices] = [ctx.in(n, 0), ctx.in(n, 1)];
  const ds = ctx.shape(data);
  const is = ctx.shape(indices);
  const B = n.int('batch_dims', 0);
  const k = is[is.length - 1] ?? 0;
  if (k >= 1 && B + k <= ds.length) checkKnownIndices(n, indices, (i) => ds[B + (i % k)]!, ds);
  return ctx.em.emit([data, indices], (b, [x, i]) => gatherND(b, x!, i!, B));
}

function scatterNDOp(ctx: ConvertContext, n: OnnxNode) {
  const [data, indices, updates] = [ctx.in(n, 0), ctx.in(n, 1), ctx.in(n, 2)];
  const ds = ctx.shape(data);
  const is = ctx.shape(indices);
  const k = is[is.length - 1] ?? 0;
  if (k >= 1 && k <= ds.length) checkKnownIndices(n, indices, (i) => ds[i % k]!, ds);
  return ctx.em.emit([data, indices, updates], (b, [x, i, u]) => b.scatterND(x!, i!, u!, reductionOf(n)));
}

function scatterElementsOp(ctx: ConvertContext, n: OnnxNode) {
  const [data, indices, updates] = [ctx.in(n, 0), ctx.in(n, 1), ctx.in(n, 2)];
  const ds = ctx.shape(data);
  const axis = normDim(n.opType, n.int('axis', 0), ds.length);
  checkKnownIndices(n, indices, () => ds[axis]!, ds);
  return ctx.em.emit([data, indices, updates], (b, [x, i, u]) => b.scatterElements(x!, i!, u!, axis, reductionOf(n)));
}

/**
 * Gather; an index that is a size formula (x[:, seq − 1], the last position, from Shape →
 * Gather → Sub) is a slice at that position with the axis dropped: a number as data would
 * hold the hint.
 */
function gather(ctx: ConvertContext, n: OnnxNode) {
  const [x, i] = [ctx.in(n, 0), ctx.in(n, 1)];
  const raw = n.int('axis', 0);
  if (i instanceof ConstTensor && i.sym && i.size === 1) {
    const shape = ctx.shape(x);
    const axis = normDim('Gather', raw, shape.length);
    const len = ctx.dims(x)[axis]!;
    const at = i.sym[0]!;
    const start = typeof at === 'number' && at < 0 ? SymInt.of(len).add(at) : at;
    const hint = i.values()[0]!;
    const dims: SliceDim[] = shape.map((s) => ({ start: 0, step: 1, size: s }));
    dims[axis] = { start: hint < 0 ? hint + shape[axis]! : hint, step: 1, size: 1 };
    const sym = shape.map((): SymSlice | undefined => undefined);
    sym[axis] = { start, size: 1 };
    const out = [...shape.slice(0, axis), ...i.shape, ...shape.slice(axis + 1)];
    const outDims = [...ctx.dims(x).slice(0, axis), ...i.shape, ...ctx.dims(x).slice(axis + 1)];
    return ctx.em.emit([x], (b, [x]) => b.reshape(b.sliceDims(x!, dims, sym), out, outDims));
  }
  return ctx.em.emit([x, i], (b, [x, i]) => b.gather(x!, i!, raw));
}

function trilu(ctx: ConvertContext, n: OnnxNode) {
  const x = ctx.in(n, 0);
  const k = ctx.intsIn(n, 1, 'k')?.[0] ?? 0;
  const upper = n.int('upper', 1) !== 0;
  const shape = ctx.shape(x);
  if (shape.length < 2) throw new ShapeError(`Trilu: input ${fmtShape(shape)} has rank < 2`);
  const [rows, cols] = shape.slice(-2) as [number, number];
  const [symRows, symCols] = ctx.dims(x).slice(-2) as [Dim, Dim];
  const symbolic = typeof symRows !== 'number' || typeof symCols !== 'number';
  return ctx.em.emit([x], (b, [x]) => {
    // Keep element (i, j) when j - i >= k (upper) or j - i <= k (lower).
    const diff = b.binary('sub', b.iota([1, cols], 1, 0, 1, 'int64', symbolic ? [1, symCols] : undefined), b.iota([rows, 1], 0, 0, 1, 'int64', symbolic ? [symRows, 1] : undefined));
    const keep = b.binary(upper ? 'ge' : 'le', diff, b.scalar(k, 'int64'));
    return b.where(keep, x!, b.scalar(0, b.dtype(x!)));
  });
}

export const indexingOps: OpTable = {
  Slice: { convert: slice },
  Gather: { convert: gather },
  GatherElements: {
    convert: (ctx, n) => ctx.em.emit([ctx.in(n, 0), ctx.in(n, 1)], (b, [x, i]) => gatherElements(b, x!, i!, n.int('axis', 0))),
  },
  GatherND: { convert: gatherNDOp },
  ScatterND: { check: checkReduction, convert: scatterNDOp },
  ScatterElements: { check: checkReduction, convert: scatterElementsOp },
  // Opset 9-10's name for ScatterElements (no reduction).
  Scatter: { convert: scatterElementsOp },
  Split: { convert: split },
  Tile: {
    convert(ctx, n) {
      const reps = ctx.constIn(n, 1, 'repeats').values();
      return ctx.em.emit([ctx.in(n, 0)], (b, [x]) => tile(b, x!, reps));
    },
  },
  Pad: {
    check: (n) => (['constant', 'edge', 'reflect', 'wrap'].includes(n.string('mode', 'constant')) ? [] : [`mode='${n.string('mode')}'`]),
    convert: pad,
  },
  Trilu: { convert: trilu },
  CumSum: {
    convert(ctx, n) {
      const axis = ctx.constIn(n, 1, 'axis').values()[0]!;
      return ctx.em.emit([ctx.in(n, 0)], (b, [x]) => b.cumsum(x!, axis, n.int('exclusive', 0) !== 0, n.int('reverse', 0) !== 0));
    },
  },
};
