// compile(fn, { dynamic }) on the CPU (symbolic kernels are CPU-only; test/gpu/dynamic_cuda
// checks that CUDA specialises): programs over symbolic sizes (graph/sym.ts) against the float64
// interpreter, with sizes 1, 7, 63 and 1000 (vector loops with tails), several shapes through
// one program with no compile after the first (the counters), guards that fail and specialise,
// functions that are not symbolic (an op that needs static sizes, a size used as a number)
// falling back to static programs with right results, and input no program can take.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { compileGraph } from '../src/api/program.js';
import { mulberry32 } from '../src/graph/random.js';
import { GuardFailure, SymInt } from '../src/graph/sym.js';
import { trace } from '../src/frontend/trace.js';

import type { Tensor } from '../src/frontend/tensor.js';
import { cat, layerNorm } from '../src/frontend/functions.js';
import { type CompiledFn, type Counters, assertMatches, compileCpu as compileOn, counters, randn, reference } from './helpers.js';
import { NDArray } from './helpers.js';

const tol = { rtol: 1e-4, atol: 1e-4 };

/** compileCpu on the CPU whatever KILN_TEST_DEVICE says: these tests count symbolic programs. */
const compileCpu: typeof compileOn = (fn, options = {}) => compileOn(fn, { ...options, device: 'cpu' });

/** Runs `compiled` on `inputs` and checks every output against the interpreter. */
async function checkCall(fn: (...xs: Tensor[]) => Tensor | Tensor[], compiled: CompiledFn, inputs: NDArray[], label: string, tolerance = tol): Promise<void> {
  const refs = reference(fn, inputs);
  const result = await compiled(...inputs);
  const outs = Array.isArray(result) ? result : [result];
  assert.equal(outs.length, refs.length);
  for (let i = 0; i < refs.length; i++) await assertMatches(outs[i]!, refs[i]!, { ...tolerance, label: `${label} output ${i}` });
}

// Attention's float32 scores over sums of 16 products of random weights: ~1e-4 relative per element.
const attentionTol = { rtol: 1e-3, atol: 1e-3 };

/** The counters that say something was traced, scheduled or compiled. */
const compileWork = (c: Counters) => ({ generated: c.kernels_generated, misses: c.graph_cache_misses, hits: c.graph_cache_hits, symbolic: c.symbolic_programs });

const W1 = randn([32, 48], 11);
const B1 = randn([48], 12);
const W2 = randn([48, 16], 13);
const mlp = (x: Tensor) => x.matmul(W1).add(B1).relu().matmul(W2);

test('dynamic: true, an MLP over a symbolic batch: sizes 7, 63, 1000 and 2 through one program, no compile after the first', async () => {
  const compiled = compileCpu(mlp, { dynamic: true });
  const before = counters();
  await checkCall(mlp, compiled, [randn([7, 32], 1)], 'batch 7');
  const afterFirst = counters();
  assert.equal(afterFirst.symbolic_programs - before.symbolic_programs, 1, 'one symbolic program');
  for (const [b, seed] of [[63, 2], [1000, 3], [2, 4]] as const) await checkCall(mlp, compiled, [randn([b, 32], seed)], `batch ${b}`);
  assert.deepEqual(compileWork(counters()), compileWork(afterFirst), 'no trace, schedule or compile after the first call');
  assert.equal(counters().guard_failures, afterFirst.guard_failures);
});

