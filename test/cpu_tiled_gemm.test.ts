// The CPU GEMM of many rows (src/backends/cpu/tiled_gemm.ts): a register-blocked tile with
// explicit FMA, B packed per thread, threads splitting panels or, when N is narrow, the rows of
// a panel. Numerics against the float64 reference at the edges of the tiling (rows past a tile,
// columns past a panel, one panel cut into row chunks, K = 1), with every kind of B the kernel
// packs (contiguous rows, transposed, neither), batched products, and fused epilogues; the
// generated source; KILN_CPU_TILED_GEMM=0 giving the earlier kernel; and the tile itself built
// for each vector ISA the preprocessor picks from (AVX-512, AVX2, plain vectors on x86), each
// against a float64 product.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Tensor } from '../src/frontend/tensor.js';
import type { NDArray } from '../src/graph/ndarray.js';
import { randn, refTest } from './helpers.js';

const tol = { atol: 3e-4, rtol: 1e-4 };

/** A captured NDArray as a traced Tensor (a parameter), so it can be viewed in the function. */
const captured = (x: Tensor, w: NDArray): Tensor => new Tensor(x.tracer, x.tracer.param(w));

{
  // M = 100 (12 tiles of 8 and 4 rows left), N = 1000 (20 panels of 48 and 40 columns left): parallel.
  const w = randn([700, 1000], 1101);
  const bias = randn([1000], 1102);
  refTest('[100,700]@[700,1000] + bias, gelu: row and column tails', (x) => x.matmul(w).add(bias).gelu(), () => [randn([100, 700], 1103)], tol);
  // N = 20: one panel, its rows cut into chunks so that both threads work; N = 60: two panels.
  refTest('narrow N with many rows: [2000,64]@[64,20], [1500,64]@[64,60] + residual', (a, b, w1, w2) => [a.matmul(w1), b.matmul(w2).add(b.slice(1, 0, 60))], () => [randn([2000, 64], 1104), randn([1500, 64], 1105), randn([64, 20], 1106), randn([64, 60], 1107)], tol);
  // Transposed B (Gemm transB: each panel column a contiguous row of the weight), a B with a row
  // stride wider than N (a column slice of a bigger weight), and one with neither stride 1.
  const wt = randn([300, 500], 1108);
  const bias300 = randn([300], 1121);
  refTest(
    'B transposed, column-sliced and every-other-column: packed from each layout',
    (x, y) => [x.matmul(captured(x, wt).transpose(0, 1)).add(bias300), y.matmul(captured(y, w).slice(1, 10, 410)), y.matmul(captured(y, w).slice(1, 0, 1000, 2)).tanh()],
    () => [randn([64, 500], 1109), randn([33, 700], 1110)],
    tol,
  );
}
// A last panel of 1, 2, 4 or 5 columns (N = 49·q + r: a 7×7 stage's 1×1 convs): up to
// KILN_GEMM_DOT_COLS of them (4 on AVX-512) packed along K and run as dot products, K = 75 so a
// dot product has lanes and a scalar tail; B contiguous, transposed and every-other-column.
{
  const w = randn([75, 200], 1124);
  const wt = randn([52, 75], 1126);
  refTest(
    'a last panel of a few columns, as dot products: N = 49, 50, 52, 53 from each B layout, K = 75',
    (x) => [
      x.matmul(captured(x, w).slice(1, 0, 49)).relu(),
      x.matmul(captured(x, w).slice(1, 0, 100, 2)),
      x.matmul(captured(x, wt).transpose(0, 1)),
      x.matmul(captured(x, w).slice(1, 0, 53)).add(x.slice(1, 0, 53)),
    ],
    () => [randn([300, 75], 1125)],
    tol,
  );
}
refTest('small products (one thread): [9,13]@[13,6], [37,64]@[64,50], K = 1: [20,1]@[1,30]', (a, b, c, w1, w2, w3) => [a.matmul(w1), b.matmul(w2).relu(), c.matmul(w3)], () => [randn([9, 13], 1111), randn([37, 64], 1112), randn([20, 1], 1113), randn([13, 6], 1114), randn([64, 50], 1115), randn([1, 30], 1116)], tol);
// Small batched products loop over the items on one thread; big ones (attention heads) split
// the items across threads, each item's tile on its own thread.
refTest(
  'batched products, one B per batch item: [3,20,16]@[3,16,24] (one thread), [2,40,300]@[2,300,100] and heads [2,4,100,64]@[2,4,64,100]ᵀ (items across threads)',
  (a, b, c, d, q, kt) => [a.matmul(b), c.matmul(d), q.matmul(kt.transpose(2, 3)).softmax(-1)],
  () => [randn([3, 20, 16], 1117), randn([3, 16, 24], 1118), randn([2, 40, 300], 1119), randn([2, 300, 100], 1120), randn([2, 4, 100, 64], 1122), randn([2, 4, 100, 64], 1123)],
  tol,
);

