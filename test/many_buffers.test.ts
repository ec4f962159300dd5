// Kernels with many buffers. Fused kernels of real models (MobileNetV2, ConvNeXt exported from
// PyTorch) pass 64 buffers, the most parameters koffi lets a function declare; so a CPU kernel
// takes its buffers as one block of pointers (src/backends/cpu/kernel_text.ts) and the
// runtime fills that block. These programs are one kernel of 120+ buffers each, checked
// against the reference interpreter. On CUDA, kernels of up to 512 pointers take them as
// parameters and larger ones as a device array (src/backends/cuda/kernel_text.ts): both are
// generated and compiled to cubin here.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { test } from 'node:test';
import { compileGraph } from '../src/api/program.js';
import { generateC } from '../src/backends/cpu/codegen.js';
import { DEFAULT_CUBLAS_MIN_MACS } from '../src/backends/cuda/backend.js';
import { generateCuda } from '../src/backends/cuda/codegen.js';
import { findNvcc, findNvrtc } from '../src/backends/cuda/toolchain.js';
import { openCache } from '../src/cache/open_cache.js';
import { trace, type TracedFn } from '../src/frontend/trace.js';
import { NDArray } from '../src/graph/ndarray.js';
import type { Tensor } from '../src/frontend/tensor.js';
import { interpret } from '../src/graph/interpret.js';
import { cat } from '../src/index.js';
import { finalize } from '../src/schedule/finalize.js';
import { formKernels } from '../src/schedule/fuse.js';
import { realize } from '../src/schedule/realize.js';
import { assertClose, checkAgainstReference, randn, testDevice } from './helpers.js';
import { needs } from './prereq.js';

