// C source for one loop-IR kernel. Loops are written so the compiler vectorizes them:
// restrict pointers, the contiguous dimension innermost, `omp simd` reductions. Large
// kernels split their outermost loop across cores with OpenMP. Reductions that read along
// columns take column_loops.ts's order (outputs innermost).

import { arch } from 'node:os';
import { setting } from '../../config/read.js';
import { byteSize } from '../../graph/dtype.js';
import { numel } from '../../graph/shape.js';
import { type Expr, loopVar, substitute, varsOf } from '../../lower/expr.js';
import { type Dim, SYM_MIN, SymbolicUnsupportedError, symNumel, symStrides } from '../../graph/sym.js';
import { recordGuard } from '../../lower/guard_record.js';
import { symCName } from '../../lower/sym_index.js';
import { type Kernel, type KernelSyms, type LoopKernel, type MatmulKernel, type ScanKernel, type ScatterKernel, type StridedOperand, isImplicit } from '../../lower/loop_ir.js';
import { unflatten } from '../../lower/views.js';
import { readsAlongColumns } from '../../lower/reduction_shape.js';
import { KERNEL_NAME_PLACEHOLDER } from '../../schedule/backend.js';
import { Scope, cStorageType, cType, storeStmt } from '../c_expr.js';
import { loadValue } from '../half_c.js';
import { recordUses } from '../emitted_uses.js';
import { narrowAcc, wideAccType } from '../int_c.js';
import { SUM_BLOCK, accFinish, accInit, accPragma, accUpdate, blockAccName, blockUpdate, blockedSum, flatInner, openBlockedLoops, sumBlocking } from './accumulators.js';
import { columnLoops, COLUMN_MIN_ROWS } from './column_loops.js';
import { type FewRowContext, fewRowKernel } from './few_rows.js';
import { packImplicitPanel } from './implicit_panel.js';
import type { GemmContext, GemmKernel } from './gemm_context.js';
import { packableB, tiledGemmApplies, tiledGemmKernel, tiledScratch } from './tiled_gemm.js';
import { type CSource, PARALLEL_MIN_WORK, dialect, entryPoint, header, signature, totalWork } from './kernel_text.js';
import { paddedRowLoops, paddedRowPlan } from './padded_rows.js';
import { rowLoops, shortRowReduction, shortRowReductionSym } from './row_loops.js';

export type { CSource } from './kernel_text.js';

/**
 * The few-row kernels of a product over a symbolic M, as one function switching on M over
 * [1, 8] (every M the `if (M <= 8)` around its call may see: a symbol may be 1), and that call,
 * when the static program's few-row kernel would take the product: no batch, N, K and the
 * strides static, a float32 B read in place (few_rows.ts). Undefined otherwise.
 */
function fewRowCases(k: MatmulKernel & { sym?: KernelSyms }, c: Omit<FewRowContext, 'parallel' | 'partName' | 'scope' | 'ind'>, bDt: MatmulKernel['dtype']): { statics: string[]; call: string } | undefined {
  const sym = k.sym!;
  const staticDims = [sym.N, sym.K, ...(sym.aStrides ?? []), ...(sym.bStrides ?? [])].every((d) => d === undefined || typeof d === 'number');
  if (!staticDims || k.batch.length > 0 || isImplicit(k.b) || !setting('KILN_CPU_FEW_ROW_GEMM') || cStorageType(bDt) !== c.t) return undefined;
  // One function for every case, outside the kernel's body: a symbolic kernel's two variants
  // (threads or not, symbolicVariants) both call it, so it is compiled once, not twice (each
  // case chooses its threads itself). Its own temporaries' counter keeps its text the same in both.
  const scope = new Scope(dialect, { n: 0 }, undefined, '      ');
  const statics: string[] = [];
  const body: string[] = [];
  // Kernels for 1, 2, 4 and 8 rows, each serving every M up to its own (the rows past M read
  // row M - 1 and are not stored): the products of a few rows read B once whatever their rows,
  // so 3 rows on the 4-row kernel cost what 4 do, while half as many cases (and the larger ones
  // once) halve what gcc compiles here.
  const M = dimC(sym.M!);
  let served = SYM_MIN - 1;
  for (const rows of [1, 2, 4, 8].filter((r) => r >= SYM_MIN)) {
    // This kernel takes every M the smaller ones leave: (served, rows].
    const cases = Array.from({ length: rows - served }, (_, i) => served + 1 + i);
    served = rows;
    const km: MatmulKernel = { ...k, M: rows };
    // Threads as the static program decides them for this many rows; M as C text where the kernel may see fewer rows than its own.
    const kernel = fewRowKernel(km, { ...c, scope, ind: '      ', parallel: rows * k.N * k.K >= PARALLEL_MIN_WORK * 8, partName: `${KERNEL_NAME_PLACEHOLDER}_part${rows}`, ...(cases.length > 1 ? { mText: M } : {}) });
    if (!kernel) return undefined;
    statics.push(...kernel.statics);
    body.push(...cases.map((m) => `    case ${m}:`), '    {', ...kernel.body, '      break;', '    }');
  }
  const sig = signature(k);
  const params = sig.slice(sig.indexOf('_body(') + '_body('.length, -1);
  const name = `${KERNEL_NAME_PLACEHOLDER}_fewrows`;
  const aT = cStorageType(k.bufs[k.a.buf]!.dtype);
  statics.push(`static __attribute__((noinline)) void ${name}(${params}, const ${aT}* restrict A, const ${cStorageType(bDt)}* restrict B) {`, `  switch (${M}) {`, ...body, '  }', '}');
  const args = [...k.bufs.map((_, i) => `b${i}`), ...(sym.sizes ?? []).map(symCName), 'A', 'B'];
  return { statics, call: `${name}(${args.join(', ')});` };
}

