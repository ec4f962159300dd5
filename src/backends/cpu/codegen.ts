// C source for one loop-IR kernel. Loops are written so the compiler vectorizes them:
// restrict pointers, the contiguous dimension innermost, `omp simd` reductions. Large
// kernels split their outermost loop across cores with OpenMP.

import { byteSize, isFloat } from '../../graph/dtype.js';
import type { Kernel, LoopKernel, MatmulKernel, Reduction, ScanKernel } from '../../lower/loop_ir.js';
import { C_PRELUDE, type EmitDialect, Scope, cLiteral, cType } from '../c_expr.js';

/** Work (elements touched) above which a kernel's outer loop runs on several threads. */
const PARALLEL_MIN_WORK = 1 << 17;

export const C_KERNEL_PLACEHOLDER = '__KILN_KERNEL__';

export interface CSource {
  /** Source with the kernel name left as C_KERNEL_PLACEHOLDER (the name comes from its hash). */
  body: string;
  /** Whether the kernel uses OpenMP threads (needs -fopenmp). */
  parallel: boolean;
}

const dialect: EmitDialect = {
  load: (buf, index) => `b${buf}[${index}]`,
  acc: (id) => `acc${id}`,
};

function signature(k: Kernel): string {
  const params = k.bufs.map((b, i) => `${b.role === 'in' ? 'const ' : ''}${cType(b.dtype)}* restrict b${i}`);
  return `void ${C_KERNEL_PLACEHOLDER}(${params.join(', ')})`;
}

function header(): string {
  return `#include <math.h>\n#include <stdint.h>\n#include <string.h>\n${C_PRELUDE}`;
}

function totalWork(k: Kernel): number {
  return Math.max(...k.bufs.map((b) => b.numel * byteSize(b.dtype)), 1);
}

export function generateC(k: Kernel): CSource {
  switch (k.kind) {
    case 'loops':
      return loops(k);
    case 'matmul':
      return matmul(k);
    case 'scan':
      return scan(k);
    default:
      return k satisfies never;
  }
}

/** Opens nested loops over `dims` named prefix0..; size-1 dims get no loop (their index is 0). */
function openLoops(lines: string[], dims: readonly number[], prefix: string, indent: string, parallelFirst: boolean): string {
  let ind = indent;
  dims.forEach((n, i) => {
    if (n === 1) {
      // A block, not a loop: it scopes the constant index like a loop would.
      lines.push(`${ind}{ const int64_t ${prefix}${i} = 0;`);
      ind += '  ';
      return;
    }
    if (parallelFirst && lines.every((l) => !l.includes('omp parallel'))) lines.push(`${ind}#pragma omp parallel for schedule(static)`);
    lines.push(`${ind}for (int64_t ${prefix}${i} = 0; ${prefix}${i} < ${n}; ${prefix}${i}++) {`);
    ind += '  ';
  });
  return ind;
}

function closeLoops(lines: string[], dims: readonly number[], indent: string): void {
  let depth = dims.length;
  while (depth-- > 0) lines.push(`${indent}${'  '.repeat(depth)}}`);
}

function accInit(r: Reduction): string {
  const t = cType(r.dtype);
  switch (r.op) {
    case 'sum':
      return `${t} acc${r.id} = 0;`;
    case 'prod':
      return `${t} acc${r.id} = 1;`;
    case 'max':
      return `${t} acc${r.id} = ${isFloat(r.dtype) ? '-INFINITY' : r.dtype === 'bool' ? '0' : r.dtype === 'int32' ? 'INT32_MIN' : 'INT64_MIN'};`;
    case 'min':
      return `${t} acc${r.id} = ${isFloat(r.dtype) ? 'INFINITY' : r.dtype === 'bool' ? '1' : r.dtype === 'int32' ? 'INT32_MAX' : 'INT64_MAX'};`;
    case 'argmax':
    case 'argmin':
      return `int64_t acc${r.id} = 0; double best${r.id} = ${r.op === 'argmax' ? '-INFINITY' : 'INFINITY'}; int seen${r.id} = 0;`;
    default:
      return r.op satisfies never;
  }
}

function accPragma(r: Reduction): string | undefined {
  if (r.op === 'sum') return `#pragma omp simd reduction(+:acc${r.id})`;
  if (r.op === 'prod') return `#pragma omp simd reduction(*:acc${r.id})`;
  if (r.op === 'max') return `#pragma omp simd reduction(max:acc${r.id})`;
  if (r.op === 'min') return `#pragma omp simd reduction(min:acc${r.id})`;
  return undefined;
}

