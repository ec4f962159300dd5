// CPU GEMM with few rows (M ≤ 8: a batch of vectors against a weight): a float32 B with
// contiguous rows is read in place, row by row, threads splitting the columns (never packed);
// another B (transposed) is packed per panel, threads splitting the panels. Numerics against the reference, the kernel
// source, and the in-place contract: a captured weight changed between calls is seen.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NDArray } from '../src/graph/ndarray.js';
import { compile } from '../src/index.js';
import { randn, refTest } from './helpers.js';

const tol = { atol: 3e-4, rtol: 1e-4 };

{
  // Big enough to run in parallel (M·N·K ≥ 2^20), N not a multiple of 32 or of the 512-column blocks.
  const w = randn([700, 400], 901);
  const bias = randn([400], 903);
  refTest('M=4 against a captured [700,400] weight, bias and relu: B read in place', (x) => x.matmul(w).add(bias).relu(), () => [randn([4, 700], 904)], tol);
  refTest('M=1, 5, 8 against the weight; M=3 against a transposed weight (packed, panels split)', (a, b, c, d, wt) => [a.matmul(w), b.matmul(w), c.matmul(w), d.matmul(wt.transpose(0, 1))], () => [randn([1, 700], 905), randn([5, 700], 906), randn([8, 700], 907), randn([3, 700], 908), randn([400, 700], 902)], tol);
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
  assert.match(small, /const float\* restrict q0 = B \+ p \* 2048LL \+ jb;/, 'B is read in place, row by row');
  assert.doesNotMatch(small, /Bp\[/, 'nothing is packed');
  assert.match(small, /#pragma omp parallel for schedule\(static\)\n\s*for \(int64_t jb = 0;/, 'threads split the columns');
  const transposed = source((x, w) => x.matmul(w.transpose(0, 1)), [[4, 2048], [2048, 2048]]);
  assert.match(transposed, /Bp\[p \* 32 \+ j\] = /, 'a transposed B is packed');
  assert.match(transposed, /#pragma omp for schedule\(static\)\n\s*for \(int64_t jb = 0;/);
  const big = source((x, w) => x.matmul(w), [[64, 2048], [2048, 2048]]);
  assert.doesNotMatch(big, /brow = B \+|omp for/, 'many rows: packed panels, rows split');
  assert.match(big, /#pragma omp parallel for schedule\(static\)\n\s*for \(int64_t ib = 0;/);
});

test('a captured weight read in place: changing its data between calls is seen (CPU contract)', async () => {
  const data = new Float32Array(256 * 64).fill(1);
  const w = NDArray.from(data, [256, 64]);
  const f = compile((x) => x.matmul(w));
  const x = NDArray.from(new Float32Array(2 * 256).fill(1), [2, 256]);
  assert.deepEqual((await (await f(x)).toArray()).flat().slice(0, 3), [256, 256, 256]);
  (w.hostData() as Float32Array).fill(2);
  assert.deepEqual((await (await f(x)).toArray()).flat().slice(0, 3), [512, 512, 512]);
});