/** A dim's C text: the number, or the SymInt over the kernel's size arguments. */
function dimC(d: Dim): string {
  return typeof d === 'number' ? String(d) : d.toC(symCName);
}

/**
 * Whether a symbolic kernel's generators emit OpenMP threads (its two variants, see
 * symbolicVariants); static kernels decide by size as before.
 */
let symbolicThreads = true;

/**
 * A symbolic kernel's work per call, as the C condition choosing its threaded variant: the
 * static program's rule (a loop nest's bytes, a product's multiply-adds) over the kernel's sizes.
 */
function threadsCondition(k: Kernel & { sym: KernelSyms }): string {
  const s = k.sym;
  if (k.kind === 'matmul') return `${symNumel([...(s.batch ?? []), s.M ?? k.M, s.N ?? k.N, s.K ?? k.K]).toC(symCName)} >= ${PARALLEL_MIN_WORK * 8}`;
  // A loop nest: its largest buffer's bytes (totalWork), each buffer's count a size polynomial.
  if (!s.bufNumel) return `${symNumel([...(s.outer ?? []), ...(s.inner ?? [])]).toC(symCName)} * 4 >= ${PARALLEL_MIN_WORK}`;
  const bytes = s.bufNumel.map((n, i) => symNumel([n]).mul(byteSize(k.bufs[i]!.dtype)));
  if (bytes.some((b) => (b.constant ?? 0) >= PARALLEL_MIN_WORK)) return '1';
  const symbolic = bytes.filter((b) => !b.isConstant);
  return symbolic.length ? symbolic.map((b) => `${b.toC(symCName)} >= ${PARALLEL_MIN_WORK}`).join(' || ') : '0';
}

/**
 * A symbolic kernel as two variants in one body, threaded and serial, chosen per call by its
 * work: a parallel pragma with an `if` clause still enters the OpenMP runtime when false
 * (~3 µs a kernel on the 2-core VM: small shapes ran 1.8× slower than static programs), and a
 * static program has no pragma at all when its work is small.
 */
function symbolicVariants(k: Kernel & { sym: KernelSyms }, generate: () => CSource): CSource {
  const gen = (threads: boolean) => {
    symbolicThreads = threads;
    try {
      return generate();
    } finally {
      symbolicThreads = true;
    }
  };
  const yes = gen(true);
  // A kernel that chooses its threads per call itself needs no second variant.
  if (yes.threadsInside) return yes;
  return chosenPerCall(k, threadsCondition(k), yes, gen(false));
}

/** One body holding two variants of a kernel (the same statics), `yes` where the C condition `cond` holds per call, else `no`. */
function chosenPerCall(k: Kernel, cond: string, yes: CSource, no: CSource): CSource {
  const head = `${signature(k, yes.packB !== undefined)} {\n`;
  const split = (src: CSource) => {
    const at = src.body.indexOf(head);
    if (at < 0 || !src.body.endsWith('}\n')) throw new Error('codegen: a symbolic kernel without its signature');
    return { statics: src.body.slice(0, at), inner: src.body.slice(at + head.length, -2) };
  };
  const p = split(yes);
  const q = split(no);
  if (p.statics !== q.statics) throw new Error('codegen: a symbolic kernel whose variants differ outside its body');
  const indent = (t: string) => t.split('\n').map((l) => (l ? `  ${l}` : l)).join('\n');
  return { ...yes, body: `${p.statics}${head}  if (${cond}) {\n${indent(p.inner)}  } else {\n${indent(q.inner)}  }\n}\n` };
}

/**
 * Whether a threaded symbolic product whose batch may be 1 splits its batch items across the
 * threads (each item's product on one thread, as a static program does for 2 items or more);
 * else threads split each item's rows. batchVariants chooses per call.
 */
let symbolicBatchThreads = false;

/**
 * A symbolic product over a batch that is not provably 2 or more (a bare batch symbol: a conv's
 * products over a symbolic batch): its threaded variant splits the items across threads when a
 * call has 2 or more, else each item's rows, the static program's choice by the batch size.
 */
