// Graph builders: one function per primitive op. Each validates its operands (errors name
// the op, the shapes and the dims) and infers the result's shape and dtype. The frontend's
// Tensor methods and the ONNX importer both build graphs only through these.

import { type DType, isFloat, isInt, promote } from './dtype.js';
import { type BinaryOp, COMPARE_OPS, Graph, LOGIC_OPS, type ReduceOp, SCATTER_REDUCTIONS, type ScatterReduction, type SliceDim, type UnaryOp, type WindowDim } from './ir.js';
import {
  ShapeError,
  assertValidShape,
  broadcastShapes,
  fmtShape,
  normDim,
  normDims,
  numel,
  sameShape,
  type Shape,
} from './shape.js';
import { type Dim, SymInt, SymbolicUnsupportedError, fmtDims } from './sym.js';
import { broadcastDims, dimSymbols, matchHints, reduceDims, reshapeDims, sameDim, windowDims } from './sym_shape.js';

export class GraphBuilder {
  constructor(readonly g: Graph) {}

  shape(id: number): Shape {
    return this.g.node(id).shape;
  }
  dtype(id: number): DType {
    return this.g.node(id).dtype;
  }
  /** The symbolic dims of a node that has any, else undefined. */
  sym(id: number): readonly Dim[] | undefined {
    return this.g.node(id).sym;
  }
  /** A node's dims: formulas where symbolic, else its shape. */
  dims(id: number): readonly Dim[] {
    return this.g.node(id).sym ?? this.g.node(id).shape;
  }
  private anySym(ids: readonly number[]): boolean {
    return ids.some((i) => this.g.node(i).sym !== undefined);
  }
  /** For a scratch graph built beside a symbolic one (ONNX folding): the symbols' hints there. */
  symbolHints: Map<string, number> | undefined;

  /** The size symbols' values at the hints (the sizes the graph is traced at), from its inputs. */
  hints(): Map<string, number> {
    if (this.symbolHints) return this.symbolHints;
    const b = new Map<string, number>();
    for (const id of this.g.inputs) {
      const n = this.g.node(id);
      n.sym?.forEach((d, i) => {
        const name = typeof d === 'number' ? undefined : d.bareSymbol;
        if (name !== undefined) b.set(name, n.shape[i]!);
      });
    }
    return b;
  }

  /**
   * A size as an int64 scalar value: a constant where static, else computed per call, each
   * term's monomial the count of a block of ones of those sizes (a sum the fusion makes a
   * tiny loop), so sizes used as data (an ONNX model's x · seq, GatherND's strides) need no
   * node kind of their own and every backend computes them.
   */
  sizeScalar(d: Dim): number {
    if (typeof d === 'number' || d.isConstant) return this.scalar(typeof d === 'number' ? d : d.constant!, 'int64');
    // One value per formula in a graph: GatherND's strides and clamps, index checks and an
    // ONNX model's sizes as data often name the same size.
    const known = this.sizeValues.get(d.key());
    if (known !== undefined) return known;
    const id = this.computeSize(d);
    this.sizeValues.set(d.key(), id);
    return id;
  }

  private readonly sizeValues = new Map<string, number>();

  private computeSize(d: SymInt): number {
    const hints = this.hints();
    const terms = d.toJSON().map(([coef, names]) => {
      if (names.length === 0) return this.scalar(coef, 'int64');
      const ones = this.expand(this.scalar(1, 'int64'), names.map((n) => hints.get(n)!), names.map((n) => SymInt.symbol(n)));
      const count = this.reduce('sum', ones, undefined, false);
      return coef === 1 ? count : this.binary('mul', count, this.scalar(coef, 'int64'));
    });
    return terms.reduce((acc, t) => this.binary('add', acc, t));
  }

  /** Ops that do not take symbolic sizes yet refuse them, so compile() specialises. */
  private staticOnly(op: string, ids: readonly number[]): void {
    if (this.anySym(ids)) throw new SymbolicUnsupportedError(`${op} of a tensor with symbolic sizes`, ids.flatMap((i) => dimSymbols(this.dims(i))));
  }

