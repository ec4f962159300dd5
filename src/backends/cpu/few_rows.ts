// The GEMM of a few vectors against a weight (M ≤ 8, float32 B read in place, never packed).
// Each B element is used M times at most, so the product is a stream of the weights: on the
// 2-core VM 201 MB of weights stream in ~6.5 ms at best (two threads reading), and a kernel is
// as fast as its reads of B are sequential (bench/RESULTS.md, "CPU weights read in place").
//
// - B with contiguous rows (MatMul's [K, N] weight): the K rows are cut into KC chunks of whole
//   rows, a contiguous region of B each, that threads take in order (schedule static), each
//   chunk summing its rows into its own M×N partial (RB rows of B per pass over the partial,
//   so it is loaded and stored once per RB rows); then threads split the columns, add the KC
//   partials and apply the epilogue. The earlier kernel split the columns into 512-wide blocks
//   instead, so each thread read 2 KB runs 8 KB apart: 1.6× slower at the same bandwidth. KC
//   depends on K only, never on the thread count, so results are the same on any machine.
// - B transposed (Gemm transB = 1, a [N, K] weight read as [K, N]: each output column is a
//   contiguous row of K values): threads split the columns, NB at a time, each a dot product of
//   the M rows of A with NB contiguous rows of the weight; the earlier kernel packed every
//   32-column panel per call.

import { type MatmulKernel, type StridedOperand } from '../../lower/loop_ir.js';
import { KERNEL_NAME_PLACEHOLDER } from '../../schedule/backend.js';
import { loadValue } from '../half_c.js';
import { type GemmContext, type GemmKernel, epilogue } from './gemm_context.js';

export interface FewRowContext extends GemmContext {
  /** The partials' array name (a symbolic kernel holds one few-row kernel per M, each its own). */
  partName?: string;
}
export type FewRowKernel = GemmKernel;

/** Rows of B per pass over the partials: fewer when M is larger (M·RB scalars of A are live). */
const rowsPerPass = (m: number) => (m <= 4 ? 16 : 8);
/** Rows of B per chunk, at least: a chunk's partial (M×N) costs about 1/32 of its rows' reads. */
const CHUNK_MIN_ROWS = 128;
const MAX_CHUNKS = 32;
/** The partials' bytes, at most (a vocabulary-sized N takes fewer chunks). */
const PARTIALS_MAX_BYTES = 8 << 20;

/** The kernel for `k` if B is a float32 operand read in place, contiguous along rows or columns. */
export function fewRowKernel(k: MatmulKernel, c: FewRowContext): FewRowKernel | undefined {
  const b = k.b as StridedOperand;
  if (b.colStride === 1) return rowsKernel(k, b, c);
  if (b.rowStride === 1) return columnsKernel(k, b, c);
  return undefined;
}

/**
 * Row r's offset into A. With `c.mText` (a symbolic M of at most k.M rows: the kernel for k.M
 * rows serves every M up to it), rows at or past M read row M - 1 (valid memory; their sums
 * are never stored).
 */
function rowOffset(k: MatmulKernel, c: FewRowContext, r: number): string {
  if (c.mText === undefined || r === 0) return `${r * k.a.rowStride}LL`;
  return `(${r} < ${c.mText} ? ${r}LL : ${c.mText} - 1) * ${k.a.rowStride}LL`;
}