function batchVariants(k: MatmulKernel & { sym: KernelSyms }): CSource {
  const batch = symNumel(k.sym.batch ?? []);
  if (!symbolicThreads || batch.isConstant || batch.sub(2).provablyNonNegative()) return matmul(k);
  const gen = (items: boolean) => {
    symbolicBatchThreads = items;
    try {
      return matmul(k);
    } finally {
      symbolicBatchThreads = false;
    }
  };
  return chosenPerCall(k, `${batch.toC(symCName)} >= 2`, gen(true), gen(false));
}

/** flatInner over symbolic dims: the flat position in the reduced dims (argmax/argmin). */
function flatInnerDims(dims: readonly Dim[]): string {
  const strides = symStrides(dims);
  const parts = dims.flatMap((d, i) => (d === 1 ? [] : [`r${i} * ${strides[i]!.toC(symCName)}`]));
  return `(${parts.length ? parts.join(' + ') : '0'})`;
}

export function generateC(k: Kernel): CSource {
  const { value: src, uses } = recordUses(() => kernelBody(k));
  // The header goes on last, once the generator has used (or not) the half or integer helpers.
  return { ...src, body: `${header(uses.helpers.has('half'), uses.helpers.has('int'))}\n${src.body}${entryPoint(k, src.packB !== undefined)}` };
}

function kernelBody(k: Kernel): CSource {
  if (k.sym && k.kind === 'scatter') throw new SymbolicUnsupportedError(`a CPU ${k.kind} kernel over symbolic sizes`, k.sym.sizes);
  if (k.sym && k.kind === 'loops') return symbolicVariants(k as LoopKernel & { sym: KernelSyms }, () => loops(k));
  if (k.sym && k.kind === 'scan') return symbolicVariants(k as ScanKernel & { sym: KernelSyms }, () => scan(k));
  if (k.sym && k.kind === 'matmul') return symbolicVariants(k as MatmulKernel & { sym: KernelSyms }, () => batchVariants(k as MatmulKernel & { sym: KernelSyms }));
  switch (k.kind) {
    case 'loops':
      return loops(k);
    case 'matmul':
      return matmul(k);
    case 'scan':
      return scan(k);
    case 'scatter':
      return scatter(k);
    default:
      return k satisfies never;
  }
}

/**
 * Opens nested loops over `dims` named prefix0..; size-1 dims get no loop (their index is 0).
 * `texts`: each extent's C text where symbolic (else the number).
 */
function openLoops(lines: string[], dims: readonly number[], prefix: string, indent: string, parallelFirst: boolean, texts?: readonly string[]): string {
  let ind = indent;
  // The first real loop (size-1 dims open blocks) takes the pragma, the loops inside it none.
  let pragmaPending = parallelFirst;
  dims.forEach((n, i) => {
    if (n === 1) {
      // A block, not a loop: it scopes the constant index like a loop would.
      lines.push(`${ind}{ const int64_t ${prefix}${i} = 0;`);
      ind += '  ';
      return;
    }
    if (pragmaPending) lines.push(`${ind}#pragma omp parallel for schedule(static)`);
    pragmaPending = false;
    lines.push(`${ind}for (int64_t ${prefix}${i} = 0; ${prefix}${i} < ${texts?.[i] ?? n}; ${prefix}${i}++) {`);
    ind += '  ';
  });
  return ind;
}

function closeLoops(lines: string[], dims: readonly number[], indent: string): void {
  let depth = dims.length;
  while (depth-- > 0) lines.push(`${indent}${'  '.repeat(depth)}}`);
}

