// The pieces of a CUDA reduction that every reduction kernel shares (row kernels in
// codegen.ts, split reductions in split_reduction.ts): accumulator type and identity, how two
// partial results combine (NaN-propagating max/min, index reductions with their tie rule),
// and the block-wide combine of per-thread partials (warp shuffles, then across warps).

import { isFloat } from '../../graph/dtype.js';
import { INT_INFO } from '../../graph/int.js';
import { type EType, dtOf } from '../../lower/expr.js';
import type { AccOp, Reduction } from '../../lower/loop_ir.js';
import { cLiteral, cType } from '../c_expr.js';
import { isAddedInt, isNarrowInt, wideAccType } from '../int_c.js';

export function isIndexReduction(r: Reduction): boolean {
  return r.op === 'argmax' || r.op === 'argmin';
}

/** The C type of the reduction's result. */
export function accType(r: Reduction): string {
  return r.dtype === 'bool' ? 'int' : cType(r.dtype);
}

/**
 * Partials of the added integer types (int_c.ts): warp shuffles and __ldcg take no 8- or
 * 16-bit types, so those compare in int (which holds them all) and sum in uint32_t (wrapping;
 * the low bits are the narrow sum); the unsigned 32/64-bit ones keep their type. undefined:
 * the partial type every other dtype always had.
 */
function intPartialType(op: AccOp, dt: EType): string | undefined {
  if (!isAddedInt(dt)) return undefined;
  if (op === 'sum' || op === 'prod') return wideAccType(dt) ?? cType(dt);
  return isNarrowInt(dt) ? 'int' : cType(dt);
}

/** The C type partial results are kept in: index reductions compare in their values' type. */
export function partialType(r: Reduction): string {
  if (isIndexReduction(r)) return intPartialType(r.op, dtOf(r.value)) ?? (dtOf(r.value) === 'float64' ? 'double' : 'float');
  return intPartialType(r.op, r.dtype) ?? accType(r);
}

/** The lowest (`max`) or highest (`min`) value of one of the added integer types, as a literal. */
function intExtreme(dt: EType, op: 'max' | 'min'): string | undefined {
  if (!isAddedInt(dt)) return undefined;
  return cLiteral(Number(op === 'max' ? INT_INFO[dt].min : INT_INFO[dt].max), dt);
}

/** The identity of the reduction's combine. */
export function accInit(r: Reduction): string {
  const isF = isFloat(r.dtype);
  switch (r.op) {
    case 'sum':
      return '0';
    case 'prod':
      return '1';
    case 'max':
      return intExtreme(r.dtype, 'max') ?? (isF ? '-INFINITY' : r.dtype === 'bool' ? '0' : r.dtype === 'int32' ? 'INT32_MIN' : 'INT64_MIN');
    case 'min':
      return intExtreme(r.dtype, 'min') ?? (isF ? 'INFINITY' : r.dtype === 'bool' ? '1' : r.dtype === 'int32' ? 'INT32_MAX' : 'INT64_MAX');
    case 'argmax':
      return intExtreme(dtOf(r.value), 'max') ?? '-INFINITY';
    case 'argmin':
      return intExtreme(dtOf(r.value), 'min') ?? 'INFINITY';
    default:
      return r.op satisfies never;
  }
}

/**
 * Lines setting each reduction's accumulators (acc{id}v, and acc{id}i for index reductions)
 * to their identity: declarations when `declare`, else assignments (a second phase).
 */
export function accInitLines(reds: readonly Reduction[], ind: string, declare: boolean): string[] {
  return reds.flatMap((r) => [
    `${ind}${declare ? `${partialType(r)} ` : ''}acc${r.id}v = ${accInit(r)};`,
    ...(isIndexReduction(r) ? [`${ind}${declare ? 'int64_t ' : ''}acc${r.id}i = 0;`] : []),
  ]);
}