function rowsKernel(k: MatmulKernel, b: StridedOperand, c: FewRowContext): FewRowKernel {
  const { t, ind } = c;
  const { M, N, K } = k;
  const RB = rowsPerPass(M);
  const groups = Math.floor(K / RB);
  const KC = c.parallel ? Math.max(1, Math.min(MAX_CHUNKS, Math.floor(K / CHUNK_MIN_ROWS), groups, Math.floor(PARTIALS_MAX_BYTES / (M * N * 4)))) : 1;
  const part = c.partName ?? `${KERNEL_NAME_PLACEHOLDER}_part`;
  const a = (r: number, p: string) => loadValue(`A[${rowOffset(k, c, r)} + (${p}) * ${k.a.colStride}LL]`, c.aDt);
  const L: string[] = [];
  if (c.parallel) L.push(`${ind}#pragma omp parallel`, `${ind}{`, `${ind}#pragma omp for schedule(static)`);
  L.push(`${ind}for (int64_t c = 0; c < ${KC}; c++) {`);
  L.push(`${ind}  ${t}* restrict acc = ${part} + c * ${M * N}LL;`);
  // Chunk c takes pass groups [c·G/KC, (c+1)·G/KC); the last one also the K mod RB rows left.
  L.push(`${ind}  const int64_t p0 = c * ${groups}LL / ${KC} * ${RB};`);
  L.push(`${ind}  const int64_t p1 = c == ${KC - 1} ? ${K} : (c + 1) * ${groups}LL / ${KC} * ${RB};`);
  L.push(`${ind}  for (int64_t i = 0; i < ${M * N}; i++) acc[i] = 0;`);
  L.push(`${ind}  int64_t p = p0;`);
  L.push(`${ind}  for (; p + ${RB} <= p1; p += ${RB}) {`);
  L.push(`${ind}    const ${t}* restrict q = B + p * ${b.rowStride}LL;`);
  for (let r = 0; r < M; r++) L.push(`${ind}    const ${t} ${Array.from({ length: RB }, (_, i) => `a${r}_${i} = ${a(r, `p + ${i}`)}`).join(', ')};`);
  L.push(`${ind}    #pragma omp simd`, `${ind}    for (int64_t j = 0; j < ${N}; j++) {`);
  L.push(`${ind}      const ${t} ${Array.from({ length: RB }, (_, i) => `q${i} = q[${i * b.rowStride}LL + j]`).join(', ')};`);
  for (let r = 0; r < M; r++) L.push(`${ind}      acc[${r * N}LL + j] += ${Array.from({ length: RB }, (_, i) => `a${r}_${i} * q${i}`).join(' + ')};`);
  L.push(`${ind}    }`, `${ind}  }`);
  L.push(`${ind}  for (; p < p1; p++) {`, `${ind}    const ${t}* restrict q = B + p * ${b.rowStride}LL;`);
  L.push(`${ind}    const ${t} ${Array.from({ length: M }, (_, r) => `a${r} = ${a(r, 'p')}`).join(', ')};`);
  L.push(`${ind}    #pragma omp simd`, `${ind}    for (int64_t j = 0; j < ${N}; j++) {`);
  for (let r = 0; r < M; r++) L.push(`${ind}      acc[${r * N}LL + j] += a${r} * q[j];`);
  L.push(`${ind}    }`, `${ind}  }`, `${ind}}`);
  // The partials added in chunk order (the same sum whatever the thread count), then the epilogue.
  if (c.parallel) L.push(`${ind}#pragma omp for schedule(static)`);
  L.push(`${ind}for (int64_t j = 0; j < ${N}; j++) {`, `${ind}  for (int64_t r = 0; r < ${c.mText ?? M}; r++) {`);
  L.push(`${ind}    ${t} s = ${part}[r * ${N}LL + j];`);
  if (KC > 1) L.push(`${ind}    for (int64_t c = 1; c < ${KC}; c++) s += ${part}[c * ${M * N}LL + r * ${N}LL + j];`);
  L.push(...epilogue(k, c, `${ind}    `, 'r', 'j', 's'), `${ind}  }`, `${ind}}`);
  if (c.parallel) L.push(`${ind}}`);
  return { statics: [`static ${t} ${part}[${KC * M * N}] __attribute__((aligned(64)));`], body: L };
}

function columnsKernel(k: MatmulKernel, b: StridedOperand, c: FewRowContext): FewRowKernel {
  const { t, ind } = c;
  const { M, N, K } = k;
  const NB = M <= 4 ? 4 : 2;
  const a = (r: number) => loadValue(`A[${rowOffset(k, c, r)} + p * ${k.a.colStride}LL]`, c.aDt);
  const sums = (nb: number) => Array.from({ length: M * nb }, (_, i) => `s${Math.floor(i / nb)}_${i % nb}`);
  // One group of `nb` columns from n0: M·nb dot products over K, kept in a small array for the epilogue.
  const group = (nb: number, at: string): string[] => [
    ...Array.from({ length: nb }, (_, j) => `${at}const ${t}* restrict w${j} = B + (n0 + ${j}) * ${b.colStride}LL;`),
    `${at}${t} ${sums(nb)
      .map((s) => `${s} = 0`)
      .join(', ')};`,
    `${at}#pragma omp simd reduction(+: ${sums(nb).join(', ')})`,
    `${at}for (int64_t p = 0; p < ${K}; p++) {`,
    `${at}  const ${t} ${Array.from({ length: nb }, (_, j) => `q${j} = w${j}[p * ${b.rowStride}LL]`).join(', ')};`,
    `${at}  const ${t} ${Array.from({ length: M }, (_, r) => `a${r} = ${a(r)}`).join(', ')};`,
    ...Array.from({ length: M }, (_, r) => `${at}  ${Array.from({ length: nb }, (_, j) => `s${r}_${j} += a${r} * q${j};`).join(' ')}`),
    `${at}}`,
    `${at}const ${t} sv[${M}][${nb}] = { ${Array.from({ length: M }, (_, r) => `{ ${Array.from({ length: nb }, (_, j) => `s${r}_${j}`).join(', ')} }`).join(', ')} };`,
    `${at}for (int64_t r = 0; r < ${c.mText ?? M}; r++) for (int64_t jj = 0; jj < ${nb}; jj++) {`,
    ...epilogue(k, c, `${at}  `, 'r', 'n0 + jj', 'sv[r][jj]'),
    `${at}}`,
  ];
  const L: string[] = [];
  const full = N - (N % NB);
  if (c.parallel) L.push(`${ind}#pragma omp parallel for schedule(static)`);
  L.push(`${ind}for (int64_t n0 = 0; n0 < ${full}; n0 += ${NB}) {`, ...group(NB, `${ind}  `), `${ind}}`);
  if (full < N) L.push(`${ind}for (int64_t n0 = ${full}; n0 < ${N}; n0++) {`, ...group(1, `${ind}  `), `${ind}}`);
  return { statics: [], body: L };
}
