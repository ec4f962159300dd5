// CUDA C for one loop-IR kernel. Pointwise kernels: a grid-stride loop, four consecutive
// elements per thread with 128-bit loads and stores for every buffer read or written at the
// thread's own flat position. Reductions: one row per warp (short rows) or per block, warp
// shuffles then shared memory, every phase of a row kernel (softmax's max and sum, layer
// norm's mean and variance) in one launch; few long rows (a whole-tensor sum) are split over
// many blocks (split_reduction.ts), and reductions over a leading axis read along columns
// (column_reduction.ts). Matmuls: cuBLAS plus an epilogue kernel, or a
// generated tiled GEMM with the epilogue fused. Launch configuration goes in the metadata.
// Over symbolic sizes (a kernel with a `sym` record) the same kernels take the sizes as
// arguments and their launch as formulas (symbolicSource; docs/architecture.md "Symbolic sizes").

import { numel } from '../../graph/shape.js';
import { type Expr, children, cst, exprKey, idx, iadd, imul, loopVar, mapChildren, reg, substitute, varsOf } from '../../lower/expr.js';
import { type Kernel, type KernelBuf, type KernelSyms, type LoopKernel, type MatmulKernel, type ScanKernel, type ScatterKernel, type Store, isImplicit } from '../../lower/loop_ir.js';
import { flatten, unflatten } from '../../lower/views.js';
import { linearBatch } from '../../lower/matmul_batch.js';
import { Scope, cStorageType, cType, emitInvariants, storeStmt } from '../c_expr.js';
import { loadValue } from '../half_c.js';
import { recordUses } from '../emitted_uses.js';
import { type CudaGenerated, type CudaSymMeta, type GemmMeta, MAX_BLOCKS, POINTER_TABLE, POINTWISE_THREADS, dialect, kernelOpen, usesPointerTable } from './kernel_text.js';
import { LANES, ownPositionAccess, vecType, vectorizeLoads } from './vector_access.js';
import { INT_HELPER_TYPES, cudaTypedefs, narrowAcc, wideAccType } from '../int_c.js';
import { CUDA_HALF_PRELUDE, CUDA_HALF_PRELUDE_TYPES, CUDA_INT_PRELUDE, CUDA_PRELUDE, CUDA_PRELUDE_TYPES } from './prelude.js';
import { columnReduction, isColumnReduction } from './column_reduction.js';
import { BLOCK_SCAN_MIN, blockScan, scanLength } from './block_scan.js';
import { splitReduction, splitsFor } from './split_reduction.js';
import { isThreadReduction, threadReduction } from './thread_reduction.js';
import { flatOutputVars } from '../../lower/reduction_shape.js';
import { SUM_BLOCK, accInitLines, accumulate, blockReduceLines, blockReduceLinesPerCall, blockedSum, finishLine, partialType, threadLoop } from './reduce_ops.js';
import { type Dim, SymInt, SymbolicUnsupportedError, symNumel } from '../../graph/sym.js';
import { recordGuard } from '../../lower/guard_record.js';
import { imulDim, loopVarDim, symCName } from '../../lower/sym_index.js';
import { SYM_ROW_MAX, SYM_ROW_POINTS, rowThreads } from './sym_launch.js';
import { ownPositions, symPointwise } from './sym_pointwise.js';
import { symCublasEpilogue, symGemmMeta } from './sym_gemm.js';

/** `cublasMinMacs`: products of at least this many multiply-adds go to cuBLAS (Infinity: none). */
export function generateCuda(k: Kernel, cublasMinMacs: number): CudaGenerated {
  const { value: g, uses } = recordUses(() => kernelSource(k, cublasMinMacs));
  // Parameters the launch passes: the buffers, then the cuBLAS scratch or the workspace, then a
  // symbolic kernel's sizes (kernelOpen's choice, made again here for the runtime).
  const product = g.meta.gemm ?? g.meta.sym?.gemm;
  if (usesPointerTable(g.meta.params + (product || g.meta.workspace ? 1 : 0) + (g.meta.sym?.sizes.length ?? 0))) g.meta.pointerTable = true;
  if ((g.meta.pointerTable === true) !== g.source.includes(POINTER_TABLE)) throw new Error(`internal: kernel ${k.kind} and its metadata disagree on its pointer table`);
  // The prelude goes on last, once the generator has used (or not) the half or integer
  // helpers and named the fixed-width types it needs beyond the preludes'.
  const half = uses.helpers.has('half');
  const int = uses.helpers.has('int');
  const ints = int ? CUDA_INT_PRELUDE : '';
  const defined: string[] = [...CUDA_PRELUDE_TYPES, ...(half ? CUDA_HALF_PRELUDE_TYPES : [])];
  const types = cudaTypedefs(new Set([...(int ? INT_HELPER_TYPES : []), ...uses.types]), defined);
  return { ...g, source: `${CUDA_PRELUDE}${half ? CUDA_HALF_PRELUDE : ''}${types}${ints}\n${g.source}` };
}