function accUpdate(r: Reduction, v: string, pos: string): string[] {
  const a = `acc${r.id}`;
  switch (r.op) {
    case 'sum':
      return [`${a} += ${v};`];
    case 'prod':
      return [`${a} *= ${v};`];
    case 'max':
      return [`${a} = ${a} > ${v} ? ${a} : ${v};`];
    case 'min':
      return [`${a} = ${a} < ${v} ? ${a} : ${v};`];
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

function flatInner(dims: readonly number[]): string {
  // Flat position in the reduced dims (argmax/argmin have exactly one).
  let s = '0';
  let stride = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    if (dims[i] !== 1) s = s === '0' ? `r${i} * ${stride}` : `${s} + r${i} * ${stride}`;
    stride *= dims[i]!;
  }
  return `(${s})`;
}

function loops(k: LoopKernel): CSource {
  const counter = { n: 0 };
  const lines: string[] = [header(), `${signature(k)} {`];
  const parallel = totalWork(k) >= PARALLEL_MIN_WORK && k.outer.some((n) => n > 1);
  const ind = openLoops(lines, k.outer, 'o', '  ', parallel);
  const outerScope = new Scope(dialect, counter, undefined, ind);
  const body: string[] = [];
  for (const r of k.reductions) {
    body.push(`${ind}${accInit(r)}`);
    const pragma = accPragma(r);
    // The pragma must sit right before a `for`: only when the single inner dim is a real loop.
    if (pragma && k.inner.length === 1 && k.inner[0] !== 1) body.push(`${ind}${pragma}`);
    const innerLines: string[] = [];
    const innerInd = openLoops(innerLines, k.inner, 'r', ind, false);
    const s = outerScope.child(innerInd);
    const v = s.emit(r.value);
    body.push(...outerScope.lines.splice(0), ...innerLines, ...s.lines, ...accUpdate(r, v, flatInner(k.inner)).map((l) => innerInd + l));
    closeLoops(body, k.inner, ind);
  }
  for (const st of k.outerStores) {
    const v = outerScope.emit(st.value);
    const at = outerScope.emit(st.at);
    body.push(...outerScope.lines.splice(0), `${ind}b${st.buf}[${at}] = ${v};`);
  }
  if (k.innerStores.length) {
    const innerLines: string[] = [];
    if (k.inner.length === 1 && k.inner[0] !== 1 && k.reductions.length > 0) innerLines.push(`${ind}#pragma omp simd`);
    const innerInd = openLoops(innerLines, k.inner, 'r', ind, false);
    const s = outerScope.child(innerInd);
    const stores = k.innerStores.map((st) => `${innerInd}b${st.buf}[${s.emit(st.at)}] = ${s.emit(st.value)};`);
    body.push(...outerScope.lines.splice(0), ...innerLines, ...s.lines, ...stores);
    closeLoops(body, k.inner, ind);
  }
  lines.push(...body);
  closeLoops(lines, k.outer, '  ');
  lines.push('}');
  return { body: lines.join('\n') + '\n', parallel };
}

function scan(k: ScanKernel): CSource {
  const counter = { n: 0 };
  const lines: string[] = [header(), `${signature(k)} {`];
  const parallel = totalWork(k) >= PARALLEL_MIN_WORK && k.outer.some((n) => n > 1);
  const ind = openLoops(lines, k.outer, 'o', '  ', parallel);
  const n = k.inner[0]!;
  lines.push(`${ind}${cType(k.dtype)} run = 0;`);
  lines.push(`${ind}for (int64_t step = 0; step < ${n}; step++) {`);
  lines.push(`${ind}  const int64_t r0 = ${k.reverse ? `${n - 1} - step` : 'step'};`);
  const s = new Scope(dialect, counter, undefined, ind + '  ');
  const v = s.emit(k.value);
  const at = s.emit(k.out.at);
  lines.push(...s.lines);
  if (k.exclusive) lines.push(`${ind}  b${k.out.buf}[${at}] = run; run += ${v};`);
  else lines.push(`${ind}  run += ${v}; b${k.out.buf}[${at}] = run;`);
  lines.push(`${ind}}`);
  closeLoops(lines, k.outer, '  ');
  lines.push('}');
  return { body: lines.join('\n') + '\n', parallel };
}

/**
 * Register-tiled matmul. With B row-contiguous (colStride 1) each group of 4 rows of C is
 * accumulated as axpy updates over a 256-wide column block (vectorizes along n); with B
 * column-contiguous (as in q @ k^T) each element is a vectorized dot product over k.
 * The epilogue (bias, activation, residual) runs on each finished element.
 */
function matmul(k: MatmulKernel): CSource {
  const counter = { n: 0 };
  const t = cType(k.dtype);
  const lines: string[] = [header(), `${signature(k)} {`];
  const nb = k.batch.length;
  const mVar = `o${nb}`;
  const nVar = `o${nb + 1}`;
  const work = k.batch.reduce((p, d) => p * d, 1) * k.M * k.N * k.K;
  const parallel = work >= PARALLEL_MIN_WORK * 8;
  let ind = '  ';
  const batchDims = k.batch;
  if (parallel && batchDims.some((d) => d > 1) && batchDims.reduce((p, d) => p * d, 1) >= 4) {
    ind = openLoops(lines, batchDims, 'o', ind, true);
  } else ind = openLoops(lines, batchDims, 'o', ind, false);
  const scope = new Scope(dialect, counter, undefined, ind);
  const aOff = scope.emit(k.a.offset);
  const bOff = scope.emit(k.b.offset);
  lines.push(...scope.lines.splice(0));
  lines.push(`${ind}const ${t}* restrict A = b${k.a.buf} + ${aOff};`);
  lines.push(`${ind}const ${t}* restrict B = b${k.b.buf} + ${bOff};`);
  const as0 = k.a.rowStride, as1 = k.a.colStride, bs0 = k.b.rowStride, bs1 = k.b.colStride;
  const epilogue = (i: string, j: string, accExpr: string, indent: string): string[] => {
    const s = scope.child(indent);
    const out: string[] = [`${indent}const int64_t ${mVar} = ${i};`, `${indent}const int64_t ${nVar} = ${j};`, `${indent}const ${t} acc0 = ${accExpr};`];
    const stores = k.epilogue.map((st) => `${indent}b${st.buf}[${s.emit(st.at)}] = ${s.emit(st.value)};`);
    return [...out, ...s.lines, ...stores];
  };
  const parallelRows = parallel && !(batchDims.some((d) => d > 1) && batchDims.reduce((p, d) => p * d, 1) >= 4);
  if (bs1 === 1 && k.N > 1) {
    const NB = Math.min(256, k.N);
    const RB = 4;
    lines.push(`${ind}for (int64_t jb = 0; jb < ${k.N}; jb += ${NB}) {`);
    lines.push(`${ind}  const int64_t jn = ${k.N} - jb < ${NB} ? ${k.N} - jb : ${NB};`);
    if (parallelRows) lines.push(`${ind}  #pragma omp parallel for schedule(static)`);
    lines.push(`${ind}  for (int64_t ib = 0; ib < ${k.M}; ib += ${RB}) {`);
    lines.push(`${ind}    const int64_t im = ${k.M} - ib < ${RB} ? ${k.M} - ib : ${RB};`);
    lines.push(`${ind}    ${t} c[${RB}][${NB}];`);
    lines.push(`${ind}    memset(c, 0, sizeof(c));`);
    lines.push(`${ind}    for (int64_t p = 0; p < ${k.K}; p++) {`);
    lines.push(`${ind}      const ${t}* restrict brow = B + p * ${bs0} + jb;`);
    lines.push(`${ind}      if (im == ${RB}) {`);
    for (let r = 0; r < RB; r++) lines.push(`${ind}        const ${t} a${r} = A[(ib + ${r}) * ${as0} + p * ${as1}];`);
    lines.push(`${ind}        #pragma omp simd`);
    lines.push(`${ind}        for (int64_t j = 0; j < jn; j++) { const ${t} bv = brow[j]; ${Array.from({ length: RB }, (_, r) => `c[${r}][j] += a${r} * bv;`).join(' ')} }`);
    lines.push(`${ind}      } else {`);
    lines.push(`${ind}        for (int64_t r = 0; r < im; r++) { const ${t} av = A[(ib + r) * ${as0} + p * ${as1}];`);
    lines.push(`${ind}          #pragma omp simd`);
    lines.push(`${ind}          for (int64_t j = 0; j < jn; j++) c[r][j] += av * brow[j]; }`);
    lines.push(`${ind}      }`);
    lines.push(`${ind}    }`);
    lines.push(`${ind}    for (int64_t r = 0; r < im; r++) for (int64_t j = 0; j < jn; j++) {`);
    lines.push(...epilogue('ib + r', 'jb + j', 'c[r][j]', `${ind}      `));
    lines.push(`${ind}    }`);
    lines.push(`${ind}  }`);
    lines.push(`${ind}}`);
  } else {
    if (parallelRows) lines.push(`${ind}#pragma omp parallel for schedule(static)`);
    lines.push(`${ind}for (int64_t i = 0; i < ${k.M}; i++) {`);
    lines.push(`${ind}  for (int64_t j = 0; j < ${k.N}; j++) {`);
    lines.push(`${ind}    ${t} s = 0;`);
    lines.push(`${ind}    #pragma omp simd reduction(+:s)`);
    lines.push(`${ind}    for (int64_t p = 0; p < ${k.K}; p++) s += A[i * ${as0} + p * ${as1}] * B[p * ${bs0} + j * ${bs1}];`);
    lines.push(...epilogue('i', 'j', 's', `${ind}    `));
    lines.push(`${ind}  }`);
    lines.push(`${ind}}`);
  }
  closeLoops(lines, batchDims, '  ');
  lines.push('}');
  return { body: lines.join('\n') + '\n', parallel };
}

export { cLiteral };
