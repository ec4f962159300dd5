// compile(fn, { dynamic }) on CUDA (issue 13): one symbolic program serves every batch and
// sequence length its guards admit, results right against the float64 interpreter, no trace,
// schedule or compile after the first call; a size its guards refuse (a row longer than a block
// takes; a 1 where symbols range from 2, graph/sym.ts SYM_MIN) runs a static specialisation.
// The emulated half is test/cuda_symbolic.test.ts. Skips with the reason where there is no GPU
// (npm run test:gpu).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { cudaAvailable, cudaUnavailableReason } from '../../src/backends/cuda/driver.js';
import type { Tensor } from '../../src/frontend/tensor.js';
import { compile, counters } from '../../src/index.js';
import { type CompiledFn, type Counters, type NDArray, assertMatches, randn, reference } from '../helpers.js';
import { optional } from '../prereq.js';
import { SYM_MIN, SymInt } from '../../src/graph/sym.js';
import { deviceAllocator } from '../../src/backends/cuda/allocator.js';
import { compileGraph } from '../../src/api/program.js';
import { trace } from '../../src/frontend/trace.js';
import { D, gptBlock } from '../gpt_block.js';

const skip = optional('a CUDA device', cudaAvailable(), `no CUDA device: ${cudaUnavailableReason() ?? 'unknown reason'}`);
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-dynamic-cuda-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

const tol = { rtol: 1e-3, atol: 1e-3 };
const compileWork = (c: Counters) => ({ generated: c.kernels_generated, misses: c.graph_cache_misses, hits: c.graph_cache_hits, symbolic: c.symbolic_programs });

async function checkCall(fn: (...xs: Tensor[]) => Tensor | Tensor[], compiled: CompiledFn, inputs: NDArray[], label: string): Promise<void> {
  const refs = reference(fn, inputs);
  const result = await compiled(...inputs);
  const outs = Array.isArray(result) ? result : [result];
  assert.equal(outs.length, refs.length);
  for (let i = 0; i < refs.length; i++) await assertMatches(outs[i]!, refs[i]!, { ...tol, label: `${label} output ${i}` });
}

const W1 = randn([32, 48], 1);
const W2 = randn([48, 16], 2);
const mlp = (x: Tensor) => x.matmul(W1).relu().matmul(W2).softmax(-1);

/** Guard failures a batch of 1 causes: one where symbols range from 2 (it specialises), none where from 1. */
const oneFails = SYM_MIN > 1 ? 1 : 0;

test('dynamic: true on CUDA, an MLP: batches 7, 63, 1000, 2 and 1 through one symbolic program (1 specialised where symbols range from 2)', { skip }, async () => {
  const f = compile(mlp, { device: 'cuda', dynamic: true, cacheDir, workers: 2 });
  const c0 = counters();
  await checkCall(mlp, f, [randn([7, 32], 10)], 'batch 7');
  const c1 = counters();
  assert.equal(c1.symbolic_programs - c0.symbolic_programs, 1, 'one symbolic program');
  for (const [i, b] of [63, 1000, 2].entries()) await checkCall(mlp, f, [randn([b, 32], 11 + i)], `batch ${b}`);
  assert.deepEqual(compileWork(counters()), compileWork(c1), 'no compile after the first call');
  await checkCall(mlp, f, [randn([1, 32], 20)], 'batch 1');
  assert.equal(counters().guard_failures - c1.guard_failures, oneFails, 'a batch of 1 and the symbols\' range');
});