test('a batch of 1 runs on the symbolic program (a symbol ranges from 1: nothing broadcasts it); an empty batch breaks its guard s0 >= 1 and specialises', async () => {
  const compiled = compileCpu(mlp, { dynamic: true });
  await checkCall(mlp, compiled, [randn([5, 32], 5)], 'batch 5');
  const before = counters();
  await checkCall(mlp, compiled, [randn([1, 32], 6)], 'batch 1');
  assert.deepEqual(compileWork(counters()), compileWork(before), 'batch 1: no trace or compile');
  assert.equal(counters().guard_failures, before.guard_failures);
  const empty = await compiled(randn([0, 32], 7));
  assert.deepEqual((empty as NDArray).shape, [0, 16]);
  const after = counters();
  assert.equal(after.guard_failures - before.guard_failures, 1, 'the guard failed once');
  assert.equal(after.graph_cache_misses + after.graph_cache_hits - before.graph_cache_misses - before.graph_cache_hits, 1, 'one specialisation compiled');
  // The specialisation is kept: batch 0 again compiles nothing, batch 9 takes the symbolic program.
  await compiled(randn([0, 32], 8));
  await checkCall(mlp, compiled, [randn([9, 32], 8)], 'batch 9');
  assert.deepEqual(compileWork(counters()), compileWork(after));
});

test('a symbol that a size 1 WOULD broadcast against (two inputs of one size symbol, then one of them 1) breaks the input check and specialises, right', async () => {
  const fn = (x: Tensor, y: Tensor) => x.matmul(W1).add(y.matmul(W1).relu());
  const compiled = compileCpu(fn, { dynamic: true });
  await checkCall(fn, compiled, [randn([5, 32], 130), randn([5, 32], 131)], 'x [5,32], y [5,32] (one symbol)');
  const c0 = counters();
  await checkCall(fn, compiled, [randn([1, 32], 132), randn([1, 32], 133)], 'both 1');
  assert.deepEqual(compileWork(counters()), compileWork(c0), 'both at 1: the symbolic program');
  // y's 1 broadcasts against x's 6: NumPy semantics, which the symbolic program (y's dim is s0) cannot give.
  await checkCall(fn, compiled, [randn([6, 32], 134), randn([1, 32], 135)], 'x [6,32], y [1,32] (broadcast)');
  const c1 = counters();
  assert.equal(c1.guard_failures - c0.guard_failures, 1, 'the input check failed: y\'s dim is not s0');
  assert.equal(c1.graph_cache_misses + c1.graph_cache_hits - c0.graph_cache_misses - c0.graph_cache_hits, 1, 'a static specialisation');
});

const norms = (x: Tensor, g: Tensor) => [x.softmax(-1), layerNorm(x, [64], g), x.exp().sum(-1)];

test('softmax and layer norm over [batch, sequence, 64], both symbolic: (2,7), (3,63), (2,1000), (1,7)', async () => {
  const gamma = randn([64], 20);
  const fn = (x: Tensor, g: Tensor) => norms(x, g);
  const compiled = compileCpu(fn, { dynamic: true });
  await checkCall(fn, compiled, [randn([2, 7, 64], 21), gamma], '(2,7)');
  const afterFirst = counters();
  await checkCall(fn, compiled, [randn([3, 63, 64], 22), gamma], '(3,63)');
  await checkCall(fn, compiled, [randn([2, 1000, 64], 23), gamma], '(2,1000)');
  assert.deepEqual(compileWork(counters()), compileWork(afterFirst), 'one program for every shape');
  // A batch of 1 is specialised (a guard), and right.
  await checkCall(fn, compiled, [randn([1, 7, 64], 24), gamma], '(1,7)');
});

test("dynamic: 'auto' compiles static first, symbolic on the second batch size, then nothing", async () => {
  const compiled = compileCpu(mlp);
  const c0 = counters();
  await checkCall(mlp, compiled, [randn([4, 32], 30)], 'batch 4');
  const c1 = counters();
  assert.equal(c1.symbolic_programs, c0.symbolic_programs, 'the first shape compiles statically');
  await checkCall(mlp, compiled, [randn([7, 32], 31)], 'batch 7');
  const c2 = counters();
  assert.equal(c2.symbolic_programs - c1.symbolic_programs, 1, 'the second batch size compiles a symbolic program');
  for (const [b, seed] of [[63, 32], [1000, 33], [4, 34]] as const) await checkCall(mlp, compiled, [randn([b, 32], seed)], `batch ${b}`);
  assert.deepEqual(compileWork(counters()), compileWork(c2), 'no compile after the second');
});

