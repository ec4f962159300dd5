// How the C backend accumulates one reduction: the accumulator's declaration and identity,
// the `omp simd` reduction clause where OpenMP has one, and the update for one value (index
// reductions keep the best value, its position and whether anything was seen; NaN wins).

import { isFloat } from '../../graph/dtype.js';
import type { Reduction } from '../../lower/loop_ir.js';
import { cType } from '../c_expr.js';

/** Whether r is a float max/min: those also carry a NaN flag (see accUpdate). */
function nanTracked(r: Reduction): boolean {
  return (r.op === 'max' || r.op === 'min') && isFloat(r.dtype);
}

/** The C variables reduction r accumulates in: name, type and initial value. */
export function accVars(r: Reduction): { name: string; type: string; init: string }[] {
  const t = cType(r.dtype);
  const acc = (init: string) => ({ name: `acc${r.id}`, type: t, init });
  const nan = nanTracked(r) ? [{ name: `nan${r.id}`, type: 'int', init: '0' }] : [];
  switch (r.op) {
    case 'sum':
      return [acc('0')];
    case 'prod':
      return [acc('1')];
    case 'max':
      return [acc(isFloat(r.dtype) ? '-INFINITY' : r.dtype === 'bool' ? '0' : r.dtype === 'int32' ? 'INT32_MIN' : 'INT64_MIN'), ...nan];
    case 'min':
      return [acc(isFloat(r.dtype) ? 'INFINITY' : r.dtype === 'bool' ? '1' : r.dtype === 'int32' ? 'INT32_MAX' : 'INT64_MAX'), ...nan];
    case 'argmax':
    case 'argmin':
      return [
        { name: `acc${r.id}`, type: 'int64_t', init: '0' },
        { name: `best${r.id}`, type: 'double', init: r.op === 'argmax' ? '-INFINITY' : 'INFINITY' },
        { name: `seen${r.id}`, type: 'int', init: '0' },
      ];
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
  if (r.op === 'sum') return `#pragma omp simd reduction(+:acc${r.id})`;
  if (r.op === 'prod') return `#pragma omp simd reduction(*:acc${r.id})`;
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
      return [`${a} += ${v};`];
    case 'prod':
      return [`${a} *= ${v};`];
    case 'max':
      return [`${a} = ${a} > ${v} ? ${a} : ${v};`, ...nan];
    case 'min':
      return [`${a} = ${a} < ${v} ? ${a} : ${v};`, ...nan];
    case 'argmax':
    case 'argmin': {
      const cmp = r.op === 'argmax' ? (r.selectLast ? '>=' : '>') : r.selectLast ? '<=' : '<';
      // NaN wins (as in NumPy): the first NaN is the answer.
      return [`if (!seen${r.id} || (double)${v} ${cmp} best${r.id} || (${v} != ${v} && best${r.id} == best${r.id})) { if (!(seen${r.id} && best${r.id} != best${r.id})) { best${r.id} = (double)${v}; ${a} = ${pos}; } seen${r.id} = 1; }`];
    }
    default:
      return r.op satisfies never;
  }
}

/** Statements after the last update, before acc is read. */
export function accFinish(r: Reduction): string[] {
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