function kernelSource(k: Kernel, cublasMinMacs: number): CudaGenerated {
  if (k.sym) return symbolicSource(k as Kernel & { sym: KernelSyms }, cublasMinMacs);
  switch (k.kind) {
    case 'loops':
      return k.reductions.length === 0 && k.inner.every((n) => n === 1) ? pointwise(k) : reduction(k);
    case 'matmul':
      return cublasEligible(k) && numel(k.batch) * k.M * k.N * k.K >= cublasMinMacs ? cublasEpilogue(k) : tiledGemm(k);
    case 'scan':
      return scan(k);
    case 'scatter':
      return scatter(k);
    default:
      return k satisfies never;
  }
}

/**
 * A kernel over symbolic sizes: pointwise kernels (sym_pointwise.ts), row reductions, scans
 * and products; scatters are refused (compile() then specialises). A product that cuBLAS
 * can take for every binding goes to cuBLAS whatever its size (the size threshold of static
 * products, KILN_CUBLAS_MIN_MACS, trades one launch for a library call, which a symbolic
 * product cannot judge once for every call), unless cuBLAS is not in use.
 */
function symbolicSource(k: Kernel & { sym: KernelSyms }, cublasMinMacs: number): CudaGenerated {
  switch (k.kind) {
    case 'loops':
      return k.reductions.length === 0 && k.inner.every((n) => n === 1) ? symPointwise(k) : reduction(k);
    case 'matmul': {
      const gemm = cublasMinMacs === Infinity ? undefined : symGemmMeta(k);
      return gemm ? symCublasEpilogue(k, gemm) : tiledGemm(k);
    }
    case 'scan':
      return scan(k);
    default:
      throw new SymbolicUnsupportedError(`a CUDA ${k.kind} kernel over symbolic sizes (a scatter's lanes and serial walk are chosen by its sizes)`, k.sym.sizes);
  }
}

function pointwise(k: LoopKernel): CudaGenerated {
  const N = numel(k.outer);
  const flat = loopVar('i', Math.max(N, 1));
  const point = unflatten(flat, k.outer);
  const vars = new Map(k.outer.map((_, d) => [`o${d}`, point[d]!] as [string, Expr]));
  for (let d = 0; d < k.inner.length; d++) vars.set(`r${d}`, idx(0));
  const stores = k.innerStores.map((s) => ({ buf: s.buf, at: substitute(s.at, vars), value: substitute(s.value, vars) }));
  const flatKey = exprKey(flat);
  // Buffers every access of which is at the thread's own position can move as float4.
  const { vecIn, vecStores } = ownPositionAccess(stores, k.bufs, flatKey);
  const vec = N % 4 === 0 && N >= 4 * POINTWISE_THREADS && (vecIn.size > 0 || vecStores);
  const counter = { n: 0 };
  const lines = [kernelOpen(k.bufs)];
  const units = vec ? N / 4 : N;
  lines.push(`  for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < ${units}LL; j += (int64_t)gridDim.x * blockDim.x) {`);
  if (!vec) {
    const s = new Scope(dialect, counter, undefined, '    ');
    const body = stores.map((st) => `    ${storeStmt(st.buf, s.emit(st.at), s.emit(st.value), k.bufs[st.buf]!.dtype)}`);
    lines.push('    const int64_t i = j;', ...s.lines, ...body);
  } else {
    for (const b of vecIn) lines.push(`    const ${vecType(k.bufs[b]!.dtype)} v${b} = reinterpret_cast<const ${vecType(k.bufs[b]!.dtype)}*>(b${b})[j];`);
    const laneValues: string[][] = stores.map(() => []);
    for (let lane = 0; lane < 4; lane++) {
      const s = new Scope(dialect, counter, undefined, '      ');
      const laneVars = new Map([['i', iadd(imul(loopVar('j', units), 4), idx(lane))]]);
      const body: string[] = [];
      stores.forEach((st, si) => {
        const value = substitute(vectorizeLoads(st.value, flatKey, lane, vecIn), laneVars);
        const v = s.emit(value);
        if (vecStores) laneValues[si]!.push(v);
        else body.push(`      ${storeStmt(st.buf, s.emit(substitute(st.at, laneVars)), v, k.bufs[st.buf]!.dtype)}`);
      });
      if (vecStores) {
        const decls = stores.map((st, si) => `${cType(k.bufs[st.buf]!.dtype)} r${si}_${lane};`);
        lines.push(`    ${decls.join(' ')}`);
        lines.push('    {', ...s.lines, ...laneValues.map((lv, si) => `      r${si}_${lane} = ${lv[lane]};`), '    }');
      } else lines.push('    {', ...s.lines, ...body, '    }');
    }
    if (vecStores) {
      stores.forEach((st, si) => {
        const vt = vecType(k.bufs[st.buf]!.dtype)!;
        const ctor = vt === 'float4' ? 'make_float4' : 'make_int4';
        lines.push(`    reinterpret_cast<${vt}*>(b${st.buf})[j] = ${ctor}(r${si}_0, r${si}_1, r${si}_2, r${si}_3);`);
      });
    }
  }
  lines.push('  }', '}');
  const blocks = Math.max(1, Math.min(Math.ceil(units / POINTWISE_THREADS), MAX_BLOCKS));
  return { source: lines.join('\n') + '\n', meta: { params: k.bufs.length, launch: { grid: [blocks, 1, 1], block: [POINTWISE_THREADS, 1, 1], shared: 0 } } };
}

