// CPU GEMM with few rows (M ≤ 8: a batch of vectors against a weight, src/backends/cpu/few_rows.ts):
// a float32 B with contiguous rows is read in place, threads taking chunks of whole rows, each
// chunk's partial sums added after; a transposed B (contiguous columns: Gemm's transB weight) is
// read in place too, as dot products over its columns; neither is packed. Numerics against the
// reference (tails of K, N and chunks included), the kernel source, and the in-place contract: a
// captured weight changed between calls is seen.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NDArray } from '../src/graph/ndarray.js';
import { Tensor } from '../src/frontend/tensor.js';
import { compile } from '../src/index.js';
import { randn, refTest } from './helpers.js';

const tol = { atol: 3e-4, rtol: 1e-4 };

/** A captured NDArray as a traced Tensor (a parameter), so it can be transposed in the function. */
const captured = (x: Tensor, w: NDArray): Tensor => new Tensor(x.tracer, x.tracer.param(w));

{
  // Big enough to run in parallel (M·N·K ≥ 2^20), N not a multiple of 32 or of the 512-column blocks.
  const w = randn([700, 400], 901);
  const bias = randn([400], 903);
  refTest('M=4 against a captured [700,400] weight, bias and relu: B read in place', (x) => x.matmul(w).add(bias).relu(), () => [randn([4, 700], 904)], tol);
  refTest('M=1, 5, 8 against the weight; M=3 against a transposed weight (packed, panels split)', (a, b, c, d, wt) => [a.matmul(w), b.matmul(w), c.matmul(w), d.matmul(wt.transpose(0, 1))], () => [randn([1, 700], 905), randn([5, 700], 906), randn([8, 700], 907), randn([3, 700], 908), randn([400, 700], 902)], tol);
  // Transposed: M = 4 (4 columns a group) and 7 (2 a group), N = 400 and 401 (a column left over).
  const wt401 = randn([401, 700], 912);
  refTest('M=4, 7 against transposed weights [400,700]ᵀ and [401,700]ᵀ, bias and relu: read in place', (a, b, wt, bias2) => [a.matmul(wt.transpose(0, 1)).add(bias).relu(), b.matmul(captured(b, wt401).transpose(0, 1)).add(bias2)], () => [randn([4, 700], 913), randn([7, 700], 914), randn([400, 700], 902), randn([401], 915)], tol);
  // K = 1000 at M = 4 (passes of 16 rows: 8 rows left) and K = 203 at M = 6 (passes of 8: 3 left), one chunk; K = 70 small (no threads).
  refTest('tails of K: [4,1000]@[1000,300], [6,203]@[203,520], [2,70]@[70,33]', (a, b, c, w1, w2, w3) => [a.matmul(w1), b.matmul(w2), c.matmul(w3)], () => [randn([4, 1000], 916), randn([6, 203], 917), randn([2, 70], 918), randn([1000, 300], 919), randn([203, 520], 920), randn([70, 33], 921)], tol);
  refTest('batched few-row products [3,4,700]@[700,400] and a small one', (a, s, m) => [a.matmul(w), s.matmul(m)], () => [randn([3, 4, 700], 909), randn([2, 5], 910), randn([5, 3], 911)], tol);
}

test('few-row GEMM source: panels split across threads, a contiguous B read in place', async () => {
  const { generateC } = await import('../src/backends/cpu/codegen.js');
  const { trace } = await import('../src/frontend/trace.js');
  const { realize } = await import('../src/schedule/realize.js');
  const { finalize } = await import('../src/schedule/finalize.js');
  const { formKernels } = await import('../src/schedule/fuse.js');
  const source = (fn: Parameters<typeof trace>[0], shapes: number[][]) => {
    const t = trace(fn, shapes.map((shape) => ({ shape, dtype: 'float32' as const })));
    const r = realize(t.graph);
    const ks = finalize(t.graph, r, formKernels(t.graph, r)).kernels.map((k) => generateC(k).body);
    assert.equal(ks.length, 1);
    return ks[0]!;
  };
  const small = source((x, w) => x.matmul(w), [[4, 2048], [2048, 2048]]);
  assert.match(small, /const float\* restrict q = B \+ p \* 2048LL;/, 'B is read in place, 16 rows a pass');
  assert.match(small, /acc\[0LL \+ j\] \+= a0_0 \* q0 \+ a0_1 \* q1/);
  assert.doesNotMatch(small, /Bp\[/, 'nothing is packed');
  assert.match(small, /#pragma omp for schedule\(static\)\n\s*for \(int64_t c = 0; c < 16; c\+\+\)/, 'threads take chunks of 128 rows');
  // A vocabulary-sized N: the partials (8 × 32000 floats a chunk) stay under 8 MB, so 8 chunks, not 32.
  const vocab = source((x, w) => x.matmul(w), [[8, 4096], [4096, 32000]]);
  assert.match(vocab, /for \(int64_t c = 0; c < 8; c\+\+\)/);
  const transposed = source((x, w) => x.matmul(w.transpose(0, 1)), [[4, 2048], [2048, 2048]]);
  assert.doesNotMatch(transposed, /Bp\[/, 'a transposed B is not packed either');
  assert.match(transposed, /const float\* restrict w0 = B \+ \(n0 \+ 0\) \* 2048LL;/, 'each column a contiguous row of the weight');
  assert.match(transposed, /#pragma omp parallel for schedule\(static\)\n\s*for \(int64_t n0 = 0; n0 < 2048; n0 \+= 4\)/, 'threads split the columns, 4 at a time');
  const big = source((x, w) => x.matmul(w), [[64, 2048], [2048, 2048]]);
  assert.doesNotMatch(big, /brow = B \+/, 'many rows: B packed (tiled_gemm.ts, test/cpu_tiled_gemm.test.ts)');
  assert.match(big, /kiln_gemm_panel\(2048, a, panel, tile, jn\);/);
});

test('a captured weight read in place, plain or transposed: changing its data between calls is seen (CPU contract)', async () => {
  for (const transposed of [false, true]) {
    const data = new Float32Array(256 * 64).fill(1);
    const w = NDArray.from(data, transposed ? [64, 256] : [256, 64]);
    const f = compile((x) => x.matmul(transposed ? captured(x, w).transpose(0, 1) : w));
    const x = NDArray.from(new Float32Array(2 * 256).fill(1), [2, 256]);
    assert.deepEqual((await (await f(x)).toArray()).flat().slice(0, 3), [256, 256, 256]);
    (w.hostData() as Float32Array).fill(2);
    assert.deepEqual((await (await f(x)).toArray()).flat().slice(0, 3), [512, 512, 512]);
  }
});