test('a float sum over a symbolic length guards its blocking: 5000 points break the guard and specialise', async () => {
  const fn = (x: Tensor) => x.sum(-1);
  const compiled = compileCpu(fn, { dynamic: true });
  await checkCall(fn, compiled, [randn([3, 7], 40)], '[3,7]');
  await checkCall(fn, compiled, [randn([2, 63], 41)], '[2,63]');
  const before = counters();
  await checkCall(fn, compiled, [randn([2, 5000], 42)], '[2,5000]');
  assert.equal(counters().guard_failures - before.guard_failures, 1, 'the blocking guard failed');
});

const HEADS = 2;
const HEAD_DIM = 8;
const Wq = randn([16, 16], 70);
const Wk = randn([16, 16], 76);
const Wv = randn([16, 16], 77);
const Wo = randn([16, 16], 71);
/** Multi-head self-attention over [batch, sequence, 16]: reshapes into heads, a softmax over the sequence. */
function attention(x: Tensor): Tensor {
  const [b, t] = x.shape as [number, number];
  const heads = (w: NDArray) => x.matmul(w).reshape([b, t, HEADS, HEAD_DIM]).permute([0, 2, 1, 3]);
  const p = heads(Wq).matmul(heads(Wk).transpose(-1, -2)).mul(1 / Math.sqrt(HEAD_DIM)).softmax(-1);
  return p.matmul(heads(Wv)).permute([0, 2, 1, 3]).reshape([b, t, HEADS * HEAD_DIM]).matmul(Wo).add(x);
}

test('multi-head attention over a symbolic batch and sequence: (2,7), (3,63), (2,1000), (1,7), (1,1) through one program', async () => {
  const compiled = compileCpu(attention, { dynamic: true });
  const c0 = counters();
  await checkCall(attention, compiled, [randn([2, 7, 16], 72)], '(2,7)', attentionTol);
  const c1 = counters();
  assert.equal(c1.symbolic_programs - c0.symbolic_programs, 1, 'one symbolic program');
  await checkCall(attention, compiled, [randn([3, 63, 16], 73)], '(3,63)', attentionTol);
  await checkCall(attention, compiled, [randn([2, 1000, 16], 74)], '(2,1000)', attentionTol);
  assert.deepEqual(compileWork(counters()), compileWork(c1), 'no compile after the first');
  await checkCall(attention, compiled, [randn([1, 7, 16], 75)], '(1,7)', attentionTol);
  await checkCall(attention, compiled, [randn([1, 1, 16], 76)], '(1,1)', attentionTol);
  assert.deepEqual(compileWork(counters()), compileWork(c1), 'sizes of 1: no compile either');
  assert.equal(counters().guard_failures - c1.guard_failures, 0, 'no guard fails');
  // Sizes that shrink and grow again: the temporaries' arena is laid out anew, grown only when needed.
  for (const [i, [b, t]] of [[3, 63], [2, 5], [4, 200], [2, 5], [3, 63]].entries()) {
    await checkCall(attention, compiled, [randn([b!, t!, 16], 120 + i)], `(${b},${t}) again`, attentionTol);
  }
});

const Wqkv = randn([16, 48], 78);
/** GPT-2's fused projection: one product, then q, k and v sliced from its static last dim; heads joined by cat. */
function fusedAttention(x: Tensor): Tensor {
  const [b, t] = x.shape as [number, number];
  const qkv = x.matmul(Wqkv);
  const part = (i: number) => qkv.slice(-1, 16 * i, 16 * (i + 1)).reshape([b, t, HEADS, HEAD_DIM]).permute([0, 2, 1, 3]);
  const y = part(0).matmul(part(1).transpose(-1, -2)).mul(0.25).softmax(-1).matmul(part(2)).permute([0, 2, 1, 3]).reshape([b, t, 16]);
  return cat([y, x.slice(-1, 0, 4)], -1);
}