/** A full garbage collection, from V8's own gc() (exposed for this process by flag). */
function collector(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-many-buffers-'));
process.on('exit', () => fs.rmSync(cacheDir, { recursive: true, force: true }));

const N = 120;
const inputs = (n: number, shape: number[], seed: number) => Array.from({ length: n }, (_, i) => randn(shape, seed + i));
/** x0 + 2·x1 + 3·x2 + …: every input is read, and a swapped pair of pointers would show. */
const weightedSum: TracedFn = (...xs) => xs.reduce((acc, x, i) => acc.add(x.mul(i + 1)));
const specs = (xs: readonly NDArray[]) => xs.map((x) => ({ shape: x.shape, dtype: x.dtype }));

/** The plan's steps as (kernel count, buffers of each step). */
async function planShape(fn: TracedFn, xs: readonly NDArray[]): Promise<{ kernels: number; args: number[] }> {
  const program = await compileGraph(trace(fn, specs(xs)), { device: 'cpu', cacheDir, workers: 2 });
  return { kernels: program.kernelCount, args: program.plan.steps.map((s) => s.args.length) };
}

test(`a weighted sum of ${N} inputs is one kernel of ${N + 1} buffers, and matches the reference`, async () => {
  const xs = inputs(N, [3, 37], 100);
  assert.deepEqual(await planShape(weightedSum, xs), { kernels: 1, args: [N + 1] });
  const { compiled } = await checkAgainstReference(weightedSum, xs, { cacheDir });
  // Again with new arrays: the block's input and output addresses are written on every call.
  await checkAgainstReference(weightedSum, inputs(N, [3, 37], 500), { cacheDir, compiled });
});

test(`cat of ${N} inputs and captured arrays, then a second kernel over its result`, async () => {
  // Captured arrays are parameters, whose addresses the runtime caches between calls: the
  // call after an in-place update checks that they are still read in place.
  const ws = inputs(8, [2, 5], 900);
  const fn: TracedFn = (...xs) => {
    const joined = cat([...xs.map((x) => x.relu()), ...ws.map((w, i) => xs[i]!.mul(w))], 0);
    return [joined, joined.softmax(-1).sum(0)];
  };
  const xs = inputs(N, [2, 5], 700);
  const shape = await planShape(fn, xs);
  assert.ok(shape.args.some((n) => n >= N + ws.length + 1), `one kernel reads every input and captured array (steps take ${shape.args.join(', ')} buffers)`);
  const { compiled } = await checkAgainstReference(fn, xs, { cacheDir });
  // On CUDA a captured host array is uploaded once, like a module's parameter (a documented
  // limit: docs/architecture.md), so an in-place update is a CPU-only contract.
  if (testDevice === 'cuda') return;
  for (const w of ws) {
    const d = w.toTypedArraySync() as Float32Array;
    for (let i = 0; i < d.length; i++) d[i] = 3 - d[i]!;
  }
  await checkAgainstReference(fn, xs, { cacheDir, compiled });
});

test('small arrays (kept on V8\'s heap) keep their addresses while a call allocates its outputs', async () => {
  // 130 inputs of 2 floats (8 bytes: V8 keeps such arrays' data on its heap, where a GC may
  // move it) and 40 outputs allocated after the inputs' addresses are taken.
  const xs = inputs(130, [2], 1300);
  const fn: TracedFn = (...ts) => Array.from({ length: 40 }, (_, j) => ts.reduce((acc, t, i) => acc.add(t.mul(((i + j) % 5) - 2))));
  const t = trace(fn, specs(xs));
  const refs = interpret(t.graph, [...xs, ...t.params]);
  const program = await compileGraph(t, { device: 'cpu', cacheDir, workers: 2 });
  for (let round = 0; round < 50; round++) {
    // Fresh small arrays each round, with garbage in between so young-generation GCs run.
    const fresh = xs.map((x) => NDArray.from(Float32Array.from(x.toTypedArraySync() as Float32Array), x.shape));
    for (let g = 0; g < 2000; g++) void new Float32Array(4);
    const outs = await program.run(fresh);
    outs.forEach((o, j) => assertClose(o.toTypedArraySync() as Float32Array, refs[j]!, { label: `round ${round}, output ${j}` }));
  }
});

test('temporaries and constants stay alive as long as the executable: garbage collections between calls change nothing', async () => {
  // The pointer blocks hold the arena's and the constants' addresses, not the arrays: the
  // executable must keep those arrays alive itself. A chain of matmul layers has temporaries
  // between its kernels and a scalar constant each; collections run between the calls.
  const gc = collector();
  const ws = inputs(6, [24, 24], 40).map((w) => NDArray.from((w.toTypedArraySync() as Float32Array).map((v) => v / 5), w.shape));
  const fn: TracedFn = (x) => ws.reduce((h, w, i) => (h as Tensor).matmul(w).tanh().mul(1 + i / 64), x!);
  const x = randn([4, 24], 41);
  const t = trace(fn, specs([x]));
  const refs = interpret(t.graph, [x, ...t.params]);
  const program = await compileGraph(t, { device: 'cpu', cacheDir, workers: 2 });
  assert.ok(program.plan.buffers.some((b) => b.kind === 'temp'), 'the plan has temporaries');
  for (let round = 0; round < 20; round++) {
    gc();
    // New allocations that would take the memory of a freed arena.
    const junk = Array.from({ length: 64 }, () => new Float32Array(96).fill(1e30));
    const [out] = await program.run([x]);
    assertClose(out!.toTypedArraySync() as Float32Array, refs[0]!, { label: `round ${round}` });
    void junk;
  }
});

test('arrays remember their data\'s address: outputs fed back in, inputs reused and updated in place', async () => {
  const fn: TracedFn = (a, b) => a!.mul(b!).add(a!.sin());
  const a = randn([5, 33], 60);
  const b = randn([5, 33], 61);
  const { compiled, outputs } = await checkAgainstReference(fn, [a, b], { cacheDir });
  // The output as an input: its address came with it from the call that made it.
  const [next] = (await checkAgainstReference(fn, [outputs[0]!, a], { cacheDir, compiled })).outputs;
  await checkAgainstReference(fn, [next!, outputs[0]!], { cacheDir, compiled });
  // The same input arrays with new values.
  const d = a.toTypedArraySync() as Float32Array;
  for (let i = 0; i < d.length; i++) d[i] = 1 - 2 * d[i]!;
  await checkAgainstReference(fn, [a, b], { cacheDir, compiled });
});

test('a C kernel exports one entry taking the block of pointers; the loops take restrict parameters as before', () => {
  const xs = inputs(3, [4, 8], 1);
  const t = trace((a, b, c) => a.mul(b!).add(c!), specs(xs));
  const r = realize(t.graph);
  const [k] = finalize(t.graph, r, formKernels(t.graph, r)).kernels;
  const src = generateC(k!).body;
  assert.match(src, /^void __KILN_KERNEL__\(void \*const \*args\) \{$/m);
  assert.match(src, /^static __attribute__\(\(noinline\)\) void __KILN_KERNEL___body\(const float\* restrict b0, const float\* restrict b1, const float\* restrict b2, float\* restrict b3\) \{$/m);
  assert.match(src, /__KILN_KERNEL___body\(\s*\(const float\*\)args\[0\],\s*\(const float\*\)args\[1\],\s*\(const float\*\)args\[2\],\s*\(float\*\)args\[3\]\);/);
});

// ---- CUDA: generated and compiled here (nvcc, or NVRTC where present); running needs the GPU suite.

const cudaSkip = needs('nvcc', findNvcc() !== undefined || findNvrtc() !== undefined, 'a CUDA compiler: nvcc or NVRTC');

/** The program's CUDA kernels as generated (no data needed: shapes only). */
function cudaKernels(fn: TracedFn, shapes: { shape: number[]; dtype: 'float32' }[]) {
  const t = trace(fn, shapes);
  const r = realize(t.graph);
  return finalize(t.graph, r, formKernels(t.graph, r)).kernels.map((k) => generateCuda(k, DEFAULT_CUBLAS_MIN_MACS));
}

/** Compiles the program for sm_90 without running it; returns each kernel's cache entry. */
async function compileCudaOnly(fn: TracedFn, shapes: { shape: number[]; dtype: 'float32' }[]) {
  const program = await compileGraph(trace(fn, shapes), { device: 'cuda', arch: 'sm_90', compileOnly: true, cacheDir, workers: 2 });
  const store = openCache({ cacheDir }).kernels;
  return program.plan.kernels.map((k) => {
    const bin = store.get(k.key);
    assert.ok(bin, `kernel ${k.name} is in the kernel cache after a compile-only run`);
    assert.deepEqual([...bin.binary.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], `${k.name} is an ELF image`);
    assert.equal(bin.binary[18]! | (bin.binary[19]! << 8), 190, `${k.name} is a CUDA (EM_CUDA = 190) binary`);
    return bin;
  });
}

const specsOf = (n: number, shape: number[]) => Array.from({ length: n }, () => ({ shape, dtype: 'float32' as const }));

test(`CUDA: the weighted sum of ${N} inputs is one kernel of ${N + 1} pointer parameters, and compiles`, { skip: cudaSkip }, async () => {
  const [g, ...rest] = cudaKernels(weightedSum, specsOf(N, [3, 37]));
  assert.equal(rest.length, 0);
  assert.ok(!g!.meta.pointerTable, `${N + 1} pointers (${8 * (N + 1)} bytes) fit in kernel parameter space`);
  assert.equal(g!.source.match(/__restrict__ b\d+/g)?.length, N + 1);
  const [bin] = await compileCudaOnly(weightedSum, specsOf(N, [3, 37]));
  assert.ok(bin!.backend === 'cuda' && !bin!.meta.pointerTable);
});

test('CUDA: past 4 KB of parameters (600 inputs) a kernel takes its buffer pointers as a device array, and compiles', { skip: cudaSkip }, async () => {
  const n = 600;
  const [g] = cudaKernels(weightedSum, specsOf(n, [3, 37]));
  assert.equal(g!.meta.pointerTable, true);
  assert.equal(g!.meta.params, n + 1);
  assert.match(g!.source, /__global__ void __KILN_KERNEL__\(void\* const\* __restrict__ kiln_args\) \{/);
  assert.match(g!.source, /const float\* __restrict__ b599 = \(const float\*\)kiln_args\[599\];/);
  assert.match(g!.source, /float\* __restrict__ b600 = \(float\*\)kiln_args\[600\];/);
  const [bin] = await compileCudaOnly(weightedSum, specsOf(n, [3, 37]));
  assert.ok(bin!.backend === 'cuda' && bin!.meta.pointerTable === true);
});

test('CUDA: a split reduction over 600 inputs keeps its workspace a parameter after the pointer table', { skip: cudaSkip }, async () => {
  // Few long rows: one kernel of many blocks per row, partials in a workspace (its last parameter).
  const fn: TracedFn = (...xs) => (weightedSum(...xs) as Tensor).sum(-1);
  const shapes = specsOf(600, [2, 70_001]);
  const gs = cudaKernels(fn, shapes);
  const split = gs.find((g) => g.meta.workspace);
  assert.ok(split, 'the row sum is a split reduction with a workspace');
  assert.equal(split.meta.pointerTable, true);
  assert.match(split.source, /\(void\* const\* __restrict__ kiln_args, unsigned char\* __restrict__ ws\)/);
  await compileCudaOnly(fn, shapes);
});