function reduction(k: LoopKernel & { sym?: KernelSyms }): CudaGenerated {
  const sym = k.sym;
  // A symbolic kernel is one block (or a few warps) per row whatever its sizes: the split,
  // column and thread-per-row orders are chosen by size.
  if (!sym) {
    const splits = splitsFor(k);
    if (splits > 1) return splitReduction(k, splits);
    if (isColumnReduction(k)) return columnReduction(k);
    if (isThreadReduction(k)) return threadReduction(k);
  }
  const outerDims = sym?.outer ?? k.outer;
  const innerDims = sym?.inner ?? k.inner;
  const rowsSym = sym ? symNumel(outerDims) : undefined;
  const lenSym = sym ? symNumel(innerDims) : undefined;
  const rows = numel(k.outer);
  const R = numel(k.inner);
  // A row of symbolic length: threads per row and rows per block are chosen per call
  // (sym_launch.ts rowThreads) and read from blockDim. Traced at a row of at most SYM_ROW_MAX
  // points, each thread holds at most SYM_ROW_POINTS of them in registers, so longer rows fail
  // the guard and specialise; traced at a longer one, the kernel reads the row from memory in
  // every phase (no registers, float sums blocked), right for every length.
  const perCall = lenSym !== undefined && !lenSym.isConstant;
  const longRows = perCall && R > SYM_ROW_MAX;
  if (perCall && !longRows) recordGuard(lenSym, 'le', SYM_ROW_MAX, `rows of a symbolic length up to ${SYM_ROW_MAX} take one block`);
  const { tpr: tprN, rpb: rpbN } = rowThreads(R);
  const tpr = perCall ? 'tpr' : tprN;
  const rpb = perCall ? 'blockDim.y' : rpbN;
  const warps = tprN / 32;
  const rowsC = rowsSym && !rowsSym.isConstant ? rowsSym.toC(symCName) : `${rows}LL`;
  const lastRowC = rowsSym && !rowsSym.isConstant ? `${rowsC} - 1` : `${Math.max(rows - 1, 0)}LL`;
  const RC = perCall ? lenSym.toC(symCName) : `${R}LL`;
  const rowVar = rowsSym ? loopVarDim('row', rowsSym) : loopVar('row', Math.max(rows, 1));
  const rVar = lenSym ? loopVarDim('r', lenSym) : loopVar('r', Math.max(R, 1));
  const opoint = unflatten(rowVar, outerDims);
  const ipoint = unflatten(rVar, innerDims);
  const vars = new Map<string, Expr>();
  k.outer.forEach((_, d) => vars.set(`o${d}`, opoint[d]!));
  k.inner.forEach((_, d) => vars.set(`r${d}`, ipoint[d]!));
  // Over symbolic sizes the row's own positions are read and written through row and r
  // directly: the unflattened point flattened again keeps its divisions by symbolic sizes.
  const own = sym
    ? ownPositions([
        [flatten([...outerDims.map((d, i) => loopVarDim(`o${i}`, d)), ...innerDims.map((d, i) => loopVarDim(`r${i}`, d))], [...outerDims, ...innerDims]), iadd(imulDim(rowVar, lenSym!), rVar)],
        [flatten(outerDims.map((d, i) => loopVarDim(`o${i}`, d)), outerDims), rowVar],
        [flatten(innerDims.map((d, i) => loopVarDim(`r${i}`, d)), innerDims), rVar],
      ])
    : undefined;
  /** An expression of the kernel's point variables at this thread's row and r. */
  const pointAt = (e: Expr, v: ReadonlyMap<string, Expr>): Expr => substitute(own ? own(e) : e, v);
  const counter = { n: 0 };
  const lines = [kernelOpen(k.bufs, [], sym?.sizes)];
  if (perCall) lines.push('  const int tpr = blockDim.x;');
  // Rows past the end compute on the last row (so every address is valid and every thread
  // joins the shuffles and barriers) but store nothing.
  lines.push(`  const int64_t rowRaw = (int64_t)blockIdx.x * ${rpb} + threadIdx.y;`);
  lines.push(`  const bool active = rowRaw < ${rowsC};`);
  lines.push(`  const int64_t row = active ? rowRaw : ${lastRowC};`);
  const outer = new Scope(dialect, counter, undefined, '  ');
  // Persistent rows (Inductor's persistent reduction): when a thread covers at most 16 points
  // of its row, every value it reads at its points is loaded once into registers, and every
  // phase (max, sum, the final stores) reuses them: one read of the row from memory in all.
  const U = perCall ? (longRows ? Infinity : SYM_ROW_POINTS) : Math.ceil(R / tprN);
  const persistent = perCall ? !longRows : R > 0 && U <= 16;
  const cached = new Map<string, { name: string; load: Expr & { k: 'load' } }>();
  const collect = (e: Expr): void => {
    if (e.k === 'load' && varsOf(e.at).has('r')) {
      if (!cached.has(exprKey(e))) cached.set(exprKey(e), { name: `P${cached.size}`, load: e });
      return;
    }
    // A lazy branch's loads may be out of bounds when not taken: never preload them.
    for (const c of e.k === 'where' && e.lazy ? [e.c] : children(e)) collect(c);
  };
  const fromRegisters = (e: Expr): Expr => {
    const c = e.k === 'load' ? cached.get(exprKey(e)) : undefined;
    return c ? reg(`${c.name}[u]`, c.load.dt) : mapChildren(e, fromRegisters);
  };
  const point = (e: Expr): Expr => (persistent ? fromRegisters(pointAt(e, vars)) : pointAt(e, vars));
  if (persistent) {
    for (const red of k.reductions) collect(pointAt(red.value, vars));
    for (const st of k.innerStores) {
      collect(pointAt(st.value, vars));
      collect(pointAt(st.at, vars));
    }
  }
  // 128-bit preloads: when every preloaded value is a float32 read at the row's own flat
  // position (row·R + r, or r for a per-column vector such as layer norm's weight) and the
  // row splits into whole float4s per thread, thread t takes points 4t…4t+3 of each span of
  // 4·tpr, and one float4 load brings four of them (4× fewer load instructions).
  const rowFlat = exprKey(iadd(imul(rowVar, R), rVar));
  const vecForm = (c: { load: Expr & { k: 'load' } }): 'row' | 'col' | undefined =>
    k.bufs[c.load.buf]!.dtype !== 'float32' ? undefined : exprKey(c.load.at) === rowFlat ? 'row' : exprKey(c.load.at) === exprKey(rVar) ? 'col' : undefined;
  const vec = !perCall && persistent && cached.size > 0 && R % (4 * tprN) === 0 && [...cached.values()].every((c) => vecForm(c) !== undefined);
  /** Lines of a loop over this thread's points of the row, with `body` inside. */
  const innerLoop = (guard: string, body: (s: Scope) => string[]): string[] => {
    const sc = outer.child('      ');
    const inside = body(sc);
    if (!persistent) return [`  ${guard ? `if (${guard.replace(/ && $/, '')}) ` : ''}for (int64_t r = threadIdx.x; r < ${RC}; r += ${tpr}) {`, ...sc.lines, ...inside, '  }'];
    const r = vec ? `(((int64_t)threadIdx.x + (int64_t)(u >> 2) * ${tpr}) << 2) + (u & 3)` : `threadIdx.x + (int64_t)u * ${tpr}`;
    return ['  #pragma unroll', `  for (int u = 0; u < ${U}; u++) {`, `    const int64_t r = ${r};`, `    if (${guard}r < ${RC}) {`, ...sc.lines, ...inside, '    }', '  }'];
  };
  /** float4 stores at the row's flat position, four points of this thread at a time (vec only). */
  const vectorStores = (stores: readonly Store[], value: (sc: Scope, st: Store) => string): string[] => {
    const out = ['  #pragma unroll', `  for (int v = 0; v < ${U / 4}; v++) {`];
    stores.forEach((_, si) => out.push(`    float s${si}[4];`));
    for (let lane = 0; lane < 4; lane++) {
      const sc = outer.child('      ');
      const vals = stores.map((st) => value(sc, st));
      out.push('    {', `      const int u = 4 * v + ${lane};`, `      const int64_t r = (((int64_t)threadIdx.x + (int64_t)v * ${tpr}) << 2) + ${lane};`, ...sc.lines, ...vals.map((x, si) => `      s${si}[${lane}] = ${x};`), '    }');
    }
    out.push(`    const int64_t r4 = ((int64_t)threadIdx.x + (int64_t)v * ${tpr}) * 4;`);
    stores.forEach((st, si) => out.push(`    if (active) *reinterpret_cast<float4*>(b${st.buf} + row * ${R}LL + r4) = make_float4(s${si}[0], s${si}[1], s${si}[2], s${si}[3]);`));
    out.push('  }');
    return out;
  };
  if (persistent) {
    for (const c of cached.values()) lines.push(`  ${cType(c.load.dt)} ${c.name}[${U}];`);
    if (vec) {
      lines.push('  #pragma unroll', `  for (int v = 0; v < ${U / 4}; v++) {`, `    const int64_t r4 = ((int64_t)threadIdx.x + (int64_t)v * ${tpr}) * 4;`);
      for (const c of cached.values()) {
        const at = vecForm(c) === 'row' ? `row * ${R}LL + r4` : 'r4';
        lines.push(`    { const float4 q = *reinterpret_cast<const float4*>(b${c.load.buf} + ${at}); ${LANES.map((l, i) => `${c.name}[4 * v + ${i}] = q.${l};`).join(' ')} }`);
      }
      lines.push('  }');
    } else if (cached.size) {
      lines.push(...innerLoop('', (sc) => [...cached.values()].map((c) => `      ${c.name}[u] = ${sc.emit(c.load)};`)));
    }
  }
  for (const red of k.reductions) {
    lines.push(...accInitLines([red], '  ', true));
    lines.push(...outer.lines.splice(0));
    if (!persistent && blockedSum(red) && U > SUM_BLOCK) {
      // A thread takes more than SUM_BLOCK points of a float32 sum: block partials (reduce_ops.ts).
      const sc = outer.child('      ');
      const v = `(${partialType(red)})${sc.emit(point(red.value))}`;
      lines.push(...threadLoop([red], 'threadIdx.x', RC, tpr, U, sc.lines, [v], '  '));
    } else lines.push(...innerLoop('', (sc) => [`      ${accumulate(red, `(${partialType(red)})${sc.emit(point(red.value))}`, 'r')}`]));
    // Warp reduction, then across warps through shared memory; the result reaches every thread.
    lines.push(...(perCall ? blockReduceLinesPerCall(red) : blockReduceLines(red, warps, rpbN)), finishLine(red));
  }
  const outerStores = k.outerStores.map((st: Store) => ({ at: outer.emit(pointAt(st.at, vars)), value: outer.emit(pointAt(st.value, vars)), buf: st.buf }));
  if (outerStores.length) {
    lines.push(...outer.lines.splice(0), '  if (active && threadIdx.x == 0) {', ...outerStores.map((st) => `    ${storeStmt(st.buf, st.at, st.value, k.bufs[st.buf]!.dtype)}`), '  }');
  }
  if (k.innerStores.length) {
    // Invariance is judged before loads become register reads (which no longer mention r).
    const storeValue = (e: Expr): Expr => {
      const v = pointAt(e, vars);
      const h = divisionsByRowInvariants(v, outer);
      return persistent ? fromRegisters(h) : h;
    };
    lines.push(...outer.lines.splice(0));
    const vecStores = vec && k.innerStores.every((st) => k.bufs[st.buf]!.dtype === 'float32' && exprKey(pointAt(st.at, vars)) === rowFlat);
    const body = vecStores
      ? vectorStores(k.innerStores, (sc, st) => sc.emit(storeValue(st.value)))
      : innerLoop('active && ', (sc) => k.innerStores.map((st) => `      ${storeStmt(st.buf, sc.emit(pointAt(st.at, vars)), sc.emit(storeValue(st.value)), k.bufs[st.buf]!.dtype)}`));
    lines.push(...outer.lines.splice(0), ...body);
  }
  lines.push('}');
  const source = lines.join('\n') + '\n';
  if (sym) {
    // Grid x: ceil(rows / rows per block), per call (rows per block too, for a row of symbolic length).
    const grid: CudaSymMeta['grid'] = [{ units: rowsSym!.toJSON(), per: perCall ? 1 : rpbN }, 1, 1];
    const launch = { grid: [0, 0, 0] as [number, number, number], block: (perCall ? [0, 0, 0] : [tprN, rpbN, 1]) as [number, number, number], shared: 0 };
    return { source, meta: { params: k.bufs.length, launch, sym: { sizes: sym.sizes, grid, ...(perCall ? { rowLength: lenSym.toJSON() } : {}) } } };
  }
  // No rows: nothing to launch (grid 0 tells the runtime to skip it).
  const blocks = rows === 0 ? 0 : Math.ceil(rows / rpbN);
  return { source, meta: { params: k.bufs.length, launch: { grid: [blocks, 1, 1], block: [tprN, rpbN, 1], shared: 0 } } };
}

