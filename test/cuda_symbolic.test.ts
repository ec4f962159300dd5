// CUDA kernels over symbolic sizes without a GPU (issue 13): programs are traced with symbolic
// dims and scheduled by the CUDA backend (compile-only) ONCE; every kernel is compiled with nvcc,
// and the plan runs in the block emulator (cuda_block_emulator.ts: cooperating threads, barriers
// and shuffles included) at several sizes from that one set of kernels, each launch's grid,
// block and size arguments and each cuBLAS product's sizes evaluated per call by the runtime's
// own sym_launch.ts, and each output checked against the float64 interpreter. Also: the
// kernels do not depend on the sizes they were traced at, a guard failing, and a kernel kind
// CUDA still refuses over symbolic sizes. test/gpu/dynamic_cuda.test.ts runs the same on a GPU.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { compileCuda } from '../src/backends/cuda/compiler.js';
import { generateCuda } from '../src/backends/cuda/codegen.js';
import type { CudaKernelMeta } from '../src/backends/cuda/kernel_text.js';
import { symLaunchFn } from '../src/backends/cuda/sym_launch.js';
import { findNvcc } from '../src/backends/cuda/toolchain.js';
import { KernelMetaError, parseKernelMeta } from '../src/cache/kernel_meta.js';
import type { Tensor } from '../src/frontend/tensor.js';
import { trace, type TracedFn } from '../src/frontend/trace.js';
import type { NDArray } from '../src/graph/ndarray.js';
import { type Dim, GuardFailure, SYM_MIN, SymInt, SymbolicUnsupportedError } from '../src/graph/sym.js';
import { loopVarDim } from '../src/lower/sym_index.js';
import { flatten } from '../src/lower/views.js';
import { KERNEL_NAME_PLACEHOLDER } from '../src/schedule/backend.js';
import type { Kernel } from '../src/lower/loop_ir.js';
import { checkInputs } from '../src/schedule/check_inputs.js';
import { layOutSymbolicTemps } from '../src/schedule/memory_plan.js';
import { BlockEmulator } from './cuda_block_emulator.js';
import { type Scheduled, bytesOf, callOf, emulatedKernels, outputShape, scheduleTraced } from './cuda_symbolic_harness.js';
import { NDArray as ND, assertMatches, randn, reference } from './helpers.js';
import { needs } from './prereq.js';
import { D, gptBlock as block } from './gpt_block.js';

const gxx = ['/usr/bin/g++', '/usr/bin/c++'].find((p) => fs.existsSync(p));
const skipEmu = needs('g++', gxx !== undefined, 'the host C++ compiler that runs the emulated kernels');
const skipNvcc = needs('nvcc', findNvcc() !== undefined, 'KILN_NVCC, CUDA_HOME, /usr/local/cuda/bin, PATH');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-cuda-sym-'));
after(() => fs.rmSync(work, { recursive: true, force: true }));

const s0 = SymInt.symbol('s0');
const s1 = SymInt.symbol('s1');

/** `fn` traced at `hints` with the dims `sym` gives symbolic, scheduled by the CUDA backend (compile only). */
async function scheduleSymbolic(fn: TracedFn, hints: readonly (readonly number[])[], sym: readonly (readonly Dim[])[], cublas = false): Promise<Scheduled> {
  return scheduleTraced(trace(fn, hints.map((shape, i) => ({ shape, dtype: 'float32' as const, sym: sym[i] }))), cublas);
}

/** Runs the plan at each set of inputs through one emulator and checks every output against the interpreter. */
async function emulateAt(label: string, fn: TracedFn, s: Scheduled, calls: readonly NDArray[][]): Promise<void> {
  const emu = new BlockEmulator(work, label, emulatedKernels(s), gxx!);
  for (const inputs of calls) {
    const outs = emu.run(callOf(s, inputs));
    const refs = reference(fn, [...inputs]);
    for (const i of s.plan.outputs.keys()) {
      const out = ND.from(new Float32Array(outs[i]!.buffer, outs[i]!.byteOffset, outs[i]!.byteLength / 4), outputShape(s, inputs, i));
      await assertMatches(out, refs[i]!, { rtol: 1e-3, atol: 1e-3, label: `${label} at ${inputs.map((x) => `[${x.shape}]`).join(' ')}: output ${i}` });
    }
  }
}