  /** `sym`: the input's symbolic dims (SymInt where symbolic; `shape` holds their hints). */
  input(name: string, shape: Shape, dtype: DType, kind: 'input' | 'param' = 'input', sym?: readonly Dim[]): number {
    assertValidShape('input', shape);
    if (sym && sym.length !== shape.length) throw new ShapeError(`input: symbolic dims ${sym.length} for rank ${shape.length}`);
    return this.g.add({ op: 'input', name, kind }, [], shape, dtype, sym);
  }

  /** A constant tensor (scalars have shape []). Values are stored as numbers (int64 too). */
  constant(data: readonly number[], shape: Shape, dtype: DType): number {
    assertValidShape('constant', shape);
    if (data.length !== numel(shape)) {
      throw new ShapeError(`constant: ${data.length} values for shape ${fmtShape(shape)}`);
    }
    return this.g.add({ op: 'const', data: [...data] }, [], shape, dtype);
  }

  scalar(value: number, dtype: DType): number {
    return this.constant([value], [], dtype);
  }

  unary(fn: UnaryOp, x: number): number {
    const dt = this.dtype(x);
    let out: DType = dt;
    switch (fn) {
      case 'not':
        if (dt !== 'bool') throw new ShapeError(`not: expected bool, got ${dt}`);
        break;
      case 'isnan':
      case 'isinf':
        out = 'bool';
        break;
      case 'neg':
      case 'abs':
      case 'sign':
      case 'relu':
        if (dt === 'bool') throw new ShapeError(`${fn}: not defined for bool`);
        break;
      case 'floor':
      case 'ceil':
      case 'round':
        if (!isFloat(dt)) return x; // integral already
        break;
      default:
        // Transcendental functions compute in float: an int operand is promoted, as in PyTorch.
        out = isFloat(dt) ? dt : 'float32';
        if (dt !== out) x = this.cast(x, out);
    }
    return this.g.add({ op: 'unary', fn }, [x], this.shape(x), out, this.sym(x));
  }

  binary(fn: BinaryOp, a: number, b: number): number {
    const shape = broadcastShapes(fn, this.shape(a), this.shape(b));
    const sym = this.anySym([a, b]) ? broadcastDims(fn, this.dims(a), this.dims(b)) : undefined;
    let common = promote(this.dtype(a), this.dtype(b), fn);
    let out: DType = common;
    if (COMPARE_OPS.includes(fn)) out = 'bool';
    else if (LOGIC_OPS.includes(fn)) {
      if (this.dtype(a) !== 'bool' || this.dtype(b) !== 'bool') {
        throw new ShapeError(`${fn}: expected bool operands, got ${this.dtype(a)} and ${this.dtype(b)}`);
      }
      common = 'bool';
      out = 'bool';
    } else if (common === 'bool') {
      if (fn === 'maximum' || fn === 'minimum' || fn === 'mul') out = 'bool';
      else throw new ShapeError(`${fn}: not defined for bool operands`);
    } else if (fn === 'div' && !isFloat(common)) {
      // True division, as in PyTorch: int / int gives float.
      common = 'float32';
      out = 'float32';
    } else if (fn === 'trunc_div' && !isInt(common)) {
      throw new ShapeError(`trunc_div: expects integer operands, got ${this.dtype(a)} and ${this.dtype(b)}`);
    }
    if (this.dtype(a) !== common) a = this.cast(a, common);
    if (this.dtype(b) !== common) b = this.cast(b, common);
    return this.g.add({ op: 'binary', fn }, [a, b], shape, out, sym);
  }

  where(cond: number, a: number, b: number): number {
    if (this.dtype(cond) !== 'bool') throw new ShapeError(`where: condition must be bool, got ${this.dtype(cond)}`);
    const s1 = broadcastShapes('where', this.shape(cond), this.shape(a));
    const shape = broadcastShapes('where', s1, this.shape(b));
    const sym = this.anySym([cond, a, b]) ? broadcastDims('where', broadcastDims('where', this.dims(cond), this.dims(a)), this.dims(b)) : undefined;
    const dt = promote(this.dtype(a), this.dtype(b), 'where');
    if (this.dtype(a) !== dt) a = this.cast(a, dt);
    if (this.dtype(b) !== dt) b = this.cast(b, dt);
    return this.g.add({ op: 'where' }, [cond, a, b], shape, dt, sym);
  }

