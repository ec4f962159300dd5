// The GEMM of many rows (M > 8) with float32 A and float accumulators: a register-blocked tile
// written with the target's vector type and explicit FMA, B packed per call into panels that
// each thread owns.
//
// - The tile: MR rows × NR = NV·VL columns of C held in MR·NV vector registers for the whole K
//   loop, each step one load of NV vectors of the B panel, MR broadcasts of A and MR·NV FMAs.
//   Sized to the register file in C (the preprocessor picks it from the target -march selects):
//   AVX-512 8×48 (24 zmm accumulators, 3 for B: 27 of 32), AVX2 6×16 (12 + 2 of 16 ymm), NEON
//   8×12 (24 + 3 of 32), any other target 4×8 in GCC vector types. So the generated C is the
//   same on every machine; the machine's compiler picks the tile. The sum over K runs in order,
//   one FMA (one rounding) per multiply-add, as MLAS and BLIS do.
// - A last panel of at most VL/4 real columns (a conv's 49 = 48 + 1 positions) from a strided
//   B is packed column by column along K and each output is a dot product (kiln_gemm_dot): the
//   one-vector tile would spend MR FMAs of VL lanes a K step on those few columns, ~4-5x the
//   time at one column. An implicit B's panels are always K×NR and keep the tile.
// - Why explicit FMA: kernels build with -std=c11, under which gcc does not contract a * b + c
//   into an FMA (-ffp-contract=off); the earlier 4×32 kernel's `acc += av * b` was a multiply
//   and an add, half the FMA pipes' work per instruction.
// - B is packed per call: threads take tasks (a 48-column panel of B × a chunk of rows), each
//   thread packing the K×NR panel of its task into its own slice of a scratch buffer (kept for
//   the process, grown as needed: no page faults per call) unless its previous task had the
//   same panel, then running every MR-row tile of its rows against it. One parallel region and
//   no barrier per product (the earlier kernel forked and joined a team per 32-column panel while
//   one thread packed). Packing is K·NR copies for every MR·K·NR multiply-adds of a task.
// - Or B comes packed once (packableB: a B whose sizes, strides and offset never change): the
//   kernel takes the panels of all of B as one more argument and reads its task's panel there.
//   The runtime passes them only for a weight that cannot change (an ONNX model's initializer),
//   packed by the library's own `_packb` (the same packing loop, so the same values) the first
//   time that weight meets this kernel (backends/cpu/packed_weights.ts); anything else, such as
//   a captured array that compile(fn) must see changed between calls
//   (test/matmul_weights.test.ts), gets NULL and is packed per call as above. GPT-2's lm_head
//   ([128, 768] × [768, 50,257]) took 28% less time with its panels packed beforehand.
// - Threads split the panels when there are many (≥ 4 per thread); with fewer panels (narrow
//   N, many rows) each panel's rows are cut into chunks so every thread has work. Tasks are
//   handed out dynamically. Each output element is computed by one task in the same order
//   whatever the split, so results do not depend on the thread count or on who took what.
// - Independent products (attention heads, one B each) split across threads by batch item:
//   each item's product runs on its thread alone, in the thread's slice of the scratch.
// - A is read in place through MR row pointers (its columns contiguous; other A strides take
//   the earlier kernel), rows past M pointing at row M-1 (valid memory; never stored).

import { type KernelSyms, type MatmulKernel, type StridedOperand, isImplicit } from '../../lower/loop_ir.js';
import type { Dim } from '../../graph/sym.js';
import { packImplicitPanel } from './implicit_panel.js';
import { KERNEL_NAME_PLACEHOLDER as NAME, includeGuarded } from '../../schedule/backend.js';
import { cStorageType } from '../c_expr.js';
import { loadValue } from '../half_c.js';
import { type GemmContext, type GemmKernel, epilogue } from './gemm_context.js';
import { PACKED_B_PARAM, packedBSlot } from './kernel_text.js';

/**
 * The tile, its vector type and the packing scratch, per target. One copy per translation unit
 * (kernels of a compile group share one): the scratch is a process-lifetime buffer.
 */
