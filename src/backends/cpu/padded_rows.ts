// C for pooling and depthwise convs over bands of zero-padded input rows. row_loops.ts walks
// the taps outside a vector loop along the output row, three loops a tap (the edges with the
// padding tests, the interior without), each keeping the row's accumulators in memory: at the
// 14×14 and 7×7 planes of MobileNet and EfficientNet a row is a handful of outputs, so those
// loops run a few iterations each, mostly scalar, and a 7-wide row did not take the row order
// at all. Here each task (a plane and a band of its output rows) first copies the input rows
// the band reads into a local array, padding and fill included (the window's tests evaluated
// once per input position, not once per tap), then every output row runs ONE vector loop over
// its outputs, rounded up to whole vectors (the extra lanes read the array's zero tail and are
// never stored), with all the taps inside: no tests, constant trip counts, the accumulators in
// registers. Each output still adds its taps in their order: results are those of row_loops.ts.
//
// What is copied: every subexpression of a reduction's value that reads along the row (a load
// whose index moves with the last output dim, or the padding select around one). Such a read
// depends on the output column o and the tap column r only through the input column s·o + d·r
// (stride s, dilation d; the padding offset stays in it), and likewise on the output row and
// the tap row; alongAxis checks that, term by term, and rewrites the read over an input
// position u = s·o + d·r, so the copy evaluates it at every u of the band (u past the last
// position a real output reads is filled with zero, never read from memory).

import { numel } from '../../graph/shape.js';
import { type Expr, children, coeff, dtOf, exprKey, iadd, idx, imul, loopVar, mapChildren, substitute, terms, varsOf } from '../../lower/expr.js';
import type { LoopKernel } from '../../lower/loop_ir.js';
import { readsAlongOutputRows } from '../../lower/reduction_shape.js';
import { unflatten } from '../../lower/views.js';
import { Scope, cType } from '../c_expr.js';
import { accInit, accUpdate, flatInner } from './accumulators.js';
import { accArrays } from './column_loops.js';
import { type CSource, PARALLEL_MIN_WORK, dialect, signature, totalWork } from './kernel_text.js';
import { ROW_MAX_INNER, openTapLoops, rowStores } from './row_loops.js';

/** Output rows of fewer outputs than this keep the plain loop order (half a vector or less is mostly padding). */
const MIN_ROW = 4;
/** Outputs per row at most (the accumulator arrays live on the stack). */
const MAX_ROW = 4096;
/** Bytes of copied rows a task aims at (L1-resident with the row's accumulators); a band is as many output rows as fit. */
const BAND_BYTES = 16 << 10;
/** A kernel whose single output row needs more copied bytes than this keeps row_loops.ts. */
const MAX_ROW_BYTES = 64 << 10;

/** One window dim: the input position is s·o + d·r (o an output var, r a tap var, or none: d = 0) plus fixed terms. */
interface Axis {
  o: string;
  r: string | undefined;
  s: number;
  d: number;
}

class NotAlongAxis extends Error {}

/**
 * `e` with every index sum's terms in o and r, co·o + cr·r, replaced by `rewrite(co, cr)`;
 * the other terms and subexpressions kept (rebuilt with the usual simplification).
 */
function rewriteForms(e: Expr, o: string, r: string | undefined, rewrite: (co: number, cr: number) => Expr): Expr {
  const isForm = (x: Expr) => x.k === 'var' || (x.k === 'bin' && (x.op === 'add' || (x.op === 'mul' && x.b.k === 'const')) && x.dt === 'index');
  const walk = (x: Expr): Expr => {
    if (!isForm(x)) return mapChildren(x, walk);
    let co = 0;
    let cr = 0;
    const rest: Expr[] = [];
    for (const t of terms(x)) {
      const [base, k] = coeff(t);
      if (base?.k === 'var' && base.name === o) co += k;
      else if (base?.k === 'var' && base.name === r) cr += k;
      else if (!base) rest.push(idx(k));
      else if (base === x) rest.push(mapChildren(x, walk));
      else rest.push(imul(walk(base), k));
    }
    if (co !== 0 || cr !== 0) rest.push(rewrite(co, cr));
    return rest.reduce(iadd);
  };
  return walk(e);
}