function loops(k: LoopKernel & { sym?: KernelSyms }): CSource {
  const sym = k.sym;
  // A symbolic kernel takes the column order only where the static program's choice holds for
  // every size (column_loops.ts), the row order where it depends on no symbol (row_loops.ts),
  // else the plain loop order, right for every size.
  if (!sym && readsAlongColumns(k, COLUMN_MIN_ROWS)) return columnLoops(k);
  const padded = sym ? undefined : paddedRowPlan(k);
  if (padded) return paddedRowLoops(padded);
  if (!sym && shortRowReduction(k)) return rowLoops(k);
  if (sym && shortRowReductionSym(k, sym)) return rowLoops(k, { outer: sym.outer ?? k.outer, threads: symbolicThreads });
  const counter = { n: 0 };
  const lines: string[] = [`${signature(k)} {`];
  const outerText = sym?.outer?.map(dimC);
  const innerText = sym?.inner?.map(dimC);
  const parallel = (sym ? symbolicThreads : totalWork(k) >= PARALLEL_MIN_WORK) && k.outer.some((n) => n > 1);
  const ind = openLoops(lines, k.outer, 'o', '  ', parallel, outerText);
  const outerScope = new Scope(dialect, counter, undefined, ind);
  const body: string[] = [];
  for (const r of k.reductions) {
    body.push(`${ind}${accInit(r)}`);
    const split = blockedSum(r) ? sumBlocking(k.inner) : undefined;
    if (sym && blockedSum(r)) {
      // The blocking is chosen by the sum's length: a symbolic one keeps the one-block form
      // for every call its guard admits.
      if (split) throw new SymbolicUnsupportedError(`a float sum over ${numel(k.inner)} (> ${SUM_BLOCK}) points of symbolic length`, symNumel(sym.inner ?? []).symbols());
      recordGuard(symNumel(sym.inner ?? []), 'le', SUM_BLOCK, `float sums of at most ${SUM_BLOCK} points run unblocked`);
    }
    if (split) {
      // A long float32 sum: partial sums over blocks of at most SUM_BLOCK points (accumulators.ts).
      // The innermost loop vectorizes (whole-tensor sums over several dims included).
      const pragma = `#pragma omp simd reduction(+:${blockAccName(r)})`;
      const innerLines: string[] = [];
      const { ind: innerInd, close } = openBlockedLoops(innerLines, k.inner, ind, split, [`float ${blockAccName(r)} = 0;`], [`acc${r.id} += ${blockAccName(r)};`], pragma);
      const s = outerScope.child(innerInd);
      const v = s.emit(r.value);
      body.push(...outerScope.lines.splice(0), ...innerLines, ...s.lines, ...blockUpdate(r, v).map((l) => innerInd + l), ...close);
      body.push(...accFinish(r).map((l) => ind + l));
      continue;
    }
    const pragma = accPragma(r);
    // The pragma must sit right before a `for`: only when the single inner dim is a real loop.
    if (pragma && k.inner.length === 1 && k.inner[0] !== 1) body.push(`${ind}${pragma}`);
    const innerLines: string[] = [];
    const innerInd = openLoops(innerLines, k.inner, 'r', ind, false, innerText);
    const s = outerScope.child(innerInd);
    const v = s.emit(r.value);
    const pos = sym ? flatInnerDims(sym.inner ?? []) : flatInner(k.inner);
    body.push(...outerScope.lines.splice(0), ...innerLines, ...s.lines, ...accUpdate(r, v, pos).map((l) => innerInd + l));
    closeLoops(body, k.inner, ind);
    body.push(...accFinish(r).map((l) => ind + l));
  }
  for (const st of k.outerStores) {
    const v = outerScope.emit(st.value);
    const at = outerScope.emit(st.at);
    body.push(...outerScope.lines.splice(0), `${ind}${storeStmt(st.buf, at, v, k.bufs[st.buf]!.dtype)}`);
  }
  if (k.innerStores.length) {
    const innerLines: string[] = [];
    if (k.inner.length === 1 && k.inner[0] !== 1 && k.reductions.length > 0) innerLines.push(`${ind}#pragma omp simd`);
    const innerInd = openLoops(innerLines, k.inner, 'r', ind, false, innerText);
    const s = outerScope.child(innerInd);
    const stores = k.innerStores.map((st) => `${innerInd}${storeStmt(st.buf, s.emit(st.at), s.emit(st.value), k.bufs[st.buf]!.dtype)}`);
    body.push(...outerScope.lines.splice(0), ...innerLines, ...s.lines, ...stores);
    closeLoops(body, k.inner, ind);
  }
  lines.push(...body);
  closeLoops(lines, k.outer, '  ');
  lines.push('}');
  return { body: lines.join('\n') + '\n', parallel };
}

function scan(k: ScanKernel & { sym?: KernelSyms }): CSource {
  const counter = { n: 0 };
  const lines: string[] = [`${signature(k)} {`];
  const sym = k.sym;
  // Over symbolic sizes the length is a size argument and the threads are chosen per call (symbolicVariants).
  const parallel = (sym ? symbolicThreads : totalWork(k) >= PARALLEL_MIN_WORK) && k.outer.some((n) => n > 1);
  const ind = openLoops(lines, k.outer, 'o', '  ', parallel, sym?.outer?.map(dimC));
  const n = sym?.inner ? dimC(sym.inner[0]!) : String(k.inner[0]!);
  lines.push(`${ind}${cType(k.dtype)} run = 0;`);
  lines.push(`${ind}for (int64_t step = 0; step < ${n}; step++) {`);
  lines.push(`${ind}  const int64_t r0 = ${k.reverse ? (sym?.inner ? `(${n}) - 1 - step` : `${k.inner[0]! - 1} - step`) : 'step'};`);
  const s = new Scope(dialect, counter, undefined, ind + '  ');
  const v = s.emit(k.value);
  const at = s.emit(k.out.at);
  lines.push(...s.lines);
  const store = storeStmt(k.out.buf, at, 'run', k.bufs[k.out.buf]!.dtype);
  if (k.exclusive) lines.push(`${ind}  ${store} run += ${v};`);
  else lines.push(`${ind}  run += ${v}; ${store}`);
  lines.push(`${ind}}`);
  closeLoops(lines, k.outer, '  ');
  lines.push('}');
  return { body: lines.join('\n') + '\n', parallel };
}

/** Lane-inner points per parallel task of a scatter: enough to amortise its serial walk. */
const SCATTER_CHUNK = 4096;