export const C_GEMM_PRELUDE = `#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(__AVX512F__)
#include <immintrin.h>
#define KILN_GEMM_VL 16
#define KILN_GEMM_MR 8
#define KILN_GEMM_NV 3
typedef __m512 kiln_vf;
#define KILN_VZERO() _mm512_setzero_ps()
#define KILN_VLOAD(p) _mm512_load_ps(p)
#define KILN_VSTORE(p, v) _mm512_store_ps(p, v)
#define KILN_VFMA(c, a, b) _mm512_fmadd_ps(_mm512_set1_ps(a), b, c)
#define KILN_VLOADU(p) _mm512_loadu_ps(p)
#define KILN_VFMAV(c, a, b) _mm512_fmadd_ps(a, b, c)
#define KILN_VSUM(v) _mm512_reduce_add_ps(v)
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define KILN_GEMM_VL 8
#define KILN_GEMM_MR 6
#define KILN_GEMM_NV 2
typedef __m256 kiln_vf;
#define KILN_VZERO() _mm256_setzero_ps()
#define KILN_VLOAD(p) _mm256_load_ps(p)
#define KILN_VSTORE(p, v) _mm256_store_ps(p, v)
#define KILN_VFMA(c, a, b) _mm256_fmadd_ps(_mm256_set1_ps(a), b, c)
#define KILN_VLOADU(p) _mm256_loadu_ps(p)
#define KILN_VFMAV(c, a, b) _mm256_fmadd_ps(a, b, c)
static inline float kiln_vsum8(__m256 v) {
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q)));
}
#define KILN_VSUM(v) kiln_vsum8(v)
#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define KILN_GEMM_VL 4
#define KILN_GEMM_MR 8
#define KILN_GEMM_NV 3
typedef float32x4_t kiln_vf;
#define KILN_VZERO() vdupq_n_f32(0.0f)
#define KILN_VLOAD(p) vld1q_f32(p)
#define KILN_VSTORE(p, v) vst1q_f32(p, v)
#define KILN_VFMA(c, a, b) vfmaq_n_f32(c, b, a)
#define KILN_VLOADU(p) vld1q_f32(p)
#define KILN_VFMAV(c, a, b) vfmaq_f32(c, a, b)
#define KILN_VSUM(v) vaddvq_f32(v)
#else
#define KILN_GEMM_VL 4
#define KILN_GEMM_MR 4
#define KILN_GEMM_NV 2
typedef float kiln_vf __attribute__((vector_size(16)));
#define KILN_VZERO() ((kiln_vf){ 0.0f, 0.0f, 0.0f, 0.0f })
#define KILN_VLOAD(p) (*(const kiln_vf*)(p))
#define KILN_VSTORE(p, v) (*(kiln_vf*)(p) = (v))
#define KILN_VFMA(c, a, b) ((c) + (a) * (b))
static inline kiln_vf kiln_vloadu4(const float* p) { kiln_vf v; __builtin_memcpy(&v, p, sizeof v); return v; }
#define KILN_VLOADU(p) kiln_vloadu4(p)
#define KILN_VFMAV(c, a, b) ((c) + (a) * (b))
#define KILN_VSUM(v) ((v)[0] + (v)[1] + (v)[2] + (v)[3])
#endif
/* The widest last panel whose columns are dot products along K (kiln_gemm_dot) rather than a
   tile of one vector of columns: the tile spends MR FMAs of VL lanes a K step whatever jn is,
   the dot products jn·MR/VL, so they win while jn is well under VL. Measured on AVX-512
   (bench/RESULTS.md, "The GEMM's last few columns"): 4.1–5.2× at jn = 1, 1.9× at 4, even at 8. */
#define KILN_GEMM_DOT_COLS (KILN_GEMM_VL / 4)
#define KILN_GEMM_NR (KILN_GEMM_VL * KILN_GEMM_NV)

/* tile[r][j] = sum over p < K, in order, of a[r][p] * bp[p * NR + j] for j < nv * VL: MR rows of
   A (unit column stride), a K×NR panel of B (64-byte aligned), the MR×NR tile out (64-byte
   aligned). nv, the vectors of columns, is a constant where it is inlined. */
static inline __attribute__((always_inline)) void kiln_gemm_tile_nv(int64_t K, const float* const* a, const float* restrict bp, float* restrict tile, const int nv) {
  kiln_vf c[KILN_GEMM_MR][KILN_GEMM_NV];
  const float* restrict ar[KILN_GEMM_MR];
  #pragma GCC unroll 16
  for (int r = 0; r < KILN_GEMM_MR; r++) {
    ar[r] = a[r];
    #pragma GCC unroll 8
    for (int v = 0; v < nv; v++) c[r][v] = KILN_VZERO();
  }
  for (int64_t p = 0; p < K; p++) {
    kiln_vf b[KILN_GEMM_NV];
    #pragma GCC unroll 8
    for (int v = 0; v < nv; v++) b[v] = KILN_VLOAD(bp + p * KILN_GEMM_NR + v * KILN_GEMM_VL);
    #pragma GCC unroll 16
    for (int r = 0; r < KILN_GEMM_MR; r++) {
      const float av = ar[r][p];
      #pragma GCC unroll 8
      for (int v = 0; v < nv; v++) c[r][v] = KILN_VFMA(c[r][v], av, b[v]);
    }
  }
  #pragma GCC unroll 16
  for (int r = 0; r < KILN_GEMM_MR; r++)
    #pragma GCC unroll 8
    for (int v = 0; v < nv; v++) KILN_VSTORE(tile + r * KILN_GEMM_NR + v * KILN_GEMM_VL, c[r][v]);
}

/* The tile for a panel of jn real columns: a narrower one (fewer vectors of columns) for the
   last panel of a product whose N is not a multiple of NR (a conv's 49 or 196 positions),
   so its padding columns are not multiplied. Columns past jn in the tile are undefined. */
static inline void kiln_gemm_tile(int64_t K, const float* const* a, const float* restrict bp, float* restrict tile, int64_t jn) {
  if (jn > (KILN_GEMM_NV - 1) * KILN_GEMM_VL) kiln_gemm_tile_nv(K, a, bp, tile, KILN_GEMM_NV);
#if KILN_GEMM_NV > 2
  else if (jn > KILN_GEMM_VL) kiln_gemm_tile_nv(K, a, bp, tile, 2);
#endif
  else kiln_gemm_tile_nv(K, a, bp, tile, 1);
}

/* tile[r][j] = sum over p < K of a[r][p] * bc[j * K + p] for j < jn: the MR rows of A against jn
   columns of B each contiguous along K (packPanel's layout for a panel of jn <= DOT_COLS
   columns). Each sum is VL lane sums over p in steps of VL, added in a fixed order, then the
   last K % VL products in order: the same order whatever the threads. */
static inline void kiln_gemm_dot(int64_t K, const float* const* a, const float* restrict bc, float* restrict tile, int64_t jn) {
  const int64_t kv = K / KILN_GEMM_VL * KILN_GEMM_VL;
  for (int64_t j = 0; j < jn; j++) {
    const float* restrict b = bc + j * K;
    kiln_vf c[KILN_GEMM_MR];
    #pragma GCC unroll 16
    for (int r = 0; r < KILN_GEMM_MR; r++) c[r] = KILN_VZERO();
    for (int64_t p = 0; p < kv; p += KILN_GEMM_VL) {
      const kiln_vf bv = KILN_VLOADU(b + p);
      #pragma GCC unroll 16
      for (int r = 0; r < KILN_GEMM_MR; r++) c[r] = KILN_VFMAV(c[r], KILN_VLOADU(a[r] + p), bv);
    }
    #pragma GCC unroll 16
    for (int r = 0; r < KILN_GEMM_MR; r++) {
      float sum = KILN_VSUM(c[r]);
      for (int64_t p = kv; p < K; p++) sum = __builtin_fmaf(a[r][p], b[p], sum);
      tile[r * KILN_GEMM_NR + j] = sum;
    }
  }
}

/* A packed panel of B (packPanel's layout: columns along K for jn <= DOT_COLS, else K×NR)
   against MR rows of A. */
static inline void kiln_gemm_panel(int64_t K, const float* const* a, const float* restrict bp, float* restrict tile, int64_t jn) {
  if (jn <= KILN_GEMM_DOT_COLS) kiln_gemm_dot(K, a, bp, tile, jn);
  else kiln_gemm_tile(K, a, bp, tile, jn);
}

/* At least n floats, 64-byte aligned, kept for the process (kernels run one at a time). */
static float* kiln_gemm_scratch(int64_t n) {
  static float* buf = 0;
  static int64_t cap = 0;
  if (n > cap) {
    free(buf);
    const int64_t bytes = (n * (int64_t)sizeof(float) + 63) / 64 * 64;
    buf = (float*)aligned_alloc(64, (size_t)bytes);
    if (!buf) abort();
    cap = n;
  }
  return buf;
}

/* Threads on this call: omp_get_max_threads() for an OpenMP kernel, else one. */
static inline int kiln_gemm_threads(void) {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

static inline int kiln_gemm_thread(void) {
#if defined(_OPENMP)
  return omp_get_thread_num();
#else
  return 0;
#endif
}
`;

