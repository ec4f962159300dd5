// Shape inference over symbolic dims (graph/sym.ts), for the builders that accept them. Each
// returns the output's dims; a decision these rules cannot prove for every binding throws a
// SymbolicUnsupportedError naming it, and the caller (compile()) specialises the shape.

import { ShapeError, fmtShape, type Shape } from './shape.js';
import { type Dim, SymInt, SymbolicUnsupportedError, dimKey, fmtDims, symNumel } from './sym.js';

const isSym = (d: Dim): d is SymInt => typeof d !== 'number';

/** Two dims that must be equal: equal as polynomials, or both static and equal. */
export function sameDim(a: Dim, b: Dim): boolean {
  return dimKey(a) === dimKey(b);
}

/**
 * NumPy broadcasting of symbolic shapes: a symbol broadcasts with 1 or with itself. A symbol
 * against another size would hold for one binding only: refused.
 */
export function broadcastDims(op: string, a: readonly Dim[], b: readonly Dim[]): Dim[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<Dim>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (sameDim(da, db) || db === 1) out[i] = da;
    else if (da === 1) out[i] = db;
    else if (isSym(da) || isSym(db)) throw new SymbolicUnsupportedError(`${op}: broadcasting ${fmtDims(a)} with ${fmtDims(b)} (dim ${i}: ${dimKey(da)} vs ${dimKey(db)})`, dimSymbols([da, db]));
    else throw new ShapeError(`${op}: cannot broadcast ${fmtDims(a)} with ${fmtDims(b)}`);
  }
  return out;
}

/**
 * The symbolic dims of a reshape or expand target given as numbers (the frontend's sizes are
 * the hints): a target dim equal to the hint of the input's symbolic dim at the same position
 * is taken to be that dim. A trace at other hints (compile()'s check) catches a number that
 * only happened to equal a hint.
 */
export function matchHints(target: readonly number[], inDims: readonly Dim[], inShape: Shape, align: 'start' | 'end'): Dim[] {
  const off = align === 'end' ? target.length - inDims.length : 0;
  return target.map((t, i) => {
    const d = inDims[i - off];
    return d !== undefined && isSym(d) && inShape[i - off] === t ? d : t;
  });
}

/** Symbolic reshape: the target's dims (hints matched) must hold the input's elements exactly. */
export function reshapeDims(inDims: readonly Dim[], inShape: Shape, target: readonly number[], resolved: readonly number[], explicit?: readonly Dim[]): Dim[] {
  // Explicit formulas (ONNX shape chains) where given; a -1 there is resolved below.
  const matched = matchHints(resolved, inDims, inShape, 'start');
  const out = explicit ? explicit.map((d, i) => (d === -1 ? resolved[i]! : d === 0 ? matched[i]! : d)) : matched;
  const want = symNumel(inDims);
  if (symNumel(out).equals(want)) return out;
  // The -1 (or else the one dim whose hint fits) takes what is left, when that divides exactly.
  const candidates = target.includes(-1) ? [target.indexOf(-1)] : out.map((_, i) => i);
  for (const c of candidates) {
    const rest = symNumel(out.filter((_, i) => i !== c));
    const q = want.divExact(rest);
    if (q && (q.constant ?? -1) !== 0 && (q.isConstant ? q.constant === resolved[c] : true)) {
      const dims = [...out];
      dims[c] = q.isConstant ? q.constant! : q;
      return dims;
    }
  }
  throw new SymbolicUnsupportedError(`reshape: ${fmtDims(inDims)} into ${fmtShape(target)} is not provably the same size for every binding`, dimSymbols(inDims));
}

/** The size symbols some dims use. */
export function dimSymbols(dims: readonly Dim[]): string[] {
  return [...new Set(dims.flatMap((d) => (isSym(d) ? d.symbols() : [])))];
}

/** Reduction output dims. */
export function reduceDims(dims: readonly Dim[], axes: readonly number[], keepdim: boolean): Dim[] {
  return keepdim ? dims.map((d, i) => (axes.includes(i) ? 1 : d)) : dims.filter((_, i) => !axes.includes(i));
}

/**
 * A window view's dims (GraphBuilder.window): the dims it slides over must be static (their
 * positions, taps and padding are the op's geometry); the others (a batch, channels) pass
 * through, symbolic or not, and the taps are appended.
 */
export function windowDims(inDims: readonly Dim[], wins: readonly { dim: number; out: number; k: number }[]): Dim[] {
  const slid = wins.filter((w) => isSym(inDims[w.dim]!));
  if (slid.length) throw new SymbolicUnsupportedError(`a window over symbolic dim(s) of ${fmtDims(inDims)}`, dimSymbols(slid.map((w) => inDims[w.dim]!)));
  const out = [...inDims];
  for (const w of wins) out[w.dim] = w.out;
  return [...out, ...wins.map((w) => w.k)];
}

export { symNumel };