/**
 * a / b with b the same for the whole row (a reduction's result, say softmax's sum) becomes
 * a * (1 / b), the reciprocal computed once per row in the outer scope: a float division is
 * a multi-instruction subroutine, and softmax's store phase runs one per element.
 */
function divisionsByRowInvariants(e: Expr, outer: Scope): Expr {
  if (e.k === 'bin' && e.op === 'div' && e.dt === 'float32' && e.b.k !== 'const' && !varsOf(e.b).has('r')) {
    const inv: Expr = { k: 'bin', op: 'div', a: cst(1, 'float32'), b: e.b, dt: 'float32' };
    outer.emit(inv);
    return { k: 'bin', op: 'mul', a: divisionsByRowInvariants(e.a, outer), b: inv, dt: 'float32' };
  }
  return mapChildren(e, (c) => divisionsByRowInvariants(c, outer));
}

function scan(k: ScanKernel & { sym?: KernelSyms }): CudaGenerated {
  const sym = k.sym;
  const n = scanLength(k);
  // A row of symbolic length takes a block, its threads chosen per call (block_scan.ts).
  if (n === undefined || n >= BLOCK_SCAN_MIN) return blockScan(k);
  const rows = numel(k.outer);
  const rowsSym = sym ? symNumel(sym.outer ?? k.outer) : undefined;
  const rowsC = rowsSym ? rowsSym.toC(symCName) : `${rows}LL`;
  const vars = rowsSym ? new Map(unflatten(loopVarDim('row', rowsSym), sym!.outer ?? k.outer).map((e, d) => [`o${d}`, e] as [string, Expr])) : flatOutputVars(k.outer);
  vars.set('r0', loopVar('rr', n));
  const counter = { n: 0 };
  const t = cType(k.dtype);
  const lines = [kernelOpen(k.bufs, [], sym?.sizes)];
  lines.push(`  const int64_t row = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;`, `  if (row >= ${rowsC}) return;`, `  ${t} run = 0;`);
  lines.push(`  for (int64_t step = 0; step < ${n}LL; step++) {`, `    const int64_t rr = ${k.reverse ? `${n - 1}LL - step` : 'step'};`);
  const s = new Scope(dialect, counter, undefined, '    ');
  const v = s.emit(substitute(k.value, vars));
  const at = s.emit(substitute(k.out.at, vars));
  const store = storeStmt(k.out.buf, at, 'run', k.bufs[k.out.buf]!.dtype);
  lines.push(...s.lines, k.exclusive ? `    ${store} run += ${v};` : `    run += ${v}; ${store}`, '  }', '}');
  const source = lines.join('\n') + '\n';
  if (rowsSym) return { source, meta: { params: k.bufs.length, launch: { grid: [0, 0, 0], block: [128, 1, 1], shared: 0 }, sym: { sizes: sym!.sizes, grid: [{ units: rowsSym.toJSON(), per: 128 }, 1, 1] } } };
  return { source, meta: { params: k.bufs.length, launch: { grid: [Math.max(1, Math.ceil(rows / 128)), 1, 1], block: [128, 1, 1], shared: 0 } } };
}