/** Panels per thread, at least, before threads split a panel's rows instead. */
const PANELS_PER_THREAD = 4;

/**
 * Whether `k` takes the tiled kernel: float accumulators, float32 A with contiguous columns, B
 * strided or implicit (a conv's window view, each panel packed from its index expression).
 */
export function tiledGemmApplies(k: MatmulKernel, t: string): boolean {
  const aDt = k.bufs[k.a.buf]!.dtype;
  return t === 'float' && cStorageType(aDt) === 'float' && k.a.colStride === 1;
}

/** The B panel's packing loop for the panel at column jb (jn real columns, zeros after); `K` and the strides their C text. */
function packPanel(k: MatmulKernel, b: StridedOperand, K: string, strides: { bRow: string; bCol: string }, ind: string): string[] {
  const bDt = k.bufs[b.buf]!.dtype;
  const at = (p: string, j: string) => loadValue(`B[${p} * ${strides.bRow} + (jb + ${j}) * ${strides.bCol}]`, bDt);
  const NR = 'KILN_GEMM_NR';
  // A last panel of a few columns: each column contiguous along K, for kiln_gemm_dot (within
  // the panel's K×NR floats; the floats past jn·K are not read).
  const dotColumns = [
    `${ind}if (jn <= KILN_GEMM_DOT_COLS) {`,
    `${ind}  for (int64_t j = 0; j < jn; j++) for (int64_t p = 0; p < ${K}; p++) Bp[j * ${K} + p] = ${at('p', 'j')};`,
    `${ind}} else`,
  ];
  if (b.rowStride === 1 && b.colStride !== 1) {
    // A transposed B (Gemm transB = 1): each panel column is a contiguous row of the weight, read in order.
    return [
      ...dotColumns,
      `${ind}for (int64_t j = 0; j < ${NR}; j++) {`,
      `${ind}  if (j < jn) for (int64_t p = 0; p < ${K}; p++) Bp[p * ${NR} + j] = ${at('p', 'j')};`,
      `${ind}  else for (int64_t p = 0; p < ${K}; p++) Bp[p * ${NR} + j] = 0.0f;`,
      `${ind}}`,
    ];
  }
  return [
    ...dotColumns,
    `${ind}for (int64_t p = 0; p < ${K}; p++) {`,
    `${ind}  float* restrict row = Bp + p * ${NR};`,
    `${ind}  if (jn == ${NR}) for (int64_t j = 0; j < ${NR}; j++) row[j] = ${at('p', 'j')};`,
    `${ind}  else for (int64_t j = 0; j < ${NR}; j++) row[j] = j < jn ? ${at('p', 'j')} : 0.0f;`,
    `${ind}}`,
  ];
}