  cast(x: number, to: DType): number {
    if (this.dtype(x) === to) return x;
    return this.g.add({ op: 'cast', to }, [x], this.shape(x), to, this.sym(x));
  }

  reduce(fn: ReduceOp, x: number, dims: number | readonly number[] | undefined, keepdim: boolean, selectLast = false): number {
    const shape = this.shape(x);
    const axes = normDims(fn, dims, shape.length);
    for (const a of axes) {
      if (shape[a] === 0 && fn !== 'sum' && fn !== 'prod') {
        throw new ShapeError(`${fn}: cannot reduce over empty dim ${a} of ${fmtShape(shape)}`);
      }
    }
    if ((fn === 'argmax' || fn === 'argmin') && axes.length !== 1) {
      throw new ShapeError(`${fn}: expects exactly one dim, got [${axes.join(',')}]`);
    }
    const outShape = keepdim ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
    let dt = this.dtype(x);
    if (fn === 'argmax' || fn === 'argmin') dt = 'int64';
    else if ((fn === 'sum' || fn === 'prod') && dt === 'bool') {
      x = this.cast(x, 'int64');
      dt = 'int64';
    }
    const sym = this.anySym([x]) ? reduceDims(this.dims(x), axes, keepdim) : undefined;
    return this.g.add({ op: 'reduce', fn, axes, keepdim, ...(selectLast ? { selectLast } : {}) }, [x], outShape, dt, sym);
  }

  /**
   * `symTarget` (symbolic graphs): the target's dims as formulas where known (ONNX shape chains
   * carry them; -1 still takes what is left); without it, target dims equal to the hint of the
   * input's symbolic dim at the same position are that dim (sym_shape.ts matchHints).
   */
  reshape(x: number, shape: readonly number[], symTarget?: readonly Dim[]): number {
    const inShape = this.shape(x);
    const n = numel(inShape);
    const out = [...shape];
    const neg = out.filter((d) => d === -1).length;
    if (neg > 1) throw new ShapeError(`reshape: more than one -1 in ${fmtShape(shape)}`);
    if (neg === 1) {
      const known = out.reduce((p, d) => (d === -1 ? p : p * d), 1);
      if (known === 0 || n % known !== 0) {
        throw new ShapeError(`reshape: cannot reshape ${fmtShape(inShape)} into ${fmtShape(shape)}`);
      }
      out[out.indexOf(-1)] = n / known;
    }
    assertValidShape('reshape', out);
    if (numel(out) !== n) throw new ShapeError(`reshape: cannot reshape ${fmtShape(inShape)} (${n} elements) into ${fmtShape(shape)}`);
    const sym = this.anySym([x]) ? reshapeDims(this.dims(x), inShape, shape, out, symTarget) : undefined;
    if (out.length === inShape.length && out.every((d, i) => d === inShape[i]) && (!sym || sym.every((d, i) => sameDim(d, this.dims(x)[i]!)))) return x;
    return this.g.add({ op: 'reshape' }, [x], out, this.dtype(x), sym);
  }

  permute(x: number, dims: readonly number[]): number {
    const shape = this.shape(x);
    if (dims.length !== shape.length) {
      throw new ShapeError(`permute: ${dims.length} dims [${dims.join(',')}] for rank ${shape.length} tensor ${fmtShape(shape)}`);
    }
    const perm = dims.map((d) => normDim('permute', d, shape.length));
    if (new Set(perm).size !== perm.length) throw new ShapeError(`permute: repeated dim in [${dims.join(',')}]`);
    if (perm.every((p, i) => p === i)) return x;
    const sym = this.sym(x);
    return this.g.add({ op: 'permute', perm }, [x], perm.map((p) => shape[p]!), this.dtype(x), sym && perm.map((p) => sym[p]!));
  }