/**
 * A scatter's update phase (lower/scatter.ts says why it is ordered, not atomic): tasks are
 * (leading lane point, chunk of trailing lane points), split across threads; each walks the
 * serial dims in order and, innermost, its chunk of trailing lanes (contiguous in memory for
 * ScatterND slices and for ScatterElements along a leading axis). Two tasks never touch one
 * element, and one element's updates all come from one task in update order.
 */
function scatter(k: ScatterKernel): CSource {
  const lead = k.outer.slice(0, k.leading);
  const trail = k.outer.slice(k.leading);
  const LO = numel(lead);
  const LI = numel(trail);
  const chunks = LI > SCATTER_CHUNK ? Math.ceil(LI / SCATTER_CHUNK) : 1;
  const chunk = chunks > 1 ? SCATTER_CHUNK : LI;
  const tasks = LO * chunks;
  const parallel = totalWork(k) >= PARALLEL_MIN_WORK && tasks > 1;
  const vars = new Map<string, Expr>();
  unflatten(loopVar('lo', Math.max(LO, 1)), lead).forEach((e, d) => vars.set(`o${d}`, e));
  unflatten(loopVar('li', Math.max(LI, 1)), trail).forEach((e, d) => vars.set(`o${k.leading + d}`, e));
  const lines: string[] = [`${signature(k)} {`];
  if (parallel) lines.push('  #pragma omp parallel for schedule(static)');
  lines.push(`  for (int64_t task = 0; task < ${tasks}; task++) {`);
  if (LO > 1) lines.push(`    const int64_t lo = task / ${chunks};`);
  lines.push(`    const int64_t li0 = (task % ${chunks}) * ${chunk};`);
  lines.push(`    const int64_t li1 = li0 + ${chunk} < ${LI} ? li0 + ${chunk} : ${LI};`);
  const ind = openLoops(lines, k.inner, 'r', '    ', false);
  const validExpr = substitute(k.valid, vars);
  const store = (s: Scope) => {
    const at = s.emit(substitute(k.store.at, vars));
    const v = s.emit(substitute(k.store.value, vars));
    return [...s.lines, `${s.indentation}${storeStmt(k.store.buf, at, v, k.bufs[k.store.buf]!.dtype)}`];
  };
  const liLoop = `for (int64_t li = li0; li < li1; li++) {`;
  const outer = new Scope(dialect, { n: 0 }, undefined, ind);
  if (!varsOf(validExpr).has('li')) {
    // A ScatterND slice: one index check for the whole chunk of the slice.
    const valid = outer.emit(validExpr);
    const body = outer.child(`${ind}    `);
    lines.push(...outer.lines, `${ind}if (${valid}) {`, `${ind}  ${liLoop}`, ...store(body), `${ind}  }`, `${ind}}`);
  } else {
    const s = outer.child(`${ind}  `);
    const valid = s.emit(validExpr);
    const body = s.child(`${ind}    `);
    lines.push(`${ind}${liLoop}`, ...s.lines, `${ind}  if (${valid}) {`, ...store(body), `${ind}  }`, `${ind}}`);
  }
  closeLoops(lines, k.inner, '    ');
  lines.push('  }', '}');
  return { body: lines.join('\n') + '\n', parallel };
}

/**
 * Matmul with its epilogue (bias, activation, residual) applied to each finished element. A
 * float32 product of many rows takes the register-blocked tile of tiled_gemm.ts, one of a few
 * rows against a weight few_rows.ts; the rest (half or integer operands, an implicit B, A with
 * strided columns) the packed-panel kernel here (the
 * BLIS scheme, one level): for each 32-column panel of B, the panel is copied into a contiguous
 * K×32 buffer (any strides, zero-padded at the edge), then every 4-row block of A is multiplied
 * against it with a 4×32 accumulator block that the compiler keeps in vector registers; rows
 * run in parallel.
 */