test('dynamic: true on CUDA, a GPT-2-like block over batch and sequence: one program from (2,7) to (8,1024) and back, no compile after the first', { skip }, async () => {
  const f = compile(gptBlock, { device: 'cuda', dynamic: true, cacheDir, workers: 2 });
  const c0 = counters();
  await checkCall(gptBlock, f, [randn([2, 7, D], 40)], '(2,7)');
  const c1 = counters();
  assert.equal(c1.symbolic_programs - c0.symbolic_programs, 1, 'one symbolic program');
  // Growing and shrinking: the symbolic temporaries' arena and the products' scratch grow on demand.
  for (const [i, [b, t]] of [[3, 63], [8, 1024], [2, 5], [1, 7], [4, 130], [2, 7]].entries()) {
    await checkCall(gptBlock, f, [randn([b!, t!, D], 41 + i)], `(${b},${t})`);
  }
  const c2 = counters();
  assert.equal(c2.guard_failures - c1.guard_failures, oneFails, 'only a batch of 1 may break a guard');
  assert.equal(c2.graph_cache_misses + c2.graph_cache_hits - c1.graph_cache_misses - c1.graph_cache_hits, oneFails, 'nothing compiled but a specialisation of batch 1 where symbols range from 2');
});

test("dynamic: 'auto' on CUDA: static first, symbolic at the second sequence length, then nothing", { skip }, async () => {
  const f = compile(gptBlock, { device: 'cuda', cacheDir, workers: 2 });
  const c0 = counters();
  await checkCall(gptBlock, f, [randn([2, 16, D], 50)], '(2,16)');
  const c1 = counters();
  assert.equal(c1.symbolic_programs, c0.symbolic_programs, 'the first shape is static');
  await checkCall(gptBlock, f, [randn([2, 33, D], 51)], '(2,33)');
  const c2 = counters();
  assert.equal(c2.symbolic_programs - c1.symbolic_programs, 1, 'the second length compiles a symbolic program');
  for (const [i, t] of [100, 513, 16].entries()) await checkCall(gptBlock, f, [randn([2, t, D], 52 + i)], `(2,${t})`);
  assert.deepEqual(compileWork(counters()), compileWork(c2), 'no compile after the second');
});

test('a softmax row of symbolic length beyond 16384 breaks its guard on CUDA and runs a static specialisation', { skip }, async () => {
  const softmax = (x: Tensor) => x.softmax(-1);
  const f = compile(softmax, { device: 'cuda', dynamic: true, cacheDir, workers: 2 });
  await checkCall(softmax, f, [randn([3, 100], 60)], '[3,100]');
  await checkCall(softmax, f, [randn([5, 16384], 61)], '[5,16384]');
  const c = counters();
  await checkCall(softmax, f, [randn([3, 17000], 62)], '[3,17000]');
  assert.equal(counters().guard_failures - c.guard_failures, 1, 'the row-length guard failed');
});

test('a symbolic program on CUDA: outputs sized per call, the temporaries grown with the sizes, and dispose() gives every byte back', { skip }, async () => {
  const t = trace(gptBlock, [{ shape: [2, 7, D], dtype: 'float32', sym: [SymInt.symbol('s0'), SymInt.symbol('s1'), D] }]);
  // Before the program exists: its arena, constants and scratch count (weights have blocks of their own, weights.ts).
  const start = deviceAllocator().stats().allocatedBytes;
  const program = await compileGraph(t, { device: 'cuda', cacheDir, workers: 2 });
  assert.ok(program.plan.symbols, 'a symbolic plan');
  const held: number[] = [];
  for (const [i, [b, s]] of [[2, 7], [4, 300], [2, 7], [4, 300]].entries()) {
    const x = randn([b!, s!, D], 70 + i);
    const [y] = await program.run([x]);
    assert.deepEqual(y!.shape, [b, s, D]);
    await assertMatches(y!, reference(gptBlock, [x])[0]!, { ...tol, label: `(${b},${s})` });
    y!.deviceData()?.release();
    held.push(deviceAllocator().stats().allocatedBytes - start);
  }
  assert.ok(held[1]! > held[0]!, `bigger sizes grow the temporaries (${held.join(', ')} bytes held)`);
  assert.deepEqual([held[2], held[3]], [held[1], held[1]], 'smaller sizes reuse what is there; nothing grows twice');
  program.dispose();
  assert.equal(deviceAllocator().stats().allocatedBytes, start, 'dispose() frees the symbolic arena and the products\' scratch');
});