/**
 * A scatter's update phase (lower/scatter.ts says why it is ordered, not atomic): one thread
 * per lane point (neighbouring threads take neighbouring trailing lanes, so the reads of the
 * updates and the writes coalesce), each walking the serial dims in update order. No two
 * threads touch one element, so plain loads and stores suffice for every dtype and reduction;
 * the copy of the data into the output was the previous launch on the same stream.
 */
function scatter(k: ScatterKernel): CudaGenerated {
  const lanes = numel(k.outer);
  const point = unflatten(loopVar('l', Math.max(lanes, 1)), k.outer);
  const vars = new Map(k.outer.map((_, d) => [`o${d}`, point[d]!] as [string, Expr]));
  const lines = [kernelOpen(k.bufs)];
  lines.push(`  for (int64_t l = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; l < ${lanes}LL; l += (int64_t)gridDim.x * blockDim.x) {`);
  let ind = '    ';
  k.inner.forEach((n, i) => {
    lines.push(n === 1 ? `${ind}{ const int64_t r${i} = 0;` : `${ind}for (int64_t r${i} = 0; r${i} < ${n}LL; r${i}++) {`);
    ind += '  ';
  });
  const s = new Scope(dialect, { n: 0 }, undefined, ind);
  const valid = s.emit(substitute(k.valid, vars));
  const inside = s.child(`${ind}  `);
  const at = inside.emit(substitute(k.store.at, vars));
  const v = inside.emit(substitute(k.store.value, vars));
  lines.push(...s.lines, `${ind}if (${valid}) {`, ...inside.lines, `${ind}  ${storeStmt(k.store.buf, at, v, k.bufs[k.store.buf]!.dtype)}`, `${ind}}`);
  for (let i = k.inner.length - 1; i >= 0; i--) lines.push(`    ${'  '.repeat(i)}}`);
  lines.push('  }', '}');
  // No lanes: nothing to launch (grid 0 tells the runtime to skip it).
  const blocks = lanes === 0 ? 0 : Math.min(Math.ceil(lanes / POINTWISE_THREADS), MAX_BLOCKS);
  return { source: lines.join('\n') + '\n', meta: { params: k.bufs.length, launch: { grid: [blocks, 1, 1], block: [POINTWISE_THREADS, 1, 1], shared: 0 } } };
}