export function combine(op: AccOp, a: string, b: string): string {
  switch (op) {
    case 'sum':
      return `${a} + ${b}`;
    case 'prod':
      return `${a} * ${b}`;
    case 'max':
      return `(${a} != ${a} || ${a} > ${b}) ? ${a} : ${b}`;
    case 'min':
      return `(${a} != ${a} || ${a} < ${b}) ? ${a} : ${b}`;
    default:
      throw new Error(`combine: ${op} is handled as an index reduction`);
  }
}

/** Updates (best, bestIdx) with (v, i): NaN wins; ties go to the lower index, or the higher with selectLast. */
export function argUpdate(r: Reduction, best: string, bi: string, v: string, i: string): string {
  const better = r.op === 'argmax' ? '>' : '<';
  const tie = r.selectLast ? `${i} > ${bi}` : `${i} < ${bi}`;
  return `{ const bool nb = ${best} != ${best}; const bool nv = ${v} != ${v}; if ((nv && !nb) || (!nb && !nv && ((${v} ${better} ${best}) || (${v} == ${best} && ${tie}))) || (nv && nb && ${tie})) { ${best} = ${v}; ${bi} = ${i}; } }`;
}

/** Folds (value v, index i) into reduction r's accumulators acc{id}v / acc{id}i. */
export function accumulate(r: Reduction, v: string, i: string): string {
  const a = `acc${r.id}v`;
  return isIndexReduction(r) ? argUpdate(r, a, `acc${r.id}i`, v, i) : `${a} = ${combine(r.op, a, v)};`;
}

/**
 * Lines combining every thread's acc{id}v (and acc{id}i) across the block's `warps` warps of
 * each of its `rows` rows (threadIdx.y); afterwards every thread of a row holds the row's value.
 */
export function blockReduceLines(r: Reduction, warps: number, rows: number): string[] {
  const vt = partialType(r);
  const arg = isIndexReduction(r);
  const shuffle = (from: number) =>
    `for (int m = ${from}; m > 0; m >>= 1) { const ${vt} ov = kiln_shfl_xor(acc${r.id}v, m);${arg ? ` const int64_t oi = kiln_shfl_xor(acc${r.id}i, m);` : ''} ${accumulate(r, 'ov', 'oi')} }`;
  const lines = [`  ${shuffle(16)}`];
  if (warps > 1) {
    // One slot per warp of each row in the block (rows are threadIdx.y).
    lines.push(`  { __shared__ ${vt} sv[${rows}][${warps}];${arg ? ` __shared__ int64_t si[${rows}][${warps}];` : ''}`);
    lines.push(`    const int w = threadIdx.x >> 5, l = threadIdx.x & 31;`);
    lines.push(`    if (l == 0) { sv[threadIdx.y][w] = acc${r.id}v;${arg ? ` si[threadIdx.y][w] = acc${r.id}i;` : ''} }`);
    lines.push('    __syncthreads();');
    // Every warp combines the slots with shuffles (lane l takes slot l mod warps: each group
    // of `warps` lanes holds every slot once, so every lane ends with the whole row's
    // value), instead of each thread reading all slots one by one from shared memory.
    lines.push(`    acc${r.id}v = sv[threadIdx.y][l & ${warps - 1}];${arg ? ` acc${r.id}i = si[threadIdx.y][l & ${warps - 1}];` : ''}`);
    lines.push(`    ${shuffle(warps / 2)}`);
    lines.push('    __syncthreads(); }');
  }
  return lines;
}

/**
 * blockReduceLines for a block whose shape is chosen per call (a row of symbolic length,
 * sym_launch.ts rowThreads): blockDim.x threads per row (a power of two from 32 to 1024),
 * blockDim.y rows, at most 32 warps in all, so one slot per warp fits a 32-entry array.
 */
