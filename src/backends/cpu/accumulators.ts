// How the C backend accumulates one reduction: the accumulator's declaration and identity,
// the `omp simd` reduction clause where OpenMP has one, and the update for one value (index
// reductions keep the best value, its position and whether anything was seen; NaN wins).

import { type DType, isFloat } from '../../graph/dtype.js';
import { INT_INFO } from '../../graph/int.js';
import { dtOf } from '../../lower/expr.js';
import type { Reduction } from '../../lower/loop_ir.js';
import { cLiteral, cType } from '../c_expr.js';
import { isAddedInt, narrowAcc, wideAccType } from '../int_c.js';

/** Whether r is a float max/min: those also carry a NaN flag (see accUpdate). */
function nanTracked(r: Reduction): boolean {
  return (r.op === 'max' || r.op === 'min') && isFloat(r.dtype);
}

/** A narrow-int sum or product accumulates in a wider unsigned variable (int_c.ts), narrowed by accFinish. */
function wide(r: Reduction): string | undefined {
  return r.op === 'sum' || r.op === 'prod' ? wideAccType(r.dtype) : undefined;
}

/** The variable r's updates go to. */
function accName(r: Reduction): string {
  return wide(r) ? `accw${r.id}` : `acc${r.id}`;
}

/** The identity of max (lowest value) or min (highest) over dtype `dt`. */
function extreme(dt: DType, op: 'max' | 'min'): string {
  if (isAddedInt(dt)) return cLiteral(Number(op === 'max' ? INT_INFO[dt].min : INT_INFO[dt].max), dt);
  if (isFloat(dt)) return op === 'max' ? '-INFINITY' : 'INFINITY';
  if (dt === 'bool') return op === 'max' ? '0' : '1';
  return dt === 'int32' ? (op === 'max' ? 'INT32_MIN' : 'INT32_MAX') : op === 'max' ? 'INT64_MIN' : 'INT64_MAX';
}

/**
 * The C type an index reduction keeps its best value in: double for floats and for the ints
 * that always compared so; the other integer types compare in their own type, exactly and
 * unsigned where they are (uint64 values differ past a double's precision).
 */
function bestType(r: Reduction): string {
  const vt = dtOf(r.value);
  return isAddedInt(vt) ? cType(vt) : 'double';
}

/** The C variables reduction r accumulates in: name, type and initial value. */
export function accVars(r: Reduction): { name: string; type: string; init: string }[] {
  const t = cType(r.dtype);
  const acc = (init: string) => ({ name: accName(r), type: wide(r) ?? t, init });
  const nan = nanTracked(r) ? [{ name: `nan${r.id}`, type: 'int', init: '0' }] : [];
  switch (r.op) {
    case 'sum':
      return [acc('0')];
    case 'prod':
      return [acc('1')];
    case 'max':
    case 'min':
      return [acc(extreme(r.dtype, r.op)), ...nan];
    case 'argmax':
    case 'argmin': {
      const bt = bestType(r);
      return [
        { name: `acc${r.id}`, type: 'int64_t', init: '0' },
        { name: `best${r.id}`, type: bt, init: bt === 'double' ? (r.op === 'argmax' ? '-INFINITY' : 'INFINITY') : '0' },
        { name: `seen${r.id}`, type: 'int', init: '0' },
      ];
    }
    default:
      return r.op satisfies never;
  }
}

export function accInit(r: Reduction): string {
  return accVars(r)
    .map((v) => `${v.type} ${v.name} = ${v.init};`)
    .join(' ');
}

export function accPragma(r: Reduction): string | undefined {
  const nan = nanTracked(r) ? ` reduction(|:nan${r.id})` : '';
  if (r.op === 'sum') return `#pragma omp simd reduction(+:${accName(r)})`;
  if (r.op === 'prod') return `#pragma omp simd reduction(*:${accName(r)})`;
  if (r.op === 'max') return `#pragma omp simd reduction(max:acc${r.id})${nan}`;
  if (r.op === 'min') return `#pragma omp simd reduction(min:acc${r.id})${nan}`;
  return undefined;
}

/**
 * Statements folding value v (at reduced position pos) into r's accumulators. A float max or
 * min also raises a NaN flag: the comparison alone drops NaN (and OpenMP's max/min clause
 * combines lanes with its own comparison), while NumPy and the reference propagate it.
 */
export function accUpdate(r: Reduction, v: string, pos: string): string[] {
  const a = `acc${r.id}`;
  const nan = nanTracked(r) ? [`nan${r.id} |= (${v} != ${v});`] : [];
  switch (r.op) {
    case 'sum':
      return [`${accName(r)} += ${v};`];
    case 'prod':
      return [`${accName(r)} *= ${v};`];
    case 'max':
      return [`${a} = ${a} > ${v} ? ${a} : ${v};`, ...nan];
    case 'min':
      return [`${a} = ${a} < ${v} ? ${a} : ${v};`, ...nan];
    case 'argmax':
    case 'argmin': {
      const cmp = r.op === 'argmax' ? (r.selectLast ? '>=' : '>') : r.selectLast ? '<=' : '<';
      if (bestType(r) !== 'double') return [`if (!seen${r.id} || ${v} ${cmp} best${r.id}) { best${r.id} = ${v}; ${a} = ${pos}; seen${r.id} = 1; }`];
      // NaN wins (as in NumPy): the first NaN is the answer.
      return [`if (!seen${r.id} || (double)${v} ${cmp} best${r.id} || (${v} != ${v} && best${r.id} == best${r.id})) { if (!(seen${r.id} && best${r.id} != best${r.id})) { best${r.id} = (double)${v}; ${a} = ${pos}; } seen${r.id} = 1; }`];
    }
    default:
      return r.op satisfies never;
  }
}