function operandLayout(o: MatmulKernel['a'], rows: number, cols: number): { ld: number; trans: boolean } | undefined {
  if (o.colStride === 1 && (o.rowStride >= cols || rows === 1)) return { ld: Math.max(o.rowStride, cols), trans: false };
  if (o.rowStride === 1 && (o.colStride >= rows || cols === 1)) return { ld: Math.max(o.colStride, rows), trans: true };
  return undefined;
}

/** float32 only: float64, int and half products take the generated GEMM (which widens half operands to float). */
function cublasEligible(k: MatmulKernel): boolean {
  return k.dtype === 'float32' && gemmMeta(k) !== undefined;
}

function gemmMeta(k: MatmulKernel): GemmMeta | undefined {
  // An implicit operand (a conv's window view) has no strides for cuBLAS: the generated GEMM.
  if (isImplicit(k.b)) return undefined;
  const kb = k.b;
  const la = operandLayout(k.a, k.M, k.K);
  const lb = operandLayout(kb, k.K, k.N);
  const ba = linearBatch(k.a.offset, k.batch);
  const bb = linearBatch(kb.offset, k.batch);
  if (!la || !lb || !ba || !bb) return undefined;
  let batch = numel(k.batch);
  let M = k.M;
  // A broadcast B over a batch of row-contiguous A matrices is one taller GEMM ([b·M, K] @ [K, N]).
  if (batch > 1 && bb.stride === 0 && !la.trans && ba.stride === k.M * la.ld) {
    M *= batch;
    batch = 1;
  }
  // A zero batch stride left over gave wrong results through cuBLAS on an H100 (2026-11-25):
  // such products take the generated kernel.
  if (batch > 1 && (ba.stride === 0 || bb.stride === 0)) return undefined;
  return {
    batch, M, N: k.N, K: k.K,
    a: { param: k.a.buf, offset: ba.base, ld: la.ld, trans: la.trans, batchStride: ba.stride },
    b: { param: kb.buf, offset: bb.base, ld: lb.ld, trans: lb.trans, batchStride: bb.stride },
  };
}