export function blockReduceLinesPerCall(r: Reduction): string[] {
  const vt = partialType(r);
  const arg = isIndexReduction(r);
  const shuffle = (from: string) =>
    `for (int m = ${from}; m > 0; m >>= 1) { const ${vt} ov = kiln_shfl_xor(acc${r.id}v, m);${arg ? ` const int64_t oi = kiln_shfl_xor(acc${r.id}i, m);` : ''} ${accumulate(r, 'ov', 'oi')} }`;
  return [
    `  ${shuffle('16')}`,
    `  if (blockDim.x > 32) { __shared__ ${vt} sv[32];${arg ? ' __shared__ int64_t si[32];' : ''}`,
    '    const int nw = blockDim.x >> 5, w = threadIdx.x >> 5, l = threadIdx.x & 31;',
    `    if (l == 0) { sv[threadIdx.y * nw + w] = acc${r.id}v;${arg ? ` si[threadIdx.y * nw + w] = acc${r.id}i;` : ''} }`,
    '    __syncthreads();',
    `    acc${r.id}v = sv[threadIdx.y * nw + (l & (nw - 1))];${arg ? ` acc${r.id}i = si[threadIdx.y * nw + (l & (nw - 1))];` : ''}`,
    `    ${shuffle('nw >> 1')}`,
    '    __syncthreads(); }',
  ];
}

/** `const T acc{id} = …;`: the finished value (the index, for index reductions). */
export function finishLine(r: Reduction): string {
  return isIndexReduction(r) ? `  const int64_t acc${r.id} = acc${r.id}i;` : `  const ${accType(r)} acc${r.id} = (${accType(r)})acc${r.id}v;`;
}

/**
 * float32 sums (half types sum in float32) accumulate in blocks, as on the CPU
 * (cpu/accumulators.ts): a thread whose loop may take more than SUM_BLOCK points adds them to
 * a block partial, folded into its accumulator every SUM_BLOCK points, so one thread's running
 * float never stalls at 2^24. Loops of at most SUM_BLOCK points per thread (nearly all: the
 * kernels spread long rows over many threads and blocks) keep their source as it was.
 */
export const SUM_BLOCK = 4096;

export function blockedSum(r: Reduction): boolean {
  return r.op === 'sum' && (r.dtype === 'float32' || r.dtype === 'float16' || r.dtype === 'bfloat16');
}

/**
 * `for (int64_t r = start; r < hi; r += step) { … }` over this thread's points (`step` a number,
 * or C text where the threads are chosen per call), with
 * `body(r)` giving each reduction's value lines: each reduction's update, blocked sums through
 * block partials when a thread may take more than SUM_BLOCK points (`maxPoints`).
 */
export function threadLoop(
  reds: readonly Reduction[], start: string, hi: string, step: number | string, maxPoints: number,
  pre: readonly string[], values: readonly string[], ind: string, unroll?: string,
): string[] {
  const blocked = maxPoints > SUM_BLOCK ? reds.filter(blockedSum) : [];
  const update = (r: Reduction, i: number) => (blocked.includes(r) ? `${ind}  bacc${r.id} += ${values[i]};` : `${ind}  ${accumulate(r, values[i]!, 'r')}`);
  const inner = (from: string, to: string, at: string) => [...(unroll ? [`${at}${unroll}`] : []), `${at}for (int64_t r = ${from}; r < ${to}; r += ${step}) {`, ...pre, ...reds.map(update), `${at}}`];
  if (!blocked.length) return inner(start, hi, ind);
  // A step chosen per call (a C expression) spans SUM_BLOCK of itself, in 64 bits.
  const span = typeof step === 'number' ? `${step * SUM_BLOCK}LL` : `((int64_t)${step} * ${SUM_BLOCK})`;
  return [
    `${ind}for (int64_t rb = ${start}; rb < ${hi}; rb += ${span}) {`,
    ...blocked.map((r) => `${ind}  float bacc${r.id} = 0;`),
    `${ind}  const int64_t re = rb + ${span} < ${hi} ? rb + ${span} : ${hi};`,
    ...inner('rb', 're', ind + '  '),
    ...blocked.map((r) => `${ind}  acc${r.id}v += bacc${r.id};`),
    `${ind}}`,
  ];
}