/** The generated C of the one kernel `fn` compiles to. */
async function source(fn: (x: Tensor, w: Tensor) => Tensor, shapes: number[][]): Promise<string> {
  const { generateC } = await import('../src/backends/cpu/codegen.js');
  const { trace } = await import('../src/frontend/trace.js');
  const { realize } = await import('../src/schedule/realize.js');
  const { finalize } = await import('../src/schedule/finalize.js');
  const { formKernels } = await import('../src/schedule/fuse.js');
  const t = trace(fn as never, shapes.map((shape) => ({ shape, dtype: 'float32' as const })));
  const r = realize(t.graph);
  const ks = finalize(t.graph, r, formKernels(t.graph, r)).kernels.map((k) => generateC(k).body);
  assert.equal(ks.length, 1);
  return ks[0]!;
}

test('tiled GEMM source: one parallel region, panels packed per thread, the tile, the epilogue per element', async () => {
  const s = await source((x, w) => x.matmul(w).relu(), [[256, 1024], [1024, 1024]]);
  assert.match(s, /#define KILN_GEMM_MR 8\n#define KILN_GEMM_NV 3/, 'AVX-512: 8×48');
  assert.match(s, /KILN_VFMA\(c, a, b\) _mm512_fmadd_ps/, 'explicit FMA');
  const body = s.slice(s.indexOf('_body('));
  assert.equal(body.match(/#pragma omp parallel/g)?.length, 1, 'one parallel region');
  assert.match(s, /#pragma omp for schedule\(dynamic, 1\)\n\s*for \(int64_t task = 0; task < panels \* chunks; task\+\+\)/);
  // The weight's panels packed once where the runtime gives them (tests: cpu_packed_weights), else per call.
  assert.match(body, /const float\* restrict panel = kiln_bpre \? kiln_bpre \+ jb \* 1024 : Bp;/);
  assert.match(s, /if \(!kiln_bpre && jb != packed\) \{/, 'a panel packed once per run of tasks on it, when none came packed');
  assert.match(s, /kiln_gemm_panel\(1024, a, panel, tile, jn\);/, 'the tile, or the dot products of a last panel of few columns');
  // A last panel of few columns packed along K, by the one loop both packings share.
  const dotPack = /if \(jn <= KILN_GEMM_DOT_COLS\) \{\n\s*for \(int64_t j = 0; j < jn; j\+\+\) for \(int64_t p = 0; p < 1024; p\+\+\) Bp\[j \* 1024 \+ p\] = B\[p \* 1024LL \+ \(jb \+ j\) \* 1LL\];\n\s*\} else\n/g;
  assert.equal(s.match(dotPack)?.length, 2, 'per call and in _packb');
  // The library's packing of the whole weight: every panel at jb·K, by the same loop.
  const packb = s.slice(s.indexOf('_packb('), s.indexOf('_body('));
  assert.match(packb, /float\* restrict panels = \(float\*\)args\[3\];/, 'the panels after the buffers');
  assert.match(packb, /float\* restrict Bp = panels \+ jb \* 1024;/);
  assert.match(packb, /row\[j\] = B\[p \* 1024LL \+ \(jb \+ j\) \* 1LL\];/);
  assert.match(s, /\(const float\*\)args\[3\]\);\n\}\n$/, 'the entry passes the packed-B slot');
  assert.match(s, /const float acc0 = tile\[r \* KILN_GEMM_NR \+ j\];/);
  assert.doesNotMatch(s, /_bpanel\[/, 'no static 32-column panel');
  // Transposed B: packed column by column, reading each contiguous row of the weight.
  const tr = await source((x, w) => x.matmul(w.transpose(0, 1)), [[64, 512], [256, 512]]);
  assert.match(tr, /if \(j < jn\) for \(int64_t p = 0; p < 512; p\+\+\) Bp\[p \* KILN_GEMM_NR \+ j\] = B\[p \* 1LL \+ \(jb \+ j\) \* 512LL\];/);
});

test('tiled GEMM source for products split by batch item: the scratch made before the team, each item on its thread', async () => {
  const s = await source((q, k) => q.matmul(k.transpose(2, 3)), [[2, 12, 128, 64], [2, 12, 128, 64]]);
  assert.match(s, /float\* restrict scratch = kiln_gemm_scratch\(\(int64_t\)kiln_gemm_threads\(\) \* 64 \* KILN_GEMM_NR\);\n\s*#pragma omp parallel for schedule\(static\)\n\s*for \(int64_t bflat = 0; bflat < 24; bflat\+\+\)/);
  assert.match(s, /const int nt = 1;/, 'each item on its own thread');
  assert.equal(s.match(/#pragma omp/g)?.length, 1, 'no team inside the team');
  assert.doesNotMatch(s, /malloc\(/);
});

test('KILN_CPU_TILED_GEMM=0 gives the earlier 4×32 kernel; 8 rows or fewer never take the tile', async () => {
  const before = process.env.KILN_CPU_TILED_GEMM;
  process.env.KILN_CPU_TILED_GEMM = '0';
  try {
    const s = await source((x, w) => x.matmul(w), [[256, 1024], [1024, 1024]]);
    assert.doesNotMatch(s, /kiln_gemm_tile/);
    assert.match(s, /float acc\[4\]\[32\];/);
  } finally {
    if (before === undefined) delete process.env.KILN_CPU_TILED_GEMM;
    else process.env.KILN_CPU_TILED_GEMM = before;
  }
  // M = 8 with a B the in-place kernels do not read (neither stride 1): the packed 4×32 kernel, as before.
  const few = await source((x, w) => x.matmul(w.slice(1, 0, 512, 2)), [[8, 512], [512, 1024]]);
  assert.doesNotMatch(few, /kiln_gemm_tile/);
});

test('the tile on each vector ISA the preprocessor picks from: against a float64 product', async (t) => {
  const { C_GEMM_PRELUDE } = await import('../src/backends/cpu/tiled_gemm.js');
  const { C_BASE_FLAGS } = await import('../src/backends/cpu/compiler.js');
  // K = 37 (odd), values of every sign; the tile's rows read through row pointers of stride K.
  const harness = `#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
${C_GEMM_PRELUDE}
int main(void) {
  enum { K = 37 };
  static float A[KILN_GEMM_MR * K];
  float* Bp = kiln_gemm_scratch(K * KILN_GEMM_NR);
  static float tile[KILN_GEMM_MR * KILN_GEMM_NR] __attribute__((aligned(64)));
  uint32_t s = 12345;
  for (int i = 0; i < KILN_GEMM_MR * K; i++) { s = s * 1664525u + 1013904223u; A[i] = (float)((int)(s >> 9) - (1 << 22)) / (float)(1 << 22); }
  for (int i = 0; i < K * KILN_GEMM_NR; i++) { s = s * 1664525u + 1013904223u; Bp[i] = (float)((int)(s >> 9) - (1 << 22)) / (float)(1 << 22); }
  const float* a[KILN_GEMM_MR];
  for (int r = 0; r < KILN_GEMM_MR; r++) a[r] = A + r * K;
  double err = 0;
  /* Every panel width: the full tile and the narrower ones of a last panel (jn columns); then
     (dot = 1) a last panel of jn <= DOT_COLS columns in kiln_gemm_panel's layout for it, each
     column of Bp contiguous along K (K = 37: lanes and a scalar tail), as dot products. */
  static float Bc[KILN_GEMM_NR * K];
  for (int dot = 0; dot < 2; dot++) for (int jn = 1; jn <= (dot ? KILN_GEMM_DOT_COLS : KILN_GEMM_NR); jn++) {
    for (int i = 0; i < KILN_GEMM_MR * KILN_GEMM_NR; i++) tile[i] = NAN;
    if (dot) {
      for (int j = 0; j < jn; j++) for (int p = 0; p < K; p++) Bc[j * K + p] = Bp[p * KILN_GEMM_NR + j];
      kiln_gemm_panel(K, a, Bc, tile, jn);
    } else kiln_gemm_tile(K, a, Bp, tile, jn);
    for (int r = 0; r < KILN_GEMM_MR; r++) for (int j = 0; j < jn; j++) {
      double ref = 0;
      for (int p = 0; p < K; p++) ref += (double)A[r * K + p] * (double)Bp[p * KILN_GEMM_NR + j];
      const double d = fabs(ref - (double)tile[r * KILN_GEMM_NR + j]);
      if (d != d) err = INFINITY; /* a column left unwritten */
      else if (d > err) err = d;
    }
  }
  printf("%d %d %d %d %g\\n", KILN_GEMM_MR, KILN_GEMM_VL, KILN_GEMM_NV, KILN_GEMM_DOT_COLS, err);
  return 0;
}
`;
  const dir = mkdtempSync(join(tmpdir(), 'kiln-tile-'));
  try {
    const file = join(dir, 'tile.c');
    writeFileSync(file, harness);
    const flags = C_BASE_FLAGS.filter((f) => f !== '-shared' && f !== '-fPIC');
    const cpuinfo = arch() === 'x64' ? spawnSync('grep', ['-m1', '^flags', '/proc/cpuinfo'], { encoding: 'utf8' }).stdout : '';
    // Which ISA each build must pick: the host's own, then narrower ones the host can run.
    const builds: { isa: string; flags: string[]; shape: string | undefined }[] = [{ isa: 'native', flags: [], shape: undefined }];
    if (/\bavx512f\b/.test(cpuinfo)) builds.push({ isa: 'AVX2 (-mno-avx512f)', flags: ['-mno-avx512f'], shape: '6 8 2 2' });
    if (arch() === 'x64') builds.push({ isa: 'plain vectors (-mno-avx -mno-fma)', flags: ['-mno-avx', '-mno-fma'], shape: '4 4 2 1' });
    for (const b of builds) {
      await t.test(b.isa, () => {
        const exe = join(dir, `tile${builds.indexOf(b)}`);
        const cc = spawnSync('cc', [...flags, '-march=native', ...b.flags, '-o', exe, file, '-lm'], { encoding: 'utf8' });
        assert.equal(cc.status, 0, cc.stderr);
        const run = spawnSync(exe, [], { encoding: 'utf8' });
        assert.equal(run.status, 0, run.stderr);
        const [mr, vl, nv, dotCols, err] = run.stdout.trim().split(' ');
        if (b.shape !== undefined) assert.equal(`${mr} ${vl} ${nv} ${dotCols}`, b.shape);
        // 37 products of values in [-1, 1): float32 rounding, nowhere near a wrong term's size.
        assert.ok(Number(err) < 2e-5, `max |tile - float64| = ${err}`);
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('over symbolic sizes the products take the tile: attention scores (N = sequence), P·V (K = sequence), projections (M = batch·sequence, its M ≤ 8 the few-row kernels)', async () => {
  const { CpuBackend } = await import('../src/backends/cpu/backend.js');
  const { schedule } = await import('../src/schedule/schedule.js');
  const { trace } = await import('../src/frontend/trace.js');
  const { SymInt } = await import('../src/graph/sym.js');
  const [b, s] = [SymInt.symbol('s0'), SymInt.symbol('s1')];
  const w = randn([64, 64], 1130);
  // One head of 64 over [batch, sequence, 64]: q·kᵀ [b, s, s], softmax, ·v [b, s, 64], then a projection over b·s rows.
  const fn = (x: Tensor) => x.matmul(x.transpose(1, 2)).softmax(-1).matmul(x).reshape([-1, 64]).matmul(captured(x, w));
  const t = trace(fn as never, [{ shape: [2, 16, 64], dtype: 'float32', sym: [b, s, 64] }]);
  const sources: string[] = [];
  await schedule(t.graph, new CpuBackend(), (req) => void sources.push(req.source), false);
  const products = sources.filter((src) => /kiln_gemm_tile\(/.test(src) || /acc\[4\]\[32\]/.test(src));
  assert.equal(products.length, 3, 'three products');
  for (const src of products) assert.doesNotMatch(src, /acc\[4\]\[32\]/, 'no product takes the earlier 4×32 kernel');
  assert.ok(products.some((src) => /kiln_gemm_panel\([a-z0-9_]+, a, Bp, tile, jn\)/.test(src)), 'a symbolic K in the tile call');
  assert.ok(products.some((src) => /if \([^)]+ <= 8\) \{\n\s*kiln_[0-9a-f]+_fewrows\(/.test(src) && /switch \([^)]+\) \{\n\s*case 1:\n/.test(src)), 'the projection: M ≤ 8 by the few-row kernels (one function, every M), chosen per call');
});