  /** `symTarget`: the target's dims as formulas where known (see reshape), else hints are matched. */
  expand(x: number, shape: readonly number[], symTarget?: readonly Dim[]): number {
    const inShape = this.shape(x);
    if (shape.length < inShape.length) {
      throw new ShapeError(`expand: cannot expand ${fmtShape(inShape)} to fewer dims ${fmtShape(shape)}`);
    }
    const off = shape.length - inShape.length;
    const out = shape.map((d, i) => {
      const src = i >= off ? inShape[i - off]! : 1;
      const want = d === -1 ? src : d;
      if (src !== want && src !== 1) throw new ShapeError(`expand: cannot expand ${fmtShape(inShape)} to ${fmtShape(shape)} (dim ${i})`);
      return want;
    });
    assertValidShape('expand', out);
    let sym: Dim[] | undefined;
    if (this.anySym([x]) || symTarget?.some((d) => typeof d !== 'number')) {
      const inDims = this.dims(x);
      if (symTarget && symTarget.length !== out.length) throw new ShapeError(`expand: symbolic target ${fmtDims(symTarget)} for shape ${fmtShape(out)}`);
      const matched = matchHints(out, inDims, inShape, 'end');
      sym = symTarget ? symTarget.map((d, i) => (d === -1 ? matched[i]! : d)) : matched;
      // Each input dim is kept or is a 1 broadcast to the target.
      sym.forEach((d, i) => {
        const src = i >= off ? inDims[i - off]! : 1;
        if (src !== 1 && !sameDim(src, d)) throw new SymbolicUnsupportedError(`expand: ${String(src)} to ${String(d)} (dim ${i})`, dimSymbols([src, d]));
      });
    }
    if (out.length === inShape.length && out.every((d, i) => d === inShape[i]) && (!sym || sym.every((d, i) => sameDim(d, this.dims(x)[i]!)))) return x;
    return this.g.add({ op: 'expand' }, [x], out, this.dtype(x), sym);
  }

  /**
   * General strided slice; `dims` gives one entry per dim (already normalised). `symDims`
   * (symbolic graphs) gives a dim's start and size as formulas, with step 1: a static cache
   * sliced to a symbolic length ([0, s1) of [512]), a symbolic dim cut (s1 − 1 from 1). The
   * plan guards that every call's slice lies inside its input (sym_shape.ts sliceGuards).
   */
  sliceDims(x: number, dims: SliceDim[], symDims?: readonly (SymSlice | undefined)[]): number {
    const shape = this.shape(x);
    const inDims = this.dims(x);
    const given = (i: number) => symDims?.[i];
    if (dims.every((d, i) => d.start === 0 && d.step === 1 && d.size === shape[i] && (!given(i) || (sameDim(given(i)!.start, 0) && sameDim(given(i)!.size, inDims[i]!))))) return x;
    // Without symDims a symbolic dim passes through whole (start 0, step 1, its hint as size).
    const cut = inDims.filter((d, i) => typeof d !== 'number' && !given(i) && (dims[i]!.start !== 0 || dims[i]!.step !== 1 || dims[i]!.size !== shape[i]));
    if (cut.length) throw new SymbolicUnsupportedError(`slice of symbolic dim(s) of ${fmtDims(inDims)}`, dimSymbols(cut));
    const out = dims.map((d, i) => {
      const s = given(i);
      if (!s) return { dim: typeof inDims[i] === 'number' ? d.size : inDims[i]!, attr: d };
      if (d.step !== 1) throw new SymbolicUnsupportedError(`slice with step ${d.step} of symbolic size`, dimSymbols([s.start, s.size]));
      const start = typeof s.start === 'number' ? s.start : s.start.constant;
      return { dim: typeof s.size === 'number' ? s.size : (s.size.constant ?? s.size), attr: { ...d, ...(start === undefined ? { symStart: (s.start as SymInt).toJSON() } : { start }) } };
    });
    const sym = out.map((o) => o.dim);
    return this.g.add({ op: 'slice', dims: out.map((o) => o.attr) }, [x], dims.map((d) => d.size), this.dtype(x), sym.some((d) => typeof d !== 'number') ? sym : undefined);
  }