/** cuBLAS computes A·B into a scratch buffer (the last parameter); this kernel applies the epilogue. */
function cublasEpilogue(k: MatmulKernel): CudaGenerated {
  const shape = [...k.batch, k.M, k.N];
  const scratch = k.bufs.length;
  const bufs: KernelBuf[] = [...k.bufs, { dtype: 'float32', numel: numel(shape), role: 'in' }];
  // The epilogue's point vars are o0..o{rank-1}; acc0 is the product at that point.
  const flat = shape.reduce<Expr>((acc, n, d) => (n === 1 ? acc : iadd(imul(acc, n), loopVar(`o${d}`, n))), idx(0));
  const accLoad: Expr = { k: 'load', buf: scratch, at: flat, dt: 'float32' };
  const replaceAcc = (e: Expr): Expr => (e.k === 'acc' ? accLoad : mapChildren(e, replaceAcc));
  const pw: LoopKernel = {
    kind: 'loops', bufs, outer: shape, inner: [], reductions: [], outerStores: [],
    innerStores: k.epilogue.map((s) => ({ buf: s.buf, at: s.at, value: replaceAcc(s.value) })),
  };
  const g = pointwise(pw);
  const only = k.epilogue.length === 1 ? k.epilogue[0]! : undefined;
  const direct = only && only.value.k === 'acc' && exprKey(only.at) === exprKey(flat) ? { direct: only.buf } : {};
  return { source: g.source, meta: { ...g.meta, params: k.bufs.length, gemm: { ...gemmMeta(k)!, ...direct } } };
}

/**
 * Generated GEMM (no cuBLAS, or strides cuBLAS cannot express): 64×64 output tiles, 16-deep
 * K slices staged in shared memory, 256 threads each computing 4×4 outputs, epilogue fused.
 */