/** Statements after the last update, before acc is read. */
export function accFinish(r: Reduction): string[] {
  if (wide(r)) return [`const ${cType(r.dtype)} acc${r.id} = ${narrowAcc(accName(r), r.dtype)};`];
  return nanTracked(r) ? [`if (nan${r.id}) acc${r.id} = NAN;`] : [];
}

export function flatInner(dims: readonly number[]): string {
  // Flat position in the reduced dims (argmax/argmin have exactly one).
  let s = '0';
  let stride = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    if (dims[i] !== 1) s = s === '0' ? `r${i} * ${stride}` : `${s} + r${i} * ${stride}`;
    stride *= dims[i]!;
  }
  return `(${s})`;
}

/**
 * float32 sums (half types sum in float32 too) accumulate in blocks, as PyTorch's cascade
 * sums do: a partial sum over at most SUM_BLOCK points, added to the total when its block
 * ends. One running float stops growing at 2^24 (adding 1 to 16777216 gives 16777216); with
 * blocks, error grows with n / SUM_BLOCK + SUM_BLOCK instead of n. float64 and integer sums
 * (and reductions of SUM_BLOCK points or fewer) keep one accumulator, so their sources and
 * cache keys are what they were.
 */
export const SUM_BLOCK = 4096;

export function blockedSum(r: Reduction): boolean {
  return r.op === 'sum' && (r.dtype === 'float32' || r.dtype === 'float16' || r.dtype === 'bfloat16');
}

/** The block partial's variable. */
export function blockAccName(r: Reduction): string {
  return `bacc${r.id}`;
}

/**
 * How a reduction over `dims` (row-major, the last innermost) splits into blocks: dim `dim`
 * runs in chunks of `chunk` points, each chunk (with every dim after it) one block of at most
 * SUM_BLOCK points. Undefined when the whole reduction fits one block.
 */
export function sumBlocking(dims: readonly number[]): { dim: number; chunk: number } | undefined {
  if (dims.reduce((p, d) => p * d, 1) <= SUM_BLOCK) return undefined;
  let after = 1;
  for (let d = dims.length - 1; d >= 0; d--) {
    if (dims[d]! * after > SUM_BLOCK) return { dim: d, chunk: Math.max(1, Math.floor(SUM_BLOCK / after)) };
    after *= dims[d]!;
  }
  return undefined;
}

/**
 * The block partial sum's update: `accUpdate` with the partial in place of the accumulator
 * (blockedSum reductions only, never wide).
 */
export function blockUpdate(r: Reduction, v: string): string[] {
  return [`${blockAccName(r)} += ${v};`];
}

/**
 * Opens loops r0.. over a reduction's dims like openLoops, dim `split.dim` in chunks: `open`
 * goes at the top of each chunk (the partials' declarations), `pragma` right before the
 * innermost loop, `fold` after each chunk. Returns the innermost indentation and the lines
 * that close everything, in order.
 */
export function openBlockedLoops(
  lines: string[], dims: readonly number[], indent: string, split: { dim: number; chunk: number },
  open: string[], fold: string[], pragma: string | undefined, prefix = 'r',
): { ind: string; close: string[] } {
  let ind = indent;
  const closers: string[][] = [];
  const last = dims.length - 1;
  dims.forEach((n, i) => {
    const v = `${prefix}${i}`;
    if (i === split.dim) {
      lines.push(`${ind}for (int64_t ${v}b = 0; ${v}b < ${n}; ${v}b += ${split.chunk}) {`);
      const bi = ind + '  ';
      lines.push(...open.map((l) => bi + l));
      if (pragma && i === last) lines.push(bi + pragma);
      lines.push(`${bi}for (int64_t ${v} = ${v}b; ${v} < (${v}b + ${split.chunk} < ${n} ? ${v}b + ${split.chunk} : ${n}); ${v}++) {`);
      closers.push([`${bi}}`, ...fold.map((l) => bi + l), `${ind}}`]);
      ind = bi + '  ';
      return;
    }
    if (n === 1) lines.push(`${ind}{ const int64_t ${v} = 0;`);
    else {
      if (pragma && i === last) lines.push(ind + pragma);
      lines.push(`${ind}for (int64_t ${v} = 0; ${v} < ${n}; ${v}++) {`);
    }
    closers.push([`${ind}}`]);
    ind += '  ';
  });
  return { ind, close: closers.reverse().flat() };
}