  /** PyTorch/Python-style slice of one dim with clamping: x[..., start:end:step, ...]. */
  slice(x: number, dim: number, start: number | undefined, end: number | undefined, step = 1): number {
    const shape = this.shape(x);
    const d = normDim('slice', dim, shape.length);
    const n = shape[d]!;
    if (!Number.isInteger(step) || step === 0) throw new ShapeError(`slice: step must be a nonzero integer, got ${step}`);
    const dims: SliceDim[] = shape.map((s) => ({ start: 0, step: 1, size: s }));
    dims[d] = sliceRange(n, start, end, step);
    return this.sliceDims(x, dims);
  }

  /**
   * Sliding windows over some dims (convolution and pooling): for each spec, the dim's size
   * becomes the number of window positions, floor((in + padBefore + padAfter − ((k−1)·dilation
   * + 1)) / stride) + 1, and a tap dim of size k is appended; positions outside the input
   * (the padding) read `fill`. A negative padAfter leaves trailing elements no window reaches.
   */
  window(x: number, specs: readonly WindowSpec[], fill = 0): number {
    const shape = this.shape(x);
    const fmt = () => `window: ${fmtShape(shape)} with [${specs.map((s) => `dim ${s.dim} k=${s.k} stride=${s.stride ?? 1} dilation=${s.dilation ?? 1} pads=${s.padBefore ?? 0},${s.padAfter ?? 0}`).join('; ')}]`;
    const seen = new Set<number>();
    const dims: WindowDim[] = specs.map((s) => {
      const dim = normDim('window', s.dim, shape.length);
      if (seen.has(dim)) throw new ShapeError(`${fmt()}: dim ${dim} given twice`);
      seen.add(dim);
      const stride = s.stride ?? 1;
      const dilation = s.dilation ?? 1;
      const pb = s.padBefore ?? 0;
      const pa = s.padAfter ?? 0;
      for (const [name, v, min] of [['k', s.k, 1], ['stride', stride, 1], ['dilation', dilation, 1], ['padBefore', pb, 0], ['padAfter', pa, -Infinity]] as const) {
        if (!Number.isInteger(v) || v < min) throw new ShapeError(`${fmt()}: ${name} must be an integer >= ${min}, got ${v}`);
      }
      const span = shape[dim]! + pb + pa - ((s.k - 1) * dilation + 1);
      if (span < 0) throw new ShapeError(`${fmt()}: a window of ${(s.k - 1) * dilation + 1} does not fit dim ${dim} of size ${shape[dim]} (padded ${shape[dim]! + pb + pa})`);
      return { dim, out: Math.floor(span / stride) + 1, k: s.k, stride, dilation, pad: pb };
    });
    if (!Number.isFinite(fill)) throw new ShapeError(`${fmt()}: fill must be finite, got ${fill}`);
    const out = [...shape];
    for (const d of dims) out[d.dim] = d.out;
    out.push(...dims.map((d) => d.k));
    return this.g.add({ op: 'window', dims, fill }, [x], out, this.dtype(x), this.anySym([x]) ? windowDims(this.dims(x), dims) : undefined);
  }