test('slices and a cat along static dims of symbolic tensors (a fused qkv projection): (2,7), (3,63) in one program', async () => {
  const compiled = compileCpu(fusedAttention, { dynamic: true });
  const c0 = counters();
  await checkCall(fusedAttention, compiled, [randn([2, 7, 16], 82)], '(2,7)');
  const c1 = counters();
  assert.equal(c1.symbolic_programs - c0.symbolic_programs, 1, 'symbolic');
  await checkCall(fusedAttention, compiled, [randn([3, 63, 16], 83)], '(3,63)');
  assert.deepEqual(compileWork(counters()), compileWork(c1), 'no compile for the second shape');
});

test('dims a function forces static (a mean over one) leave the others symbolic; a size used as a number is specialised', async () => {
  const mean = (x: Tensor) => x.mean(0);
  const m = compileCpu(mean, { dynamic: true });
  await checkCall(mean, m, [randn([7, 5], 60)], 'mean [7,5]');
  const c2 = counters();
  await checkCall(mean, m, [randn([7, 300], 61)], 'mean [7,300]');
  assert.deepEqual(compileWork(counters()), compileWork(c2), 'the mean stays symbolic in its kept dim');

  // x.shape[0] is a number in the graph: the trace at other sizes differs, so no symbolic program.
  const baked = (x: Tensor) => x.mul(x.shape[0]!);
  const b = compileCpu(baked, { dynamic: true });
  const c3 = counters();
  await checkCall(baked, b, [randn([7, 5], 62)], 'baked [7,5]');
  await checkCall(baked, b, [randn([63, 5], 63)], 'baked [63,5]');
  assert.equal(counters().symbolic_programs, c3.symbolic_programs, 'a size used as a number is never symbolic');
});

test('a cumsum along a symbolic length (the CPU scan kernel taking the length as an argument), inclusive and reverse-exclusive, over [batch, 1000], [batch, 7], [batch, 63]: one program', async () => {
  const fn = (x: Tensor) => [x.cumsum(1), x.cumsum(1, true, true).mul(2), x.cumsum(0)];
  const compiled = compileCpu(fn, { dynamic: true });
  await checkCall(fn, compiled, [randn([3, 1000], 70)], '[3,1000]');
  const first = counters();
  for (const [b, n, seed] of [[2, 7, 71], [5, 63, 72], [4, 1000, 73]] as const) await checkCall(fn, compiled, [randn([b, n], seed)], `[${b},${n}]`);
  assert.deepEqual(compileWork(counters()), compileWork(first), 'no trace, schedule or compile after the first call');
  assert.equal(counters().guard_failures, first.guard_failures);
});

test('a gather over symbolic sizes (table rows and ids both symbolic: its clamp and range check read the rows per call): ids of 7, 63 and 1000 on one program; an id past the rows is an IndexRangeError', async () => {
  const fn = (x: Tensor, i: Tensor) => x.gather(0, i).mul(2);
  const compiled = compileCpu(fn, { dynamic: true });
  const ids = (n: number, rows: number, seed: number) => {
    const r = mulberry32(seed);
    return NDArray.from(BigInt64Array.from({ length: n }, () => BigInt(Math.floor(r() * 2 * rows) - rows)), [n]);
  };
  await checkCall(fn, compiled, [randn([50, 8], 74), ids(7, 50, 75)], 'rows 50, ids 7');
  const first = counters();
  for (const [rows, n, seed] of [[50, 63, 76], [300, 1000, 77], [9, 7, 78]] as const) await checkCall(fn, compiled, [randn([rows, 8], seed), ids(n, rows, seed + 10)], `rows ${rows}, ids ${n}`);
  assert.deepEqual(compileWork(counters()), compileWork(first), 'no trace, schedule or compile after the first call');
  const bad = ids(63, 40, 79);
  (bad.toTypedArraySync() as BigInt64Array)[17] = 40n;
  await assert.rejects(compiled(randn([40, 8], 80), bad).then((y) => (y as NDArray).toArray()), (e: Error) => e.name === 'IndexRangeError' && /index 40 at indices\[17\] is out of range for dim 0 of data \[s0,s1\]: size s0, valid -\(s0\) to s0 - 1/.test(e.message));
});

