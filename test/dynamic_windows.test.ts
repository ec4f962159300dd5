// Convolutions and pools under compile(fn, { dynamic: true }) on the CPU: windows over a
// symbolic batch with static spatial dims (GraphBuilder.window), the implicit GEMM (a 3×3 conv:
// B packed from the window's index expression per batch item), a depthwise conv (a reduction
// over window × weight), max and average pooling, a global average pool and a strided conv, all
// in one program whose batch is a size symbol, against the float64 interpreter at batches 1, 2
// and 7; a batch of 1 is served by the symbolic program (a symbol ranges from 1); a 1 that would
// broadcast against the batch breaks the input check and specialises; a window over a symbolic
// spatial dim is refused and that dim made static.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { GuardFailure } from '../src/graph/sym.js';
import { trace } from '../src/frontend/trace.js';
import type { Tensor } from '../src/frontend/tensor.js';
import { compileGraph } from '../src/api/program.js';
import { SymInt } from '../src/graph/sym.js';
import { avgPool2d, conv2d, maxPool2d } from '../src/index.js';
import { type CompiledFn, type Counters, assertMatches, compileCpu as compileOn, counters, randn, reference } from './helpers.js';
import { NDArray } from './helpers.js';

const tol = { rtol: 1e-4, atol: 1e-4 };
const compileCpu: typeof compileOn = (fn, options = {}) => compileOn(fn, { ...options, device: 'cpu' });
const compileWork = (c: Counters) => ({ generated: c.kernels_generated, misses: c.graph_cache_misses, hits: c.graph_cache_hits, symbolic: c.symbolic_programs });

async function checkCall(fn: (...xs: Tensor[]) => Tensor, compiled: CompiledFn, inputs: NDArray[], label: string): Promise<void> {
  const [ref] = reference(fn, inputs);
  await assertMatches((await compiled(...inputs)) as NDArray, ref!, { ...tol, label });
}

/** Random weights scaled so that activations stay near 1 through the layers. */
const scaled = (shape: number[], seed: number, s: number) => NDArray.from(Array.from(randn(shape, seed).toTypedArraySync() as Float32Array, (v) => v * s), shape);
const W1 = scaled([16, 3, 3, 3], 1, 0.3);
const B1 = randn([16], 2);
const Wdw = scaled([16, 1, 3, 3], 3, 0.3);
const W2 = scaled([24, 16, 3, 3], 4, 0.1);
const W3 = scaled([12, 24, 1, 1], 5, 0.2);
const FC = randn([12, 10], 6);

/** A small conv net: 3×3 conv + bias (implicit GEMM), max pool, depthwise conv (row order), strided 3×3 conv, average pool, 1×1 conv of 12 rows (the tiled GEMM per batch item), global average, linear. */
function convNet(x: Tensor): Tensor {
  let y = conv2d(x, W1, B1, { padding: 1 }).relu();
  y = maxPool2d(y, 2);
  y = conv2d(y, Wdw, undefined, { padding: 1, groups: 16 }).add(y);
  y = conv2d(y, W2, undefined, { stride: 2, padding: 1 }).relu();
  y = avgPool2d(y, 3, { stride: 1, padding: 1 });
  y = conv2d(y, W3);
  return y.mean([2, 3]).matmul(FC);
}

test('a conv net over a symbolic batch: batches 1, 2, 7 right; 2 makes the symbolic program, 7 and 1 again run on it with no compile', async () => {
  const compiled = compileCpu(convNet, { dynamic: true });
  // A first call of batch 1 under compile(fn): its 1 stays static (a traced input's 1 may be meant to broadcast).
  await checkCall(convNet, compiled, [randn([1, 3, 16, 16], 10)], 'batch 1');
  const c0 = counters();
  await checkCall(convNet, compiled, [randn([2, 3, 16, 16], 11)], 'batch 2');
  const c1 = counters();
  assert.equal(c1.symbolic_programs - c0.symbolic_programs, 1, 'one symbolic program');
  await checkCall(convNet, compiled, [randn([7, 3, 16, 16], 12)], 'batch 7');
  await checkCall(convNet, compiled, [randn([1, 3, 16, 16], 13)], 'batch 1 again');
  assert.deepEqual(compileWork(counters()), compileWork(c1), 'no trace, schedule or compile after the symbolic program');
  assert.equal(counters().guard_failures, c1.guard_failures);
});