  cat(xs: readonly number[], dim: number): number {
    if (xs.length === 0) throw new ShapeError('cat: expects at least one tensor');
    const first = this.shape(xs[0]!);
    const axis = normDim('cat', dim, first.length);
    let total = 0;
    let dt = this.dtype(xs[0]!);
    // Over symbolic sizes: the other dims must be the same symbols; along the axis the sizes
    // add up as formulas (a cache's past + new along the sequence).
    const symbolic = this.anySym(xs);
    let symTotal = SymInt.of(0);
    for (const x of xs) {
      const s = this.shape(x);
      if (s.length !== first.length || s.some((d, i) => i !== axis && d !== first[i])) {
        throw new ShapeError(`cat: shapes ${xs.map((y) => fmtShape(this.shape(y))).join(', ')} differ outside dim ${axis}`);
      }
      if (symbolic && this.dims(x).some((d, i) => i !== axis && !sameDim(d, this.dims(xs[0]!)[i]!))) this.staticOnly('cat of different symbolic sizes', xs);
      total += s[axis]!;
      symTotal = symTotal.add(this.dims(x)[axis]!);
      dt = promote(dt, this.dtype(x), 'cat');
    }
    // Only a part that is empty for every binding is dropped.
    const parts = xs.map((x) => this.cast(x, dt)).filter((x) => this.dims(x)[axis] !== 0);
    if (parts.length === 1) return parts[0]!;
    const out = [...first];
    out[axis] = total;
    const sym = symbolic ? this.dims(xs[0]!).map((d, i) => (i === axis ? (symTotal.constant ?? symTotal) : d)) : undefined;
    return this.g.add({ op: 'cat', axis }, parts, out, dt, sym);
  }

  /**
   * ONNX/NumPy take: out shape = data[:axis] + indices.shape + data[axis+1:]; negative indices
   * wrap once. An index still out of range is clamped for the load (memory stays in bounds)
   * and, unless `checked` is false (the caller checks its own raw indices, as GatherND and
   * GatherElements do), is a run-time error naming the op (Graph.indexChecks).
   */
  gather(data: number, indices: number, dim: number, checked = true): number {
    const ds = this.shape(data);
    const axis = normDim('gather', dim, ds.length);
    const idt = this.dtype(indices);
    if (idt !== 'int32' && idt !== 'int64') throw new ShapeError(`gather: indices must be int32 or int64, got ${idt}`);
    // Over symbolic sizes the indexed dim's size is read by the wrap, the clamp and the check
    // (a size argument, or a size computed per call, where symbolic).
    const dd = this.dims(data);
    const out = [...ds.slice(0, axis), ...this.shape(indices), ...ds.slice(axis + 1)];
    const sym = this.anySym([data, indices]) ? [...dd.slice(0, axis), ...this.dims(indices), ...dd.slice(axis + 1)] : undefined;
    const id = this.g.add({ op: 'gather', axis }, [data, indices], out, this.dtype(data), sym);
    if (checked) this.checkIndices(indices, [dd[axis]!], `dim ${axis} of data ${this.sym(data) ? fmtDims(dd) : fmtShape(ds)}`, `gather (graph node ${id})`);
    return id;
  }

  /**
   * Records a run-time range check of `indices` (Graph.indexChecks): each element, wrapped once
   * when negative, must be below its size (sizes[e % sizes.length] for element e). The label is
   * the converting frontend's (an ONNX node's) when it set one, else `fallback`.
   */
  checkIndices(indices: number, sizes: readonly Dim[], what: string, fallback: string): void {
    if (numel(this.shape(indices)) === 0) return;
    this.g.indexChecks.push({ indices, sizes: [...sizes], what, label: this.g.checkLabel ?? fallback });
  }

  /**
   * ONNX ScatterND: a copy of `data` with `updates` written (or combined, by `reduction`) at
   * the slices `indices` names: indices [..., k] holds the first k coordinates of each
   * target, updates has shape indices.shape[:-1] + data.shape[k:].
   */
  scatterND(data: number, indices: number, updates: number, reduction: ScatterReduction = 'none'): number {
    const ds = this.shape(data);
    const is = this.shape(indices);
    this.checkScatter('scatterND', indices, reduction);
    if (is.length < 1) throw new ShapeError(`scatterND: indices must have rank >= 1, got ${fmtShape(is)}`);
    const k = is[is.length - 1]!;
    if (k > ds.length) throw new ShapeError(`scatterND: indices ${fmtShape(is)} address ${k} dims of rank-${ds.length} data ${fmtShape(ds)}`);
    const want = [...is.slice(0, -1), ...ds.slice(k)];
    const us = this.shape(updates);
    if (!sameShape(us, want)) {
      throw new ShapeError(`scatterND: updates ${fmtShape(us)} must have shape ${fmtShape(want)} (indices ${fmtShape(is)} without its last dim, then data ${fmtShape(ds)} from dim ${k})`);
    }
    const id = this.addScatter({ op: 'scatter', form: 'nd', axis: 0, reduction }, data, indices, updates);
    // Out-of-range updates are dropped by the kernels (never written out of bounds) and reported.
    if (id !== data) this.checkIndices(indices, ds.slice(0, k), `the first ${k} dims of data ${fmtShape(ds)}`, `scatterND (graph node ${id})`);
    return id;
  }