test('input no program can take is a clear error', async () => {
  const compiled = compileCpu(mlp, { dynamic: true });
  await checkCall(mlp, compiled, [randn([5, 32], 60)], 'batch 5');
  await assert.rejects(compiled(randn([5, 33], 61)), /matmul: inner dims differ/);
  await assert.rejects(compiled(randn([5, 32], 62), randn([5, 32], 63)), /expects 1 input, got 2/);
});

test('the graph cache keys a symbolic program by its symbols, not its hints: another compile() at other sizes hits it', async () => {
  const fn = (x: Tensor) => x.matmul(W1).add(B1).softmax(-1);
  await checkCall(fn, compileCpu(fn, { dynamic: true }), [randn([3, 11, 32], 80)], 'first compile (3,11)');
  const before = counters();
  // A new compiled function (no program in memory) whose first call has other sizes.
  await checkCall(fn, compileCpu(fn, { dynamic: true }), [randn([6, 40, 32], 81)], 'second compile (6,40)');
  const after = counters();
  assert.equal(after.graph_cache_hits - before.graph_cache_hits, 1, 'the symbolic program came from the graph cache');
  assert.equal(after.graph_cache_misses, before.graph_cache_misses, 'nothing was scheduled for it');
  assert.equal(after.compile_submitted, before.compile_submitted, 'nothing compiled');
});

test('dynamic: false keeps one static program per shape, at most maxSpecializations, least recently used evicted', async () => {
  const fn = (x: Tensor) => x.exp().add(1);
  const compiled = compileCpu(fn, { dynamic: false, maxSpecializations: 2 });
  const shapes = [[3, 5], [4, 5], [3, 5], [6, 5], [4, 5]];
  const loads: number[] = [];
  for (const [i, s] of shapes.entries()) {
    const before = counters();
    await checkCall(fn, compiled, [randn(s, 90 + i)], `[${s}]`);
    const after = counters();
    loads.push(after.graph_cache_hits + after.graph_cache_misses - before.graph_cache_hits - before.graph_cache_misses);
    assert.equal(after.symbolic_programs, before.symbolic_programs, 'never symbolic');
  }
  // [3,5] is reused; [6,5] evicts [4,5] (least recently used), which then loads again.
  assert.deepEqual(loads, [1, 1, 0, 1, 1]);
});

test('compile rejects a bad dynamic or maxSpecializations option', () => {
  assert.throws(() => compileCpu(mlp, { dynamic: 'yes' as unknown as boolean }), /dynamic must be 'auto', true or false/);
  assert.throws(() => compileCpu(mlp, { maxSpecializations: 0 }), /maxSpecializations must be a positive integer/);
});