// Pointwise kernels whose element count is a product of symbols (tails of 1 to 3 elements
// after the float4 loop) or a symbol times an odd number.
const pointwiseFn = (x: Tensor, y: Tensor) => [x.mul(y).add(x.exp()), x.tanh().mul(3), y.relu().sub(x)];

test('CUDA symbolic pointwise kernels, emulated: sizes 7, 63, 1000 (float4 tails) and 2 from one compile; 1 too where symbols range from 1, else a guard failure', { skip: skipEmu }, async () => {
  const s = await scheduleSymbolic(pointwiseFn, [[5, 3], [5, 3]], [[s0, 3], [s0, 3]]);
  for (const src of s.sources.values()) assert.match(src, /float4/, 'every kernel moves float4 whatever the size');
  // A size 1 is a symbol's value where symbols range from 1 (graph/sym.ts SYM_MIN); otherwise it breaks the range guard.
  const sizes = SYM_MIN <= 1 ? [1, 7, 63, 1000, 2] : [7, 63, 1000, 2];
  await emulateAt('pointwise', pointwiseFn, s, sizes.map((n, i) => [randn([n, 3], 10 + i), randn([n, 3], 20 + i)]));
  if (SYM_MIN > 1) assert.throws(() => callOf(s, [randn([1, 3], 1), randn([1, 3], 2)]), (e: unknown) => e instanceof GuardFailure && /s0 >= 2/.test(e.message));
});

for (const cublas of [false, true]) {
  const how = cublas ? 'cuBLAS products' : 'generated tiled GEMMs';
  test(`CUDA symbolic GPT-2-like block with ${how}, emulated: (2,7), (3,33), (2,70) from one compile`, { skip: skipEmu }, async () => {
    const s = await scheduleSymbolic(block, [[2, 5, D]], [[s0, s1, D]], cublas);
    const metas = s.plan.kernels.map((k) => k.meta as CudaKernelMeta);
    assert.ok(metas.every((m) => m.sym), 'every kernel is symbolic');
    assert.equal(metas.some((m) => m.sym?.gemm), cublas, `products through ${how}`);
    assert.ok(metas.some((m) => m.sym?.rowLength), 'the attention softmax picks its threads per call');
    const temps = s.plan.buffers.filter((b) => b.kind === 'temp' && b.dims);
    const layout = layOutSymbolicTemps(s.plan, new Map([['s0', 3], ['s1', 33]]), 256);
    assert.ok(new Set(layout.offsets.values()).size < temps.length, 'temporaries of symbolic size share bytes (their lifetimes allow), so the emulation checks that too');
    await emulateAt(`block_${cublas ? 'cublas' : 'tiled'}`, block, s, [[randn([2, 7, D], 31)], [randn([3, 33, D], 32)], [randn([2, 70, D], 33)]]);
  });
}

test('CUDA symbolic kernels do not depend on the sizes they were traced at (same keys, launches and guards)', async () => {
  const a = await scheduleSymbolic(block, [[2, 5, D]], [[s0, s1, D]], true);
  const b = await scheduleSymbolic(block, [[6, 40, D]], [[s0, s1, D]], true);
  assert.deepEqual(b.plan.kernels.map((k) => k.key), a.plan.kernels.map((k) => k.key));
  assert.deepEqual(b.plan.guards, a.plan.guards);
});

test('a row of symbolic length longer than one block takes breaks its guard (the program specialises)', async () => {
  const softmax = (x: Tensor) => x.softmax(-1);
  const s = await scheduleSymbolic(softmax, [[3, 50]], [[3, s1]]);
  assert.ok(s.plan.guards!.some((g) => g.rel === 'le' && g.value === 16384), 'the row length is guarded');
  checkInputs(s.plan, [randn([3, 16384], 1)], []);
  assert.throws(() => checkInputs(s.plan, [randn([3, 16385], 1)], []), (e: unknown) => e instanceof GuardFailure && /rows of a symbolic length up to 16384/.test(e.message));
});