function matmul(k: MatmulKernel & { sym?: KernelSyms }): CSource {
  const counter = { n: 0 };
  const sym = k.sym;
  // Over symbolic sizes: M, N, K, the batch and the strides are the kernel's size arguments; a
  // symbolic K's panel is allocated per call (a static one is a static array). The size-chosen
  // variants: the few-row kernels only per M for a symbolic M (fewRowCases), the tile where A's
  // columns are contiguous for every size; the variant with threads (symbolicVariants, or the
  // tile's OpenMP if clause) and, in it, a parallel batch (batchVariants) are chosen per call.
  const kSym = sym?.K !== undefined && typeof sym.K !== 'number' && !sym.K.isConstant;
  const K = kSym ? dimC(sym.K!) : String(k.K);
  const M = sym?.M !== undefined ? dimC(sym.M) : String(k.M);
  const N = sym?.N !== undefined ? dimC(sym.N) : String(k.N);
  const mLast = sym && typeof sym.M !== 'number' ? `(${M} - 1)` : String(k.M - 1);
  const strideC = (d: Dim | undefined, n: number) => (d === undefined || typeof d === 'number' ? `${n}LL` : `(${dimC(d)})`);
  const aRow = strideC(sym?.aStrides?.[0], k.a.rowStride);
  /** The tile's strides as C text, symbolic ones as their size polynomials (an implicit B has none: its panels are packed from its index expression). */
  const tileStrides = () =>
    isImplicit(k.b) ? { aRow, bRow: '', bCol: '' } : { aRow, bRow: strideC(sym?.bStrides?.[0], k.b.rowStride), bCol: strideC(sym?.bStrides?.[1], k.b.colStride) };
  const aCol = strideC(sym?.aStrides?.[1], k.a.colStride);
  // Half operands are widened to float as the B panel is packed and as A is read: the
  // accumulator block and the panel are float, so half products accumulate in float32.
  // Narrow integers accumulate in uint32_t (wrapping by definition), narrowed at acc0.
  const t = wideAccType(k.dtype) ?? cType(k.dtype);
  const aDt = k.bufs[k.a.buf]!.dtype;
  const implicitB = isImplicit(k.b) ? k.b : undefined;
  const bDt = isImplicit(k.b) ? k.dtype : k.bufs[k.b.buf]!.dtype;
  const MR = 4;
  const NR = 32;
  // The panel is named after the kernel: kernels of a compile group share one translation unit.
  const panel = `${KERNEL_NAME_PLACEHOLDER}_bpanel`;
  const nb = k.batch.length;
  const mVar = `o${nb}`;
  const nVar = `o${nb + 1}`;
  const work = k.batch.reduce((p, d) => p * d, 1) * k.M * k.N * k.K;
  const batches = k.batch.reduce((p, d) => p * d, 1);
  // Over symbolic sizes the tile applies where A's columns are contiguous for every size (M, N,
  // K and the other strides may be symbolic: size arguments in its loops and indices, a symbolic
  // K's panels sized per call); a symbolic M that may be 8 or less takes, at those sizes, the
  // few-row kernels where they apply (below).
  const symM = sym?.M !== undefined && typeof sym.M !== 'number' ? sym.M : undefined;
  const nSym = sym?.N !== undefined && typeof sym.N !== 'number' && !sym.N.isConstant;
  const aColStatic = sym?.aStrides?.[1] === undefined || typeof sym.aStrides[1] === 'number' || sym.aStrides[1].isConstant;
  const tileSym = !sym || aColStatic;
  // Many rows (M > 8): the register-blocked tile with B packed per thread (tiled_gemm.ts)
  // where A is float32 with contiguous columns and B strided; independent products split by
  // batch item each run it on their thread. Over symbolic sizes as said above (the batch loops
  // around the tile take a symbolic extent). KILN_CPU_TILED_GEMM=0 keeps the earlier 4×32
  // kernel below, to compare (bench/cpu_gemm.ts).
  const tiled = tileSym && (symM !== undefined || k.M > 2 * MR) && tiledGemmApplies(k, t) && setting('KILN_CPU_TILED_GEMM');
  // A symbolic tile decides its threads per call inside one body (OpenMP's if clause on its
  // team, the static rule over the call's sizes) instead of two variants of the whole kernel:
  // the same code either way, compiled once (symbolicVariants takes `threadsInside`).
  const threadsIf = sym && tiled ? threadsCondition(k as MatmulKernel & { sym: KernelSyms }) : undefined;
  // A weight's B (the same sizes, strides and offset in every call) may come packed once: the
  // kernel takes the panels as one more argument (NULL: packed per call; tiled_gemm.ts).
  const packB = tiled && packableB(k);
  const parallel = threadsIf !== undefined || (sym ? symbolicThreads : work >= PARALLEL_MIN_WORK * 8);
  // Several independent products (attention heads): threads take whole products, each with
  // its own panel; one product: threads split its rows and share the panel.
  // Over a symbolic batch: when the batch has 2 or more products for every binding, or the call has (batchVariants).
  const parallelBatch = parallel && (sym ? symbolicBatchThreads || symNumel(sym.batch ?? []).sub(2).provablyNonNegative() : batches >= 2);
  const panelSize = kSym ? `(${K} > 0 ? ${K} : 1) * ${NR}` : String(Math.max(k.K, 1) * NR);
  // A symbolic K's shared panel is allocated per call (a static one is a static array).
  const heapPanel = kSym && !parallelBatch && !tiled;
  const lines: string[] = kSym
    ? ['', `${signature(k, packB)} {`, ...(heapPanel ? [`  ${t}* restrict Bheap = (${t}*)malloc(sizeof(${t}) * ${panelSize});`] : [])]
    : [`static ${t} ${panel}[${Math.max(k.K, 1) * NR}] __attribute__((aligned(64)));`, `${signature(k, packB)} {`];
  // Few rows (a batch of a few vectors against a weight: M ≤ 8, one or two 4-row blocks):
  // each B element is used at most 8 times, so copying B into panels costs as much as the
  // product, and the rows cannot be split across threads. A float32 B contiguous along its rows
  // (MatMul's [K, N] weight) or its columns (Gemm's transB weight) is read in place, never packed
  // (few_rows.ts). Any other B is still packed per panel, but threads split the panels, each
  // with its own. KILN_CPU_FEW_ROW_GEMM=0 turns both off (the earlier kernel), to compare
  // (bench/cpu_weights.ts).
  // Not over symbolic sizes: the kernel's statics (its partial sums) are sized by whether it
  // uses threads, which a symbolic kernel's two variants (symbolicVariants) decide apart.
  const fewRows = k.M <= 2 * MR && !implicitB && !sym && setting('KILN_CPU_FEW_ROW_GEMM');
  const sb0 = k.b as StridedOperand;
  const inPlace = fewRows && !parallelBatch && cStorageType(bDt) === t && (sb0.colStride === 1 || sb0.rowStride === 1);
  const panelsParallel = parallel && !parallelBatch && fewRows && !inPlace;
  const special: ((c: GemmContext) => GemmKernel) | undefined = inPlace
    ? (c) => fewRowKernel(k, c)!
    : tiled
      ? (c) => tiledGemmKernel(k, { ...c, parallel: parallel && !parallelBatch, ...(threadsIf ? { parallelIf: threadsIf } : {}), ...(symM ? { mText: M } : {}), ...(nSym ? { nText: N } : {}), ...(kSym ? { kText: K } : {}), strides: tileStrides(), ...(packB ? { packedB: true } : {}) }, parallelBatch)
      : undefined;
  let ind = '  ';
  if (parallelBatch) {
    const batchDims = sym?.batch ?? k.batch;
    // The tile's scratch is made before the team: one slice per thread.
    if (tiled) lines.push(tiledScratch(k, 'kiln_gemm_threads()', ind, kSym ? K : undefined));
    lines.push(`${ind}#pragma omp parallel for schedule(static)${threadsIf ? ` if (${threadsIf})` : ''}`);
    lines.push(`${ind}for (int64_t bflat = 0; bflat < ${sym ? dimC(symNumel(batchDims)) : batches}; bflat++) {`);
    ind += '  ';
    const strides = symStrides(batchDims);
    const decls: string[] = [];
    for (let d = k.batch.length - 1; d >= 0; d--) decls.unshift(`${ind}const int64_t o${d} = (bflat / ${dimC(strides[d]!.constant ?? strides[d]!)}) % ${dimC(batchDims[d]!)};`);
    lines.push(...decls);
    if (!tiled) lines.push(`${ind}${t}* restrict Bp = (${t}*)malloc(sizeof(${t}) * ${panelSize});`);
  } else {
    ind = openLoops(lines, k.batch, 'o', ind, false, sym?.batch?.map(dimC));
    if (!panelsParallel && !special) lines.push(`${ind}${t}* restrict Bp = ${kSym ? 'Bheap' : panel};`);
  }
  const scope = new Scope(dialect, counter, undefined, ind);
  const aOff = scope.emit(k.a.offset);
  const bOff = isImplicit(k.b) ? '' : scope.emit(k.b.offset);
  lines.push(...scope.lines.splice(0));
  lines.push(`${ind}const ${cStorageType(aDt)}* restrict A = b${k.a.buf} + ${aOff};`);
  if (!isImplicit(k.b)) lines.push(`${ind}const ${cStorageType(bDt)}* restrict B = b${k.b.buf} + ${bOff};`);
  // A symbolic M that may be 8 or less: those M take the few-row kernels, where they apply
  // (each exactly the static program's for that M), the rest the tile or the packed kernel.
  const fewByM = symM && !symM.sub(2 * MR + 1).provablyNonNegative() ? fewRowCases(k, { t, aDt, mVar, nVar }, bDt) : undefined;
  if (special) {
    const kernel = special({ t, aDt, parallel, mVar, nVar, ind: fewByM ? `${ind}  ` : ind, scope });
    lines[0] = [...kernel.statics, ...(fewByM?.statics ?? [])].join('\n');
    if (fewByM) lines.push(`${ind}if (${M} <= ${2 * MR}) {`, `${ind}  ${fewByM.call}`, `${ind}} else {`, ...kernel.body, `${ind}}`);
    else lines.push(...kernel.body);
    if (parallelBatch) lines.push('  }');
    else closeLoops(lines, k.batch, '  ');
    lines.push('}');
    // Over a symbolic M whose few rows take the few-row kernels (they read B in place), B is
    // worth packing once only from a call that runs the tile: the runtime asks M first.
    const packWhen = packB && fewByM ? { packWhen: { rows: symM!.toJSON(), above: 2 * MR } } : {};
    return { body: lines.join('\n') + '\n', parallel, ...(threadsIf ? { threadsInside: true } : {}), ...(packB ? { packB: k.b.buf, ...packWhen } : {}), flags: arch() === 'x64' ? ['-mprefer-vector-width=512'] : [] };
  }
  if (fewByM) {
    lines[0] += `\n${fewByM.statics.join('\n')}`;
    lines.push(`${ind}if (${M} <= ${2 * MR}) {`, `${ind}  ${fewByM.call}`, `${ind}} else {`);
    ind += '  ';
  }
  if (panelsParallel) {
    lines.push(`${ind}#pragma omp parallel`, `${ind}{`);
    ind += '  ';
    lines.push(`${ind}${t}* restrict Bp = (${t}*)malloc(sizeof(${t}) * ${Math.max(k.K, 1) * NR});`, `${ind}#pragma omp for schedule(static)`);
  }
  lines.push(`${ind}for (int64_t jb = 0; jb < ${N}; jb += ${NR}) {`);
  lines.push(`${ind}  const int64_t jn = ${N} - jb < ${NR} ? ${N} - jb : ${NR};`);

  if (implicitB) {
    // An implicit B (a conv's window view): the panel packed from its index expression
    // (implicit_panel.ts); its rows in parallel when the product's rows are.
    lines.push(...packImplicitPanel(k, implicitB, scope, `${ind}  `, { K, NR: String(NR), t, panel: 'Bp', rowsParallel: parallel && !parallelBatch }));
  } else {
    const sb = k.b as StridedOperand;
    const pack = [
      `for (int64_t p = 0; p < ${K}; p++) for (int64_t j = 0; j < ${NR}; j++)`,
      `  Bp[p * ${NR} + j] = j < jn ? ${loadValue(`B[p * ${strideC(sym?.bStrides?.[0], sb.rowStride)} + (jb + j) * ${strideC(sym?.bStrides?.[1], sb.colStride)}]`, bDt)} : (${t})0;`,
    ];
    lines.push(...pack.map((l) => `${ind}  ${l}`));
  }
  if (parallel && !parallelBatch && !panelsParallel && (sym || k.M > MR)) lines.push(`${ind}  #pragma omp parallel for schedule(static)`);
  lines.push(`${ind}  for (int64_t ib = 0; ib < ${M}; ib += ${MR}) {`);
  lines.push(`${ind}    ${t} acc[${MR}][${NR}];`);
  lines.push(`${ind}    for (int r = 0; r < ${MR}; r++) for (int j = 0; j < ${NR}; j++) acc[r][j] = 0;`);
  // Rows past M read the last row (valid memory) and are never stored.
  for (let r = 0; r < MR; r++) {
    lines.push(`${ind}    const ${cStorageType(aDt)}* restrict a${r} = A + (ib + ${r} < ${M} ? ib + ${r} : ${mLast}) * ${aRow};`);
  }
  lines.push(`${ind}    for (int64_t p = 0; p < ${K}; p++) {`);
  lines.push(`${ind}      const ${t}* restrict brow = Bp + p * ${NR};`);
  for (let r = 0; r < MR; r++) {
    lines.push(`${ind}      { const ${t} av = ${loadValue(`a${r}[p * ${aCol}]`, aDt)};`);
    lines.push(`${ind}        #pragma omp simd`);
    lines.push(`${ind}        for (int j = 0; j < ${NR}; j++) acc[${r}][j] += av * brow[j]; }`);
  }
  lines.push(`${ind}    }`);
  lines.push(`${ind}    for (int r = 0; r < ${MR}; r++) {`);
  lines.push(`${ind}      if (ib + r >= ${M}) break;`);
  lines.push(`${ind}      for (int64_t j = 0; j < jn; j++) {`);
  const es = scope.child(`${ind}        `);
  const stores = k.epilogue.map((st) => `${ind}        ${storeStmt(st.buf, es.emit(st.at), es.emit(st.value), k.bufs[st.buf]!.dtype)}`);
  lines.push(`${ind}        const int64_t ${mVar} = ib + r;`, `${ind}        const int64_t ${nVar} = jb + j;`, `${ind}        const ${cType(k.dtype)} acc0 = ${narrowAcc('acc[r][j]', k.dtype)};`);
  lines.push(...es.lines, ...stores);
  lines.push(`${ind}      }`, `${ind}    }`, `${ind}  }`, `${ind}}`);
  if (fewByM) {
    ind = ind.slice(2);
    lines.push(`${ind}}`);
  }
  if (panelsParallel) {
    ind = ind.slice(2);
    lines.push(`${ind}  free(Bp);`, `${ind}}`);
  }
  if (parallelBatch) lines.push(`${ind}free(Bp);`, '  }');
  else closeLoops(lines, k.batch, '  ');
  if (heapPanel) lines.push('  free(Bheap);');
  lines.push('}');
  // 512-bit vectors for the 4×32 accumulator block where the CPU has them (AVX-512): gcc
  // prefers 256-bit by default, which halves the block's throughput.
  return { body: lines.join('\n') + '\n', parallel, flags: arch() === 'x64' ? ['-mprefer-vector-width=512'] : [] };
}