/** A size that is the same in every call: static, or a symbolic dim that is a constant. */
const fixedDim = (d: Dim | undefined) => d === undefined || typeof d === 'number' || d.isConstant;

/**
 * Whether the tile of `k` may read its B packed once: a strided B whose sizes (K, N), strides
 * and offset are the same in every call and every batch item (a weight, broadcast over a
 * batch), so one set of panels serves every call; M may be anything (the panels hold no rows).
 */
export function packableB(k: MatmulKernel & { sym?: KernelSyms }): k is MatmulKernel & { b: StridedOperand } {
  const s = k.sym;
  if (isImplicit(k.b) || k.b.offset.k !== 'const') return false;
  return !s || (fixedDim(s.N) && fixedDim(s.K) && (s.bStrides ?? []).every(fixedDim));
}

/**
 * The library's functions that pack a weight's B once, for the runtime
 * (backends/cpu/packed_weights.ts): `<name>_packed_floats()` says how many floats the panels of
 * all of B take on this target (NR is the preprocessor's), `<name>_packb(args)` packs B (read
 * from the kernel's own block) into the panels at the block's packed-B slot, each panel as the
 * per-call path packs it (packPanel), at jb·K: the panel of columns jb.
 */
function packedBFunctions(k: MatmulKernel & { b: StridedOperand }, strides: { bRow: string; bCol: string }): string[] {
  const bT = cStorageType(k.bufs[k.b.buf]!.dtype);
  const K = String(k.K);
  const panels = `((${k.N} + KILN_GEMM_NR - 1) / KILN_GEMM_NR)`;
  return [
    `int64_t ${NAME}_packed_floats(void) { return (int64_t)${panels} * ${K} * KILN_GEMM_NR; }`,
    `void ${NAME}_packb(void *const *args) {`,
    `  const ${bT}* restrict B = (const ${bT}*)args[${k.b.buf}] + ${k.b.offset.k === 'const' ? k.b.offset.v : 0};`,
    `  float* restrict panels = (float*)args[${packedBSlot(k)}];`,
    // On the kernel's threads where it has them (once per weight: no per-call rule to follow).
    '#if defined(_OPENMP)',
    '  #pragma omp parallel for schedule(dynamic, 1)',
    '#endif',
    `  for (int64_t jb = 0; jb < ${k.N}; jb += KILN_GEMM_NR) {`,
    `    const int64_t jn = ${k.N} - jb < KILN_GEMM_NR ? ${k.N} - jb : KILN_GEMM_NR;`,
    `    float* restrict Bp = panels + jb * ${K};`,
    ...packPanel(k, k.b, K, { bRow: strides.bRow, bCol: strides.bCol }, '    '),
    '  }',
    '}',
  ];
}