/**
 * The reads `reads` over input position `u` along one window dim (output var o, tap var r), or
 * undefined unless each depends on o and r only through one s·o + d·r (s > 0, d ≥ 0, no common
 * factor; every sum holding o or r holds m·s·o + m·d·r for an integer m, which becomes m·u).
 */
export function alongAxis(reads: readonly Expr[], o: string, r: string | undefined, u: Expr): { reads: Expr[]; axis: Axis } | undefined {
  const seen: [number, number][] = [];
  for (const e of reads) rewriteForms(e, o, r, (co, cr) => (seen.push([co, cr]), idx(0)));
  const base = seen.filter(([co]) => co > 0).sort((a, b) => a[0] - b[0])[0];
  if (!base || base[1] < 0) return undefined;
  // Divided by their common factor: a flat index holds the row's position times the row length.
  const g = gcd(base[0], base[1]);
  const [s, d] = [base[0] / g, base[1] / g];
  try {
    const out = reads.map((e) =>
      rewriteForms(e, o, r, (co, cr) => {
        const m = co / s;
        if (!Number.isInteger(m) || cr !== m * d) throw new NotAlongAxis();
        return imul(u, m);
      }),
    );
    if (out.some((e) => varsOf(e).has(o) || (r !== undefined && varsOf(e).has(r)))) return undefined;
    return { reads: out, axis: { o, r, s, d } };
  } catch (err) {
    if (err instanceof NotAlongAxis) return undefined;
    throw err;
  }
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** The subexpressions of `e` that read along the row var `j`: loads whose index holds j, and padding selects whose test does. */
function rowReads(e: Expr, j: string): Expr[] {
  const found = new Map<string, Expr>();
  const visit = (x: Expr): void => {
    if (!varsOf(x).has(j)) return;
    if (x.k === 'load' || (x.k === 'where' && varsOf(x.c).has(j))) found.set(exprKey(x), x);
    else children(x).forEach(visit);
  };
  visit(e);
  return [...found.values()];
}

/**
 * `k` with a single flattened tap dim (an ONNX pool's r0 over KH·KW, read as r0 // KW and
 * r0 % KW) split into two, r0·KW + r1, so its rows and columns are tap dims of their own; `k`
 * itself where there is nothing to split. The flat tap position (an index reduction's) reads
 * the same.
 */
function splitFlatTaps(k: LoopKernel): LoopKernel {
  const E = k.inner[0]!;
  if (k.inner.length !== 1) return k;
  const divisors = new Set<number>();
  const visit = (x: Expr): void => {
    if (x.k === 'bin' && (x.op === 'idiv' || x.op === 'imod') && x.a.k === 'var' && x.a.name === 'r0' && x.b.k === 'const') divisors.add(x.b.v);
    children(x).forEach(visit);
  };
  k.reductions.forEach((r) => visit(r.value));
  const [c] = [...divisors];
  if (divisors.size !== 1 || c === undefined || c <= 1 || c >= E || E % c !== 0) return k;
  const flat = new Map([['r0', iadd(imul(loopVar('r0', E / c), c), loopVar('r1', c))]]);
  return { ...k, inner: [E / c, c], reductions: k.reductions.map((r) => ({ ...r, value: substitute(r.value, flat) })) };
}

/** How a kernel runs over padded row bands; see paddedRowPlan. */
export interface PaddedRowPlan {
  /** The reads copied, as in the reductions' values, and rewritten over positions `uh` (row) and `u` (column). */
  reads: Expr[];
  copies: Expr[];
  w: Axis;
  h: Axis;
  /** Outputs per row, and rounded up to whole vectors. */
  L: number;
  Lp: number;
  /** Columns a real output reads, and of each copied row (the rounded outputs' reach). */
  uReal: number;
  rowLen: number;
  /** Output rows, and per band. */
  OH: number;
  band: number;
  /** Input rows of a full band. */
  bandRows: number;
  /** The kernel as run: `k`, or k with its flat tap dim split (splitFlatTaps). */
  kernel: LoopKernel;
}

/**
 * The padded-row order for a static pooling or depthwise-conv kernel (readsAlongOutputRows),
 * or undefined: every read along the row must be rewritable over the input positions of the
 * last two output dims and two tap dims (alongAxis), the other tap dims of extent 1.
 */
export function paddedRowPlan(flat: LoopKernel): PaddedRowPlan | undefined {
  const k = splitFlatTaps(flat);
  const n = k.outer.length;
  const L = k.outer[n - 1] ?? 1;
  if (n < 2 || L < MIN_ROW || L > MAX_ROW || numel(k.inner) < 2 || !readsAlongOutputRows(flat, ROW_MAX_INNER)) return undefined;
  const j = `o${n - 1}`;
  // Tap dims of extent 1 read as 0: their vars leave the reads.
  const zeros = new Map(k.inner.flatMap((e, i) => (e === 1 ? [[`r${i}`, idx(0)] as const] : [])));
  const reads = [...new Map(k.reductions.flatMap((r) => rowReads(r.value, j)).map((e) => [exprKey(e), e])).values()];
  const taps = k.inner.flatMap((e, i) => (e > 1 ? [`r${i}`] : []));
  if (reads.length === 0 || taps.length !== 2) return undefined;
  const Lp = Math.ceil(L / (L <= 8 ? 8 : 16)) * (L <= 8 ? 8 : 16);
  // The column's tap dim is the last one as windows order them; the other order is tried too
  // (alongAxis would also accept a pairing across dims, a valid change of variables but a
  // wasteful copy, so the window's own comes first).
  for (const rw of [...taps].reverse()) {
    const rh = taps.find((t) => t !== rw)!;
    const KW = k.inner[Number(rw.slice(1))]!;
    const KH = k.inner[Number(rh.slice(1))]!;
    const uReal0 = (s: number, d: number) => s * (L - 1) + d * (KW - 1) + 1;
    const byW = alongAxis(reads.map((e) => substitute(e, zeros)), j, rw, loopVar('u', 1 << 30));
    if (!byW || byW.axis.d === 0) continue;
    const OH = k.outer[n - 2]!;
    const byH = alongAxis(byW.reads, `o${n - 2}`, rh, loopVar('uh', 1 << 30));
    if (!byH || byH.axis.d === 0) continue;
    const { w, h } = { w: byW.axis, h: byH.axis };
    const uReal = uReal0(w.s, w.d);
    // Loop var extents for the copy: the positions a real output reads (index ranges as before).
    const copies = byH.reads.map((e) => substitute(e, new Map([['u', loopVar('u', uReal)], ['uh', loopVar('uh', h.s * (OH - 1) + h.d * (KH - 1) + 1)]])));
    const rowLen = w.s * (Lp - 1) + w.d * (KW - 1) + 1;
    // Bytes of one copied row of every read, at 8 bytes an element (the widest, float64).
    const rowBytes = rowLen * 8 * copies.length;
    const rowsOf = (band: number) => h.s * (band - 1) + h.d * (KH - 1) + 1;
    if (rowsOf(1) * rowBytes > MAX_ROW_BYTES) return undefined;
    let band = 1;
    while (band < OH && rowsOf(band + 1) * rowBytes <= BAND_BYTES) band++;
    // Bands of equal height.
    band = Math.ceil(OH / Math.ceil(OH / band));
    return { reads, copies, w, h, L, Lp, uReal, rowLen, OH, band, bandRows: rowsOf(band), kernel: k };
  }
  return undefined;
}

/** The kernel of a plan (paddedRowPlan) as C: tasks of a plane × a band of output rows, each copying its rows, then one vector loop per output row. */
export function paddedRowLoops(p: PaddedRowPlan): CSource {
  const k = p.kernel;
  const n = k.outer.length;
  const j = `o${n - 1}`;
  const planeShape = k.outer.slice(0, -2);
  const planes = numel(planeShape);
  const bands = Math.ceil(p.OH / p.band);
  const tasks = planes * bands;
  const parallel = totalWork(k) >= PARALLEL_MIN_WORK && tasks > 1;
  const counter = { n: 0 };
  const lines = [`${signature(k)} {`];
  if (parallel) lines.push('  #pragma omp parallel for schedule(static)');
  lines.push(`  for (int64_t task = 0; task < ${tasks}; task++) {`);
  const top = new Scope(dialect, counter, undefined, '    ');
  const planeIdx = unflatten(bands > 1 ? { k: 'bin', op: 'idiv', a: loopVar('task', tasks), b: idx(bands), dt: 'index' } : loopVar('task', tasks), planeShape);
  const decls = planeIdx.map((e, d) => `    const int64_t o${d} = ${top.emit(e)};`);
  lines.push(...top.lines.splice(0), ...decls);
  lines.push(`    const int64_t y0 = ${bands > 1 ? `task % ${bands} * ${p.band}` : '0'};`);
  lines.push(`    const int64_t y1 = ${bands > 1 ? `y0 + ${p.band} < ${p.OH} ? y0 + ${p.band} : ${p.OH}` : String(p.OH)};`);
  // The band's input rows, each padded to the rounded row's reach.
  const P = p.copies.map((_, i) => `P${i}`);
  p.copies.forEach((c, i) => lines.push(`    ${cType(dtOf(c))} ${P[i]}[${p.bandRows * p.rowLen}] __attribute__((aligned(64)));`));
  lines.push(`    for (int64_t vr = 0; vr < (y1 - 1 - y0) * ${p.h.s} + ${p.h.d * (tapExtent(k, p.h) - 1) + 1}; vr++) {`);
  lines.push(`      const int64_t uh = y0 * ${p.h.s} + vr;`, '      #pragma omp simd', `      for (int64_t u = 0; u < ${p.uReal}; u++) {`);
  const copy = top.child('        ');
  const values = p.copies.map((c) => copy.emit(c));
  lines.push(...copy.lines, ...values.map((v, i) => `        ${P[i]}[vr * ${p.rowLen} + u] = ${v};`), '      }');
  if (p.rowLen > p.uReal) lines.push(`      for (int64_t u = ${p.uReal}; u < ${p.rowLen}; u++) {`, ...P.map((name) => `        ${name}[vr * ${p.rowLen} + u] = 0;`), '      }');
  lines.push('    }');
  // Each output row: one vector loop over its (rounded) outputs, every tap inside.
  lines.push(`    for (int64_t o${n - 2} = y0; o${n - 2} < y1; o${n - 2}++) {`, `      const int64_t prow = (o${n - 2} - y0) * ${p.h.s};`);
  for (const r of k.reductions) for (const [name, t] of accArrays(r)) lines.push(`      ${t} A_${name}[${p.Lp}];`);
  const indexReduction = k.reductions.some((r) => r.op === 'argmax' || r.op === 'argmin');
  if (!indexReduction) lines.push('      #pragma omp simd');
  lines.push(`      for (int64_t j = 0; j < ${p.Lp}; j++) {`, `        const int64_t ${j} = j;`);
  lines.push(...k.reductions.map((r) => `        ${accInit(r)}`));
  const { ind, close } = openTapLoops(lines, k.inner, '        ');
  const s = top.child(ind);
  // Where tap (rh, rw) of output j reads in the band's copy.
  const rowPos = iadd(imul(iadd(loopVar('prow', p.bandRows), tapVar(k, p.h)), p.rowLen), iadd(imul(loopVar(j, p.Lp), p.w.s), tapVar(k, p.w)));
  const at = s.emit(rowPos);
  p.reads.forEach((e, i) => s.bind(e, `${P[i]}[${at}]`));
  const updates = k.reductions.flatMap((r) => accUpdate(r, s.emit(r.value), flatInner(k.inner)).map((l) => `${ind}${l}`));
  lines.push(...s.lines, ...updates, ...close);
  for (const r of k.reductions) for (const [name] of accArrays(r)) lines.push(`        A_${name}[j] = ${name};`);
  lines.push('      }');
  lines.push(...rowStores(k, p.L, top.child('      '), '      '), '    }', '  }', '}');
  return { body: lines.join('\n') + '\n', parallel };
}

/** The tap var of an axis, times its dilation (0 without one). */
function tapVar(k: LoopKernel, a: Axis): Expr {
  return a.r === undefined ? idx(0) : imul(loopVar(a.r, tapExtent(k, a)), a.d);
}

function tapExtent(k: LoopKernel, a: Axis): number {
  return a.r === undefined ? 1 : k.inner[Number(a.r.slice(1))]!;
}