test('rows of symbolic length traced longer than a block holds in registers read the row in every phase, with no guard (emulated at 17000, 20000 and 300)', { skip: skipEmu }, async () => {
  const rows = (x: Tensor) => [x.softmax(-1), x.sum(-1), x.max(-1)];
  const s = await scheduleSymbolic(rows, [[2, 17000]], [[2, s1]]);
  assert.ok(!s.plan.guards!.some((g) => g.rel === 'le' && g.value === 16384), 'no row-length guard');
  await emulateAt('long_rows', rows, s, [[randn([2, 17000], 90)], [randn([2, 20000], 91)], [randn([2, 300], 92)]]);
});

test('CUDA scatters over symbolic sizes are refused, naming the kind and why', () => {
  const bufs: Kernel['bufs'] = [{ dtype: 'float32', numel: 8, role: 'in' }, { dtype: 'float32', numel: 8, role: 'out' }];
  const scatter: Kernel = {
    kind: 'scatter', bufs, outer: [8], leading: 0, inner: [], valid: { k: 'const', v: 1, dt: 'bool' },
    store: { buf: 1, at: loopVarDim('o0', s0), value: { k: 'load', buf: 0, at: loopVarDim('o0', s0), dt: 'float32' } }, sym: { sizes: ['s0'], outer: [s0] },
  };
  assert.throws(() => generateCuda(scatter, Infinity), (e: unknown) => e instanceof SymbolicUnsupportedError && /a CUDA scatter kernel over symbolic sizes \(a scatter's lanes and serial walk are chosen by its sizes\)/.test(e.message) && e.symbols.includes('s0'));
});

test('symbolic CUDA kernels compile with nvcc (pointwise, reductions, tiled GEMM, cuBLAS epilogues, scans)', { skip: skipNvcc }, async () => {
  const tiled = await scheduleSymbolic(block, [[2, 5, D]], [[s0, s1, D]]);
  const cublas = await scheduleSymbolic(block, [[2, 5, D]], [[s0, s1, D]], true);
  const sources = new Map([...tiled.sources, ...cublas.sources]);
  for (const [i, n] of [s1, 40, 100].entries()) {
    const g = generateCuda(scanKernel(s0, n, i === 1, i === 2), Infinity);
    sources.set(`scan${i}`, g.source.split(KERNEL_NAME_PLACEHOLDER).join(`kiln_scan${i}`));
  }
  // One translation unit (the preludes are include-guarded, as in a compile group): one nvcc run.
  const source = [...sources.values()].join('\n');
  const { binary } = await compileCuda({ key: 'test-cuda-sym-0123456789abcdef', kernelName: [...sources.keys()][0]!, source, options: { arch: 'sm_90' } }, 'nvcc');
  assert.ok(binary.length > 1000);
});

test('symbolic CUDA metadata parses back to itself; a damaged formula, grid or field is refused', async () => {
  const s = await scheduleSymbolic(block, [[2, 5, D]], [[s0, s1, D]], true);
  for (const k of s.plan.kernels) assert.deepEqual(parseKernelMeta('cuda', JSON.parse(JSON.stringify(k.meta))), k.meta);
  const meta = s.plan.kernels.find((k) => (k.meta as CudaKernelMeta).sym?.gemm)!.meta as CudaKernelMeta;
  const bad = (f: (m: CudaKernelMeta & { sym: Record<string, unknown> }) => void, why: RegExp) => {
    const m = JSON.parse(JSON.stringify(meta));
    f(m);
    assert.throws(() => parseKernelMeta('cuda', m), (e: unknown) => e instanceof KernelMetaError && why.test(e.message));
  };
  bad((m) => (m.sym.grid = [{ units: [[1, ['s0']]], per: 0 }, 1, 1]), /grid\[0\]\.per is 0/);
  bad((m) => (m.sym.grid = [{ units: [[1, ['s0; system()']]], per: 4 }, 1, 1]), /bad symbol/);
  bad((m) => ((m.sym.gemm as { M: unknown }).M = '4*s0'), /gemm\.M is not a size formula/);
  bad((m) => (m.sym.extra = 1), /unknown field extra/);
});

test('a symbolic kernel of more buffers than fit in parameters reads its pointers from a table, its sizes still parameters (emulated)', { skip: skipEmu }, async () => {
  const n = 520;
  const sum = (...xs: Tensor[]) => xs.reduce((a, b) => a.add(b));
  const s = await scheduleSymbolic(sum, Array.from({ length: n }, () => [5]), Array.from({ length: n }, () => [s0]));
  const meta = s.plan.kernels[0]!.meta as CudaKernelMeta;
  assert.ok(meta.pointerTable && meta.sym, 'a symbolic kernel with a pointer table');
  assert.match(s.sources.values().next().value!, /void\* const\* __restrict__ kiln_args, const int64_t sz_s0\)/);
  await emulateAt('pointer_table', sum, s, [7, 9].map((m) => Array.from({ length: n }, (_, i) => randn([m], 1000 + i))));
});

/** A cumsum along the last dim of [rows, n] as a scan kernel over symbolic sizes (as finalize writes one). */
function scanKernel(rows: Dim, n: Dim, exclusive: boolean, reverse: boolean): Kernel {
  const at = flatten([loopVarDim('o0', rows), loopVarDim('r0', n)], [rows, n]);
  const hint = (d: Dim) => (typeof d === 'number' ? d : 5);
  const bufs: Kernel['bufs'] = [{ dtype: 'float32', numel: hint(rows) * hint(n), role: 'in' }, { dtype: 'float32', numel: hint(rows) * hint(n), role: 'out' }];
  const sizes = [...new Set([rows, n].flatMap((d) => (typeof d === 'number' ? [] : d.symbols())))].sort();
  return {
    kind: 'scan', bufs, outer: [hint(rows)], inner: [hint(n)], value: { k: 'load', buf: 0, at, dt: 'float32' }, dtype: 'float32', exclusive, reverse,
    out: { buf: 1, at }, sym: { sizes, outer: [rows], inner: [n] },
  };
}

test('CUDA symbolic scans, emulated: rows of symbolic length (one block, threads per call) and symbolic rows of static length, every direction', { skip: skipEmu }, async () => {
  for (const [label, n] of [['symbolic length', s1], ['static length 40', 40], ['static length 100', 100]] as const) {
    for (const exclusive of [false, true]) {
      for (const reverse of [false, true]) {
        const k = scanKernel(s0, n, exclusive, reverse);
        const g = generateCuda(k, Infinity);
        assert.ok(g.meta.sym, 'a symbolic launch');
        assert.equal(g.meta.sym.scanLength !== undefined, n === s1, 'threads per call only for a row of symbolic length');
        const emu = new BlockEmulator(work, `scan_${label}_${exclusive}_${reverse}`, [{ name: KERNEL_NAME_PLACEHOLDER, source: g.source, meta: g.meta, params: ['float32', 'float32'] }], gxx!);
        for (const [rows, len] of [[3, 7], [2, 100], [2, 1000], [5, 33]] as const) {
          const width = typeof n === 'number' ? n : len;
          const x = randn([rows, width], rows * 7 + width);
          const launch = symLaunchFn(g.meta)(new Map([['s0', rows], ['s1', width]]));
          const bytes = rows * width * 4;
          const [out] = emu.run({
            buffers: [{ bytes, data: bytesOf(x.toTypedArraySync()) }, { bytes }],
            steps: [{ kind: 'launch', kernel: 0, grid: launch.grid, block: launch.block, args: [0, 1], sizes: launch.sizes }],
            outputs: [1],
          });
          const got = new Float32Array(out!.buffer, out!.byteOffset, rows * width);
          const xs = x.toTypedArraySync() as Float32Array;
          for (let r = 0; r < rows; r++) {
            let run = 0;
            for (let step = 0; step < width; step++) {
              const i = r * width + (reverse ? width - 1 - step : step);
              const before = run;
              run += xs[i]!;
              const want = exclusive ? before : run;
              assert.ok(Math.abs(got[i]! - want) <= 1e-4 * (1 + Math.abs(want)), `${label} exclusive=${exclusive} reverse=${reverse} [${rows},${width}] at (${r}, ${i - r * width}): ${got[i]} vs ${want}`);
            }
          }
        }
      }
    }
  }
});