test('a symbolic conv Program (compileGraph over a batch symbol) runs batches 7, 1, 2: the batch of 1 on the same program', async () => {
  const s0 = SymInt.symbol('s0');
  const dir = mkdtempSync(join(tmpdir(), 'kiln-sym-conv-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const program = await compileGraph(trace(convNet, [{ shape: [3, 3, 16, 16], dtype: 'float32', sym: [s0, 3, 16, 16] }]), { cacheDir: dir, workers: 2 });
  assert.deepEqual(program.plan.symbols, [{ name: 's0', input: 0, dim: 0 }]);
  for (const [b, seed] of [[7, 20], [1, 21], [2, 22]] as const) {
    const x = randn([b, 3, 16, 16], seed);
    const [out] = await program.run([x]);
    await assertMatches(out!, reference(convNet, [x])[0]!, { ...tol, label: `batch ${b}` });
  }
  await assert.rejects(program.run([randn([0, 3, 16, 16], 23)]), (e: unknown) => e instanceof GuardFailure && /s0=0 break the program's guard s0 >= 1/.test(e.message));
  program.dispose();
});

test('two conv branches of one batch symbol, then one branch at batch 1 (which broadcasts): the input check fails and a static specialisation gives the right result', async () => {
  const fn = (x: Tensor, y: Tensor) => maxPool2d(conv2d(x, W1, B1, { padding: 1 }), 2).add(avgPool2d(conv2d(y, W1), 2, { padding: 1 }).relu().mean([2, 3], true));
  const compiled = compileCpu(fn, { dynamic: true });
  // Batch 4 (not 3: equal sizes share a symbol, and the channels' 3 is refused by the weights).
  await checkCall(fn, compiled, [randn([4, 3, 12, 12], 30), randn([4, 3, 12, 12], 31)], 'x, y batch 4 (one symbol)');
  const c0 = counters();
  await checkCall(fn, compiled, [randn([5, 3, 12, 12], 32), randn([5, 3, 12, 12], 33)], 'batch 5');
  await checkCall(fn, compiled, [randn([1, 3, 12, 12], 34), randn([1, 3, 12, 12], 35)], 'batch 1');
  assert.deepEqual(compileWork(counters()), compileWork(c0), 'batches 5 and 1 on the symbolic program');
  await checkCall(fn, compiled, [randn([6, 3, 12, 12], 36), randn([1, 3, 12, 12], 37)], 'x batch 6, y batch 1 (broadcast)');
  const c1 = counters();
  assert.equal(c1.guard_failures - c0.guard_failures, 1, "y's batch is not s0: the check fails");
  assert.equal(c1.graph_cache_misses + c1.graph_cache_hits - c0.graph_cache_misses - c0.graph_cache_hits, 1, 'one static specialisation');
});

test('a window over a symbolic spatial dim is refused, naming its symbol: the spatial dims are made static, the batch stays symbolic', async () => {
  const fn = (x: Tensor) => maxPool2d(conv2d(x, W1, B1, { padding: 1 }).relu(), 2).mean([2, 3]);
  const compiled = compileCpu(fn, { dynamic: true });
  // Batch 2 and spatial 10 × 12: symbolic from the first call, all but the channels (3 ≥ 2 is symbolic too, and refused by the weight).
  await checkCall(fn, compiled, [randn([2, 3, 10, 12], 40)], 'batch 2, 10×12');
  const c0 = counters();
  assert.ok(c0.symbolic_programs >= 1);
  await checkCall(fn, compiled, [randn([6, 3, 10, 12], 41)], 'batch 6, 10×12');
  assert.deepEqual(compileWork(counters()), compileWork(c0), 'another batch: the symbolic program');
  // Another spatial size: a static specialisation (the spatial dims were made static), right.
  await checkCall(fn, compiled, [randn([2, 3, 14, 12], 42)], 'batch 2, 14×12');
});

test('conv2d and the pools refuse weights that do not fit, bad options and windows that do not fit, naming them', () => {
  const x = randn([2, 3, 8, 8], 50);
  const traceOf = (fn: (t: Tensor) => Tensor) => () => trace(fn, [{ shape: [...x.shape], dtype: 'float32' }]);
  assert.throws(traceOf((t) => conv2d(t, randn([4, 2, 3, 3], 51))), /conv2d: weight \[4,2,3,3\] does not fit input \[2,3,8,8\] with groups 1/);
  assert.throws(traceOf((t) => conv2d(t, W1, randn([4], 52))), /conv2d: bias \[4\] for 16 output channels/);
  assert.throws(traceOf((t) => conv2d(t, W1, undefined, { stride: 0 })), /conv2d: stride must be integers >= 1, got 0/);
  assert.throws(traceOf((t) => conv2d(t, W1, undefined, { groups: 2 })), /does not fit input \[2,3,8,8\] with groups 2/);
  assert.throws(traceOf((t) => maxPool2d(t, [9, 2])), /a window of 9 does not fit spatial dim 0 of size 8/);
  assert.throws(traceOf((t) => avgPool2d(t.reshape([2, 3, 64]), 2)), /avgPool2d: expects \[N, C, H, W\], got \[2,3,64\]/);
});