/** One thread's panel: K×NR floats, K's C text (at least 1: a symbolic K's guard refuses 0, a static K of 0 stores zeros). */
function panelFloats(k: MatmulKernel, kText: string | undefined): string {
  return `${kText ? `(${kText} > 0 ? ${kText} : 1)` : Math.max(k.K, 1)} * KILN_GEMM_NR`;
}

/** The packing scratch for `threads` threads of kernel `k` (`kText`: a symbolic K's C text), as the C expression's statement. */
export function tiledScratch(k: MatmulKernel, threads: string, ind: string, kText?: string): string {
  return `${ind}float* restrict scratch = kiln_gemm_scratch((int64_t)${threads} * ${panelFloats(k, kText)});`;
}

/**
 * The tiled kernel's body for one product (inside the batch loops), A and B already pointed at.
 * `inBatchTeam`: the product is one batch item of a team splitting the items (attention heads),
 * so it runs on this thread alone, in this thread's slice of a scratch made before the team.
 */
export function tiledGemmKernel(k: MatmulKernel, c: GemmContext, inBatchTeam = false): GemmKernel {
  const b = k.b;
  const { ind } = c;
  // Symbolic sizes are their C text (the size arguments' polynomials); the last row, the clamp
  // for rows past M, is written as M's. A symbolic K sizes the panels per call.
  const N = c.nText ?? String(k.N);
  const K = c.kText ?? String(k.K);
  const M = c.mText ?? String(k.M);
  const strides = c.strides;
  if (!strides) throw new Error('tiledGemmKernel: the caller gives the strides (codegen.ts matmul)');
  const mLast = c.mText ? `(${c.mText} - 1)` : String(k.M - 1);
  const MR = 'KILN_GEMM_MR';
  const NR = 'KILN_GEMM_NR';
  const L: string[] = [];
  L.push(`${ind}{`);
  const i1 = `${ind}  `;
  L.push(`${i1}const int64_t panels = (${N} + ${NR} - 1) / ${NR};`);
  L.push(`${i1}const int64_t tiles = (${M} + ${MR} - 1) / ${MR};`);
  L.push(`${i1}const int nt = ${inBatchTeam ? '1' : 'kiln_gemm_threads()'};`);
  // Few panels for the threads: each panel's rows in chunks, so that every thread has work.
  L.push(`${i1}const int64_t want = (int64_t)nt * ${PANELS_PER_THREAD};`);
  L.push(`${i1}const int64_t chunks = panels >= want ? 1 : ((want + panels - 1) / panels < tiles ? (want + panels - 1) / panels : tiles);`);
  L.push(`${i1}const int64_t chunkRows = (tiles + chunks - 1) / chunks * ${MR};`);
  if (!inBatchTeam) L.push(tiledScratch(k, 'nt', i1, c.kText));
  if (c.parallel && !inBatchTeam) L.push(`${i1}#pragma omp parallel${c.parallelIf ? ` if (${c.parallelIf})` : ''}`);
  L.push(`${i1}{`);
  const i2 = `${i1}  `;
  L.push(`${i2}float* restrict Bp = scratch + (int64_t)kiln_gemm_thread() * ${panelFloats(k, c.kText)};`);
  L.push(`${i2}float tile[${MR} * ${NR}] __attribute__((aligned(64)));`);
  L.push(`${i2}int64_t packed = -1;`);
  // Dynamic: on a machine shared with other work a thread that loses its core leaves its tasks
  // to the other (static halves would wait for it); each output is one task's either way.
  if (c.parallel && !inBatchTeam) L.push(`${i2}#pragma omp for schedule(dynamic, 1)`);
  L.push(`${i2}for (int64_t task = 0; task < panels * chunks; task++) {`);
  const i3 = `${i2}  `;
  L.push(`${i3}const int64_t jb = task / chunks * ${NR};`);
  L.push(`${i3}const int64_t jn = ${N} - jb < ${NR} ? ${N} - jb : ${NR};`);
  const pack = isImplicit(b)
    ? packImplicitPanel(k, b, c.scope, `${i3}  `, { K, NR, t: 'float', panel: 'Bp', rowsParallel: false })
    : packPanel(k, b, K, strides, `${i3}  `);
  const packedB = c.packedB ? PACKED_B_PARAM : undefined;
  // Panels packed once (the weight's, at jb·K) where the runtime gives them, else packed here.
  if (packedB) L.push(`${i3}const float* restrict panel = ${packedB} ? ${packedB} + jb * ${K} : Bp;`);
  L.push(`${i3}if (${packedB ? `!${packedB} && ` : ''}jb != packed) {`, ...pack, `${i3}  packed = jb;`, `${i3}}`);
  L.push(`${i3}const int64_t i0 = task % chunks * chunkRows;`);
  L.push(`${i3}const int64_t iend = i0 + chunkRows < ${M} ? i0 + chunkRows : ${M};`);
  L.push(`${i3}for (int64_t ib = i0; ib < iend; ib += ${MR}) {`);
  const i4 = `${i3}  `;
  L.push(`${i4}const float* a[${MR}];`);
  L.push(`${i4}for (int r = 0; r < ${MR}; r++) a[r] = A + (ib + r < ${M} ? ib + r : ${mLast}) * ${strides.aRow};`);
  // A strided B's last few columns are packed along K (packPanel) and run as dot products; an
  // implicit B's panels (packImplicitPanel) are always K×NR, so always the tile.
  L.push(`${i4}${isImplicit(b) ? 'kiln_gemm_tile' : 'kiln_gemm_panel'}(${K}, a, ${packedB ? 'panel' : 'Bp'}, tile, jn);`);
  L.push(`${i4}for (int64_t r = 0; r < ${MR} && ib + r < ${M}; r++) {`);
  L.push(`${i4}  for (int64_t j = 0; j < jn; j++) {`);
  L.push(...epilogue(k, c, `${i4}    `, 'ib + r', 'jb + j', `tile[r * ${NR} + j]`));
  L.push(`${i4}  }`, `${i4}}`);
  L.push(`${i3}}`, `${i2}}`, `${i1}}`, `${ind}}`);
  const prelude = includeGuarded('KILN_C_GEMM_PRELUDE', C_GEMM_PRELUDE);
  if (!packedB) return { statics: [prelude], body: L };
  if (!packableB(k)) throw new Error('tiledGemmKernel: a packed B for a product whose B is not packable (packableB)');
  return { statics: [prelude, ...packedBFunctions(k, strides)], body: L };
}