test('a symbolic Program (compileGraph of a graph whose inputs carry symbols): any batch runs, a guard breaks with GuardFailure, a wrong rank is a TypeError naming the symbolic dims', async () => {
  const s0 = SymInt.symbol('s0');
  const traced = trace(mlp, [{ shape: [5, 32], dtype: 'float32', sym: [s0, 32] }]);
  const dir = mkdtempSync(join(tmpdir(), 'kiln-sym-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const program = await compileGraph(traced, { cacheDir: dir, workers: 2 });
  assert.deepEqual(program.plan.symbols, [{ name: 's0', input: 0, dim: 0 }]);
  // What a holder of several programs asks before it runs one (the ONNX model's shape variants).
  assert.ok(program.accepts([[5, 32]]) && program.accepts([[1000, 32]]));
  assert.ok(program.accepts([[1, 32]]), 'a batch of 1 runs');
  assert.ok(!program.accepts([[0, 32]]), 'an empty batch breaks a guard');
  assert.ok(!program.accepts([[5, 33]]) && !program.accepts([[5, 2, 32]]) && !program.accepts([]), 'a static dim, the rank, the input count');
  for (const [b, seed] of [[5, 100], [17, 101], [1000, 102], [1, 106]] as const) {
    const x = randn([b, 32], seed);
    const [out] = await program.run([x]);
    await assertMatches(out!, reference(mlp, [x])[0]!, { ...tol, label: `batch ${b}` });
  }
  await assert.rejects(program.run([randn([0, 32], 103)]), (e: unknown) => e instanceof GuardFailure && /s0=0 break the program's guard s0 >= 1/.test(e.message));
  await assert.rejects(program.run([randn([4, 5, 32], 104)]), (e: unknown) => e instanceof TypeError && /expected float32\[s0,32\], got float32\[4,5,32\]/.test(e.message));
  await assert.rejects(program.run([randn([4, 33], 105)]), /input 0: expected float32\[4,32\], got float32\[4,33\]/);
  program.dispose();
});

const W3 = randn([16, 32], 140);
const W4 = randn([40, 24], 145);
test("dynamic: 'auto', the register-blocked tile over a symbolic batch: a weight of 16 rows times [batch, 4] products (M static), and those [batch, 4, 16] rows times a weight (M = 64·batch, folded, > 8 for every batch); batches 1, 3, 5 on one program", async () => {
  // cat of one NDArray is its parameter as a Tensor: the weight is A, shared by every product (a 1×1 conv's shape).
  const fn = (x: Tensor) => {
    const y = cat([W3], 0).matmul(x).relu();
    return [y, y.matmul(W4).add(1)];
  };
  const compiled = compileCpu(fn);
  await checkCall(fn, compiled, [randn([2, 4, 32, 40], 141)], 'batch 2 (static)');
  await checkCall(fn, compiled, [randn([3, 4, 32, 40], 142)], 'batch 3 (symbolic in the batch)');
  const c0 = counters();
  for (const [b, seed] of [[1, 143], [5, 144]] as const) await checkCall(fn, compiled, [randn([b, 4, 32, 40], seed)], `batch ${b}`);
  assert.deepEqual(compileWork(counters()), compileWork(c0), 'batches 1 and 5 on the symbolic program');
});

test('a symbolic batch of 1 to 9 rows takes the few-row kernel per M (weights read in place, rows or transposed) or the packed one, all in one program', async () => {
  const Wt = randn([24, 32], 110);
  // cat of one NDArray is its parameter as a Tensor: Wt read transposed (Gemm's transB).
  const fn = (x: Tensor) => [x.matmul(W1).relu(), x.matmul(cat([Wt], 0).transpose(0, 1)).add(1)];
  const compiled = compileCpu(fn, { dynamic: true });
  await checkCall(fn, compiled, [randn([3, 32], 111)], 'batch 3');
  const first = counters();
  for (let m = 1; m <= 9; m++) await checkCall(fn, compiled, [randn([m, 32], 112 + m)], `batch ${m}`);
  assert.deepEqual(compileWork(counters()), compileWork(first), 'one program for every batch');
});

test('equal sizes of two inputs share one symbol (duck sizing); a call where they differ breaks that guard and is specialised, right', async () => {
  const fn = (x: Tensor, y: Tensor) => [x.exp().sum(-1), y.mul(2)];
  const compiled = compileCpu(fn, { dynamic: true });
  await checkCall(fn, compiled, [randn([5, 8], 130), randn([5, 3], 131)], 'both batch 5');
  const first = counters();
  await checkCall(fn, compiled, [randn([9, 8], 132), randn([9, 3], 133)], 'both batch 9');
  assert.deepEqual(compileWork(counters()), compileWork(first), 'one symbol serves both');
  await checkCall(fn, compiled, [randn([6, 8], 134), randn([11, 3], 135)], 'batches 6 and 11');
  assert.equal(counters().guard_failures - first.guard_failures, 1, 'the shared size broke');
});

test('a static Program accepts exactly its own shapes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-sym-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const program = await compileGraph(trace(mlp, [{ shape: [5, 32], dtype: 'float32' }]), { cacheDir: dir, workers: 2 });
  assert.ok(program.accepts([[5, 32]]));
  assert.ok(!program.accepts([[6, 32]]) && !program.accepts([[5, 32], [5, 32]]));
  program.dispose();
});