  /**
   * ONNX ScatterElements: a copy of `data` where each element of `updates` replaces (or is
   * combined with) the element at its own coordinates, the one along `dim` taken from
   * `indices` (same shape as updates, no larger than data outside `dim`).
   */
  scatterElements(data: number, indices: number, updates: number, dim: number, reduction: ScatterReduction = 'none'): number {
    const ds = this.shape(data);
    const is = this.shape(indices);
    this.checkScatter('scatterElements', indices, reduction);
    if (ds.length === 0) throw new ShapeError('scatterElements: data must have rank >= 1, got a scalar');
    const axis = normDim('scatterElements', dim, ds.length);
    if (is.length !== ds.length) throw new ShapeError(`scatterElements: indices ${fmtShape(is)} and data ${fmtShape(ds)} differ in rank`);
    const us = this.shape(updates);
    if (!sameShape(us, is)) throw new ShapeError(`scatterElements: updates ${fmtShape(us)} and indices ${fmtShape(is)} differ in shape`);
    const over = is.findIndex((n, d) => d !== axis && n > ds[d]!);
    if (over >= 0) throw new ShapeError(`scatterElements: indices ${fmtShape(is)} exceed data ${fmtShape(ds)} in dim ${over} (only dim ${axis} is indexed)`);
    const id = this.addScatter({ op: 'scatter', form: 'elements', axis, reduction }, data, indices, updates);
    if (id !== data) this.checkIndices(indices, [ds[axis]!], `dim ${axis} of data ${fmtShape(ds)}`, `scatterElements (graph node ${id})`);
    return id;
  }

  private checkScatter(op: string, indices: number, reduction: ScatterReduction): void {
    this.staticOnly(op, [indices]);
    const idt = this.dtype(indices);
    if (idt !== 'int32' && idt !== 'int64') throw new ShapeError(`${op}: indices must be int32 or int64, got ${idt}`);
    if (!SCATTER_REDUCTIONS.includes(reduction)) throw new ShapeError(`${op}: reduction must be one of ${SCATTER_REDUCTIONS.join(', ')}, got '${String(reduction)}'`);
  }

  private addScatter(attrs: { op: 'scatter'; form: 'nd' | 'elements'; axis: number; reduction: ScatterReduction }, data: number, indices: number, updates: number): number {
    this.staticOnly('scatter', [data, updates]);
    // No updates: the result is data itself.
    if (numel(this.shape(updates)) === 0) return data;
    const dt = this.dtype(data);
    return this.g.add(attrs, [data, indices, this.cast(updates, dt)], this.shape(data), dt);
  }

  /** `sym`: symbolic dims (the shape then holds their hints): an iota of symbolic length, Range(0, seq). */
  iota(shape: readonly number[], axis: number, start: number, step: number, dtype: DType, sym?: readonly Dim[]): number {
    assertValidShape('iota', shape);
    if (sym && sym.length !== shape.length) throw new ShapeError(`iota: symbolic dims ${fmtDims(sym)} for shape ${fmtShape(shape)}`);
    return this.g.add({ op: 'iota', axis: normDim('iota', axis, shape.length), start, step }, [], shape, dtype, sym);
  }

  cumsum(x: number, dim: number, exclusive = false, reverse = false): number {
    const shape = this.shape(x);
    const axis = normDim('cumsum', dim, shape.length);
    let dt = this.dtype(x);
    if (dt === 'bool') {
      x = this.cast(x, 'int64');
      dt = 'int64';
    }
    return this.g.add({ op: 'cumsum', axis, exclusive, reverse }, [x], shape, dt, this.sym(x));
  }