function tiledGemm(k: MatmulKernel & { sym?: KernelSyms }): CudaGenerated {
  // Half operands are widened as the tiles are staged: shared tiles and accumulators are
  // float. Narrow integers accumulate in uint32_t (wrapping by definition), narrowed at acc0.
  const t = wideAccType(k.dtype) ?? cType(k.dtype);
  const aDt = k.bufs[k.a.buf]!.dtype;
  const implicitB = isImplicit(k.b) ? k.b : undefined;
  const sb = isImplicit(k.b) ? undefined : k.b;
  const bDt = sb ? k.bufs[sb.buf]!.dtype : k.dtype;
  const BM = 64, BN = 64, BK = 16;
  const sym = k.sym;
  // Over symbolic sizes: M, N, K, the batch and the strides are the kernel's size arguments
  // (C text of their formulas; a static one is its number as before), the grid is per call.
  const text = (d: Dim | undefined, n: number, suffix = '') => (d === undefined || typeof d === 'number' ? `${n}${suffix}` : `(${d.toC(symCName)})`);
  const [Mt, Nt, Kt] = [text(sym?.M, k.M), text(sym?.N, k.N), text(sym?.K, k.K)];
  const KLL = text(sym?.K, k.K, 'LL');
  const [aRow, aCol] = [text(sym?.aStrides?.[0], k.a.rowStride, 'LL'), text(sym?.aStrides?.[1], k.a.colStride, 'LL')];
  const [bRow, bCol] = sb ? [text(sym?.bStrides?.[0], sb.rowStride, 'LL'), text(sym?.bStrides?.[1], sb.colStride, 'LL')] : ['', ''];
  const batchDims = sym?.batch ?? k.batch;
  const counter = { n: 0 };
  const bvars = k.batch.map((_, d) => `o${d}`);
  const zVar = sym ? loopVarDim('z', symNumel(batchDims)) : loopVar('z', Math.max(numel(k.batch), 1));
  const bpoint = unflatten(zVar, batchDims);
  const vars = new Map<string, Expr>(bvars.map((v, d) => [v, bpoint[d]!] as [string, Expr]));
  const nb = k.batch.length;
  const lines = [kernelOpen(k.bufs, [], sym?.sizes)];
  lines.push(`  __shared__ ${t} As[${BK}][${BM}];`, `  __shared__ ${t} Bs[${BK}][${BN}];`);
  // z (the batch index) only where there is a batch: an unused one is a compiler warning in
  // every kernel's log, and logs travel in every warm-start bundle.
  if (nb > 0) lines.push('  const int64_t z = blockIdx.z;');
  lines.push(`  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;`);
  lines.push(`  const int64_t m0 = (int64_t)blockIdx.y * ${BM}, n0 = (int64_t)blockIdx.x * ${BN};`);
  const s = new Scope(dialect, counter, undefined, '  ');
  const aOff = s.emit(substitute(k.a.offset, vars));
  const bOff = sb ? s.emit(substitute(sb.offset, vars)) : '';
  lines.push(...s.lines.splice(0));
  lines.push(`  const ${cStorageType(aDt)}* A = b${k.a.buf} + ${aOff};`);
  if (sb) lines.push(`  const ${cStorageType(bDt)}* B = b${sb.buf} + ${bOff};`);
  lines.push(`  ${t} c[4][4];`, '  for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) c[i][j] = 0;');
  if (implicitB) {
    // Each thread stages the same tile column (nn = threadIdx.x % BN) of every K slice: what
    // depends only on the column (a conv's output position and its divisions) once per thread.
    lines.push(`  const int nn = threadIdx.x % ${BN};`, '  const int64_t r1 = n0 + nn;');
    emitInvariants(s, substitute(implicitB.value, vars), new Set(['z', 'r1']));
    lines.push(...s.lines.splice(0));
  }
  lines.push(`  for (int64_t p0 = 0; p0 < ${KLL}; p0 += ${BK}) {`);
  lines.push(`    for (int e = threadIdx.x; e < ${BK * BM}; e += 256) { const int kk = e / ${BM}, mm = e % ${BM}; const int64_t gm = m0 + mm, gk = p0 + kk; As[kk][mm] = (gm < ${Mt} && gk < ${Kt}) ? ${loadValue(`A[gm * ${aRow} + gk * ${aCol}]`, aDt)} : (${t})0; }`);
  if (sb) {
    lines.push(`    for (int e = threadIdx.x; e < ${BK * BN}; e += 256) { const int kk = e / ${BN}, nn = e % ${BN}; const int64_t gn = n0 + nn, gk = p0 + kk; Bs[kk][nn] = (gn < ${Nt} && gk < ${Kt}) ? ${loadValue(`B[gk * ${bRow} + gn * ${bCol}]`, bDt)} : (${t})0; }`);
  } else {
    // An implicit B (a conv's window view): the tile is staged from its index expression at
    // row r0, column r1 (neighbouring threads take neighbouring columns: output positions).
    lines.push(`    for (int kk = threadIdx.x / ${BN}; kk < ${BK}; kk += ${256 / BN}) {`, '      const int64_t r0 = p0 + kk;');
    const bs = s.child('        ');
    const v = bs.emit(substitute(implicitB!.value, vars));
    lines.push(`      if (r1 < ${Nt} && r0 < ${Kt}) {`, ...bs.lines, `        Bs[kk][nn] = (${t})${v};`, `      } else Bs[kk][nn] = (${t})0;`, '    }');
  }
  lines.push('    __syncthreads();');
  lines.push(`    #pragma unroll`, `    for (int kk = 0; kk < ${BK}; kk++) {`);
  lines.push(`      ${t} a[4], b[4];`, '      for (int i = 0; i < 4; i++) { a[i] = As[kk][ty * 4 + i]; b[i] = Bs[kk][tx * 4 + i]; }');
  lines.push('      for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) c[i][j] += a[i] * b[j];', '    }');
  lines.push('    __syncthreads();', '  }');
  lines.push('  for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) {');
  lines.push(`    const int64_t o${nb} = m0 + ty * 4 + i, o${nb + 1} = n0 + tx * 4 + j;`);
  lines.push(`    if (o${nb} >= ${Mt} || o${nb + 1} >= ${Nt}) continue;`);
  lines.push(`    const ${cType(k.dtype)} acc0 = ${narrowAcc('c[i][j]', k.dtype)};`);
  const es = s.child('    ');
  const stores = k.epilogue.map((st) => `    ${storeStmt(st.buf, es.emit(substitute(st.at, vars)), es.emit(substitute(st.value, vars)), k.bufs[st.buf]!.dtype)}`);
  lines.push(...es.lines, ...stores, '  }', '}');
  const source = lines.join('\n') + '\n';
  if (sym) {
    const [M, N, count] = [SymInt.of(sym.M ?? k.M), SymInt.of(sym.N ?? k.N), symNumel(batchDims)];
    recordGuard(M, 'le', 65535 * BM, 'the generated GEMM puts row tiles on grid y (at most 65535)');
    recordGuard(count, 'le', 65535, 'the generated GEMM puts the batch on grid z (at most 65535)');
    const grid: CudaSymMeta['grid'] = [{ units: N.toJSON(), per: BN }, { units: M.toJSON(), per: BM }, { units: count.toJSON(), per: 1 }];
    return { source, meta: { params: k.bufs.length, launch: { grid: [0, 0, 0], block: [256, 1, 1], shared: 0 }, sym: { sizes: sym.sizes, grid } } };
  }
  const grid: [number, number, number] = [Math.ceil(k.N / BN), Math.ceil(k.M / BM), Math.max(1, numel(k.batch))];
  return { source, meta: { params: k.bufs.length, launch: { grid, block: [256, 1, 1], shared: 0 } } };
}