  /** NumPy matmul: 1-D operands are promoted and the added dim removed; batch dims broadcast. */
  matmul(a: number, b: number): number {
    const sa = this.shape(a);
    const sb = this.shape(b);
    if (sa.length === 0 || sb.length === 0) throw new ShapeError(`matmul: scalar operand ${fmtShape(sa)} @ ${fmtShape(sb)}`);
    const dt = promote(this.dtype(a), this.dtype(b), 'matmul');
    if (dt === 'bool') throw new ShapeError('matmul: not defined for bool');
    if (this.anySym([a, b]) && (sa.length === 1 || sb.length === 1)) throw new SymbolicUnsupportedError('matmul of a 1-D operand with symbolic sizes', dimSymbols([...this.dims(a), ...this.dims(b)]));
    a = this.cast(a, dt);
    b = this.cast(b, dt);
    const a2 = sa.length === 1 ? this.reshape(a, [1, sa[0]!]) : a;
    const b2 = sb.length === 1 ? this.reshape(b, [sb[0]!, 1]) : b;
    const A = this.shape(a2);
    const B = this.shape(b2);
    const K = A[A.length - 1]!;
    if (B[B.length - 2] !== K) {
      throw new ShapeError(`matmul: inner dims differ: ${fmtShape(sa)} @ ${fmtShape(sb)} (${K} vs ${B[B.length - 2]})`);
    }
    const batch = broadcastShapes('matmul', A.slice(0, -2), B.slice(0, -2));
    const outShape = [...batch, A[A.length - 2]!, B[B.length - 1]!];
    let sym: Dim[] | undefined;
    if (this.anySym([a2, b2])) {
      const dA = this.dims(a2);
      const dB = this.dims(b2);
      if (!sameDim(dA.at(-1)!, dB.at(-2)!)) throw new SymbolicUnsupportedError(`matmul: inner dims ${String(dA.at(-1))} and ${String(dB.at(-2))} are not provably equal`, dimSymbols([dA.at(-1)!, dB.at(-2)!]));
      sym = [...broadcastDims('matmul', dA.slice(0, -2), dB.slice(0, -2)), dA.at(-2)!, dB.at(-1)!];
    }
    let y = this.g.add({ op: 'matmul' }, [a2, b2], outShape, dt, sym);
    if (sa.length === 1 || sb.length === 1) {
      const final = [...batch];
      if (sa.length !== 1) final.push(A[A.length - 2]!);
      if (sb.length !== 1) final.push(B[B.length - 1]!);
      y = this.reshape(y, final);
    }
    return y;
  }
}

/** A dim of a symbolic slice (GraphBuilder.sliceDims): its start and size as formulas, step 1. */
export interface SymSlice {
  start: Dim;
  size: Dim;
}

/** One dim of `GraphBuilder.window`: stride and dilation default to 1, pads to 0. */
export interface WindowSpec {
  dim: number;
  k: number;
  stride?: number;
  dilation?: number;
  padBefore?: number;
  padAfter?: number;
}

/** Python slice semantics with clamping for one dim of length n. */
export function sliceRange(n: number, start: number | undefined, end: number | undefined, step: number): SliceDim {
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s: number;
  let e: number;
  if (step > 0) {
    s = start === undefined ? 0 : clamp(start < 0 ? start + n : start, 0, n);
    e = end === undefined ? n : clamp(end < 0 ? end + n : end, 0, n);
  } else {
    s = start === undefined ? n - 1 : clamp(start < 0 ? start + n : start, -1, n - 1);
    e = end === undefined ? -1 : clamp(end < 0 ? end + n : end, -1, n - 1);
  }
  const size = step > 0 ? Math.max(0, Math.ceil((e - s) / step)) : Math.max(0, Math.ceil((s - e) / -step));
  return { start: size === 0 ? 0 : s, step, size };
}
