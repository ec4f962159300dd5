// CUDA codegen without a GPU (as in CI): whole programs are scheduled, generated as CUDA C and
// compiled to cubin for sm_90 in the workers (nvcc here, NVRTC where present), and every
// kernel of the plan comes back as a CUDA ELF image. Running them needs the GPU suite.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { compileGraph } from '../src/api/program.js';
import { DEFAULT_CUBLAS_MIN_MACS } from '../src/backends/cuda/backend.js';
import { generateCuda } from '../src/backends/cuda/codegen.js';
import { findNvcc, findNvrtc } from '../src/backends/cuda/toolchain.js';
import { needs } from './prereq.js';
import { openCache } from '../src/cache/open_cache.js';
import { trace, type TracedFn } from '../src/frontend/trace.js';
import { NDArray } from '../src/graph/ndarray.js';
import { Tensor } from '../src/frontend/tensor.js';
import type { DType } from '../src/graph/dtype.js';
import { layerNorm } from '../src/index.js';
import { gatherND } from '../src/onnx/ops/indexing.js';
import { counters, resetCounters } from '../src/observe/counters.js';
import { finalize } from '../src/schedule/finalize.js';
import { formKernels } from '../src/schedule/fuse.js';
import { realize } from '../src/schedule/realize.js';
import { randInt, randn } from './helpers.js';
import { loadOnnx } from '../src/api/load_onnx.js';
import { Graph } from '../src/graph/ir.js';
import { GraphBuilder } from '../src/graph/builder.js';
import { type Attr, ModelBuilder, singleOpModel, smallConvNet } from './fixtures/conv_nets.js';
import { intData } from './int_data.js';

const skip = needs('nvcc', findNvcc() !== undefined || findNvrtc() !== undefined, 'a CUDA compiler: nvcc or NVRTC');
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-cuda-codegen-'));
process.on('exit', () => fs.rmSync(cacheDir, { recursive: true, force: true }));

const w = randn([24, 16], 3);
/** Normal data stored as a half type (values rounded to it). */
const randHalf = (shape: number[], seed: number, dtype: 'float16' | 'bfloat16') => NDArray.from(randn(shape, seed).toTypedArraySync(), shape, { dtype });
const programs: [string, TracedFn, NDArray[]][] = [
  ['pointwise chain with broadcasting (vectorized path)', (a, b) => a.mul(1.5).add(b!).gelu().sigmoid(), [randn([64, 256], 1), randn([256], 2)]],
  ['row softmax, log-softmax and layer norm', (a) => [a.softmax(-1), a.logSoftmax(-1), layerNorm(a, [256])], [randn([64, 256], 4)]],
  ['long rows (strided reduction loop)', (a) => a.softmax(-1), [randn([2, 50257], 5)]],
  ['matmul + bias + relu (cuBLAS epilogue or tiled GEMM)', (a) => a.matmul(w).add(1).relu(), [randn([33, 24], 6)]],
  ['split reductions: whole-tensor sum/max/argmax, 3 long rows', (a, b) => [a.sum(), a.max(), a.argmax(), b!.mean(-1), b!.argmin(-1)], [randn([1 << 18], 9), randn([3, 70_001], 10)]],
  ['column reductions: sum/argmax over the leading axis, with and without a split', (a, b) => [a.sum(0), a.argmax(0), b!.max(0)], [randn([4096, 300], 11), randn([40, 1000], 12)]],
  ['block scans over long rows: cumsum inclusive/exclusive/reverse, float32 and int64', (a, b) => [a.cumsum(-1), a.cumsum(-1, true, true), b!.cumsum(1)], [randn([3, 5000], 13), randInt([4, 300], -5, 5, 14, 'int64')]],
  ['batched attention scores, argmax, cumsum, float64', (q, k) => [q.matmul(k!.transpose(-1, -2)).softmax(-1), q.argmax(-1), q.cumsum(1), q.to('float64').exp()], [randn([2, 9, 24], 7), randn([2, 11, 24], 8)]],
  [
    'integer dtypes: wrap-around, guarded division, saturating casts, narrow sums in uint32_t, unsigned argmax, split and column reductions, tiled GEMM',
    (a, b, f, u, w, c) => [
      a.mul(3).sub(a.neg()), a.div(b!.to('int8'), 'trunc'), b!.remainder(b!.add(1)), b!.pow(2), f!.to('uint8'), f!.to('uint64'), b!.to('float16'),
      a.sum(-1), a.prod(-1), b!.max(-1), a.argmax(-1), b!.cumsum(1), a.sum(-1, true).sub(a).max(-1),
      u!.sum(), u!.max(), u!.argmin(), c!.sum(0), c!.argmax(0), c!.min(0), a.matmul(w!).add(1),
    ],
    [intData('int8', [64, 256], 1), intData('uint16', [64, 256], 2), randn([64, 256], 3), intData('uint64', [1 << 18], 4), intData('uint8', [256, 32], 5), intData('uint32', [4096, 300], 6)],
  ],
  [
    'float16 and bfloat16: pointwise and casts, row softmax and sums, cumsum, argmax, tiled GEMM',
    (h, b, hw) => [h.mul(b!.to('float16')).gelu(), h.softmax(-1), b!.sum(-1), h.cumsum(1), b!.argmax(-1), h.matmul(hw!).relu(), h.to('float64').add(b!), b!.to('float16')],
    [randHalf([64, 256], 9, 'float16'), randHalf([64, 256], 10, 'bfloat16'), randHalf([256, 32], 11, 'float16')],
  ],
  [
    'scatters (every reduction; float32, int32, float16, bool) and GatherND with batch dims',
    (d, i, u, e, ei, eu, h, hu, bl, bu, g, gi) => {
      const b = d!.tracer.b;
      const T = (id: number) => new Tensor(d!.tracer, id);
      return [
        ...(['none', 'add', 'mul', 'max', 'min'] as const).map((r) => T(b.scatterND(d!.id, i!.id, u!.exp().id, r))),
        ...(['none', 'add', 'mul', 'max', 'min'] as const).map((r) => T(b.scatterElements(e!.id, ei!.id, eu!.id, -1, r)).add(1)),
        T(b.scatterElements(h!.id, ei!.id, hu!.id, 1, 'max')),
        T(b.scatterND(bl!.id, i!.id, bu!.id, 'add')),
        T(gatherND(b, g!.id, gi!.id, 1)).relu(),
      ];
    },
    [
      randn([40, 300], 15), randInt([90, 1], -40, 40, 16, 'int64'), randn([90, 300], 17),
      intData('int32', [64, 50], 18), randInt([64, 80], -50, 50, 19, 'int64'), intData('int32', [64, 80], 20),
      randHalf([64, 50], 21, 'float16'), randHalf([64, 80], 22, 'float16'),
      NDArray.from(new Uint8Array(40 * 300), [40, 300], { dtype: 'bool' }), NDArray.from(new Uint8Array(90 * 300), [90, 300], { dtype: 'bool' }),
      randn([8, 30, 64], 23), randInt([8, 5, 1], -30, 30, 24, 'int64'),
    ],
  ],
];

for (const [name, fn, inputs] of programs) {
  test(`CUDA compile-only: ${name}`, { skip }, async () => {
    resetCounters();
    const traced = trace(fn, inputs.map((x) => ({ shape: x.shape, dtype: x.dtype })));
    const program = await compileGraph(traced, { device: 'cuda', arch: 'sm_90', compileOnly: true, cacheDir, workers: 2 });
    assert.ok(program.kernelCount > 0);
    assert.equal(counters().kernels_generated, program.kernelCount);
    const store = openCache({ cacheDir }).kernels;
    for (const k of program.plan.kernels) {
      const bin = store.get(k.key);
      assert.ok(bin, `kernel ${k.name} is in the kernel cache after a compile-only run`);
      assert.deepEqual([...bin.binary.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], `${k.name} is an ELF image`);
      assert.equal(bin.binary[18]! | (bin.binary[19]! << 8), 190, `${k.name} is a CUDA (EM_CUDA = 190) binary`);
      assert.equal(bin.backend, 'cuda');
    }
    await assert.rejects(() => program.run(inputs), /compileOnly: it cannot run/);
  });
}

/** The CUDA kernels of a traced program, generated with a given cuBLAS threshold. */
function cudaKernels(fn: TracedFn, shapes: number[][], cublasMinMacs: number, dtypes: DType[] = []) {
  const t = trace(fn, shapes.map((shape, i) => ({ shape, dtype: dtypes[i] ?? 'float32' })));
  const r = realize(t.graph);
  const f = finalize(t.graph, r, formKernels(t.graph, r));
  return f.kernels.map((k) => generateCuda(k, cublasMinMacs));
}

test('small products take the generated GEMM (epilogue fused, no cuBLAS); large ones cuBLAS', () => {
  const small = randn([24, 16], 21);
  const big = randn([512, 384], 22);
  const smallFn: TracedFn = (a) => a.matmul(small).add(1).relu();
  const bigFn: TracedFn = (a) => a.matmul(big).add(1).relu();
  // 33·24·16 = 12,672 multiply-adds: far below the default threshold.
  const [s] = cudaKernels(smallFn, [[33, 24]], DEFAULT_CUBLAS_MIN_MACS);
  assert.equal(s!.meta.gemm, undefined, 'a small product is one generated kernel');
  assert.match(s!.source, /__shared__/, 'the generated kernel is the tiled GEMM');
  // 256·512·384 = 50M multiply-adds: cuBLAS plus an epilogue kernel.
  const [b] = cudaKernels(bigFn, [[256, 512]], DEFAULT_CUBLAS_MIN_MACS);
  assert.deepEqual([b!.meta.gemm?.M, b!.meta.gemm?.N, b!.meta.gemm?.K], [256, 384, 512]);
  // Threshold 0 sends even the small product to cuBLAS; Infinity (no cuBLAS) none.
  assert.ok(cudaKernels(smallFn, [[33, 24]], 0)[0]!.meta.gemm);
  assert.equal(cudaKernels(bigFn, [[256, 512]], Infinity)[0]!.meta.gemm, undefined);
});

test('few long rows split over many blocks with a workspace; many rows or row-wise stores do not', () => {
  const [sum] = cudaKernels((a) => a.sum(), [[1 << 20]], DEFAULT_CUBLAS_MIN_MACS);
  assert.deepEqual(sum!.meta.launch.grid, [256, 1, 1], 'one row of 2^20: 256 blocks of 4096 elements');
  assert.ok(sum!.meta.workspace! >= 256 * 4 + 4, 'partials and a counter');
  assert.match(sum!.source, /atomicAdd/);
  const [three] = cudaKernels((a) => a.argmax(-1), [[3, 100_000]], DEFAULT_CUBLAS_MIN_MACS);
  assert.deepEqual(three!.meta.launch.grid, [24, 3, 1], '3 rows of 100,000: 24 blocks each (100,000 / 4096)');
  // 1000 rows fill the card one block per row; softmax's phases need the whole row: no split.
  assert.equal(cudaKernels((a) => a.sum(-1), [[1000, 100_000]], DEFAULT_CUBLAS_MIN_MACS)[0]!.meta.workspace, undefined);
  assert.equal(cudaKernels((a) => a.softmax(-1), [[2, 100_000]], DEFAULT_CUBLAS_MIN_MACS)[0]!.meta.workspace, undefined);
});

test('reductions over a leading axis read along columns (32 neighbouring outputs per warp)', () => {
  const [big] = cudaKernels((a) => a.sum(0), [[8192, 8192]], DEFAULT_CUBLAS_MIN_MACS);
  assert.deepEqual(big!.meta.launch, { grid: [256, 4, 1], block: [32, 16, 1], shared: 0 }, '256 tiles of 32 outputs, the 8192 steps split 4 ways');
  assert.ok(big!.meta.workspace! > 0);
  const [small] = cudaKernels((a) => a.sum(0), [[100, 40]], DEFAULT_CUBLAS_MIN_MACS);
  assert.deepEqual(small!.meta.launch.grid, [2, 1, 1], 'too few steps to split');
  assert.equal(small!.meta.workspace, undefined);
  // Rows read contiguously stay row kernels.
  assert.equal(cudaKernels((a) => a.sum(-1), [[8192, 8192]], DEFAULT_CUBLAS_MIN_MACS)[0]!.meta.launch.block[0], 1024);
});

test('NVRTC has no <stdint.h>: every fixed-width type a kernel names is typedef\'d in its __CUDACC_RTC__ prelude', () => {
  // nvcc compiles with <stdint.h> (the other branch), so the compile-only tests above cannot
  // see a missing typedef: this checks the NVRTC branch by reading the source.
  const kernels = [
    ...cudaKernels((a, b, f) => [a.add(b!.to('int8')).mul(a), a.div(a, 'trunc'), b!.remainder(b!), f!.to('uint32'), a.sum(-1), b!.argmax(-1), a.matmul(a.transpose(0, 1))], [[40, 40], [40, 40], [40, 40]], Infinity, ['int8', 'uint16', 'float32']),
    ...cudaKernels((u, v) => [u.sum(), u.max(0), u.to('float16'), v.add(1).to('int16')], [[300, 300], [300, 300]], Infinity, ['uint64', 'float16']),
    ...cudaKernels((a) => a.mul(2).softmax(-1), [[33, 100]], Infinity),
    ...cudaKernels(
      (d, i, u, e, eu) => [new Tensor(d.tracer, d.tracer.b.scatterND(d.id, i!.id, u!.id, 'mul')), new Tensor(d.tracer, d.tracer.b.scatterElements(e!.id, i!.id, eu!.id, 0, 'max'))],
      [[20, 30], [25, 1], [25, 30], [20, 1], [25, 1]],
      Infinity,
      ['int8', 'int64', 'int8', 'uint16', 'uint16'],
    ),
  ];
  const rtcBlocks = /#ifdef __CUDACC_RTC__\n([\s\S]*?)(?:#else|#endif)/g;
  let checked = 0;
  for (const k of kernels) {
    const defined = new Set([...k.source.matchAll(rtcBlocks)].flatMap((m) => [...m[1]!.matchAll(/typedef [\w ]+ (\w+);/g)].map((t) => t[1]!)));
    const outside = k.source.replace(rtcBlocks, '').replace(/#else[\s\S]*?#endif/g, '');
    for (const [name] of outside.matchAll(/\bu?int(?:8|16|32|64)_t\b/g)) {
      assert.ok(defined.has(name), `${name} is used but not typedef'd for NVRTC in:\n${k.source}`);
      checked++;
    }
  }
  assert.ok(checked > 0);
});

test('float32 kernels carry no integer helpers or typedefs (their sources, and cache keys, are what they were)', () => {
  for (const k of cudaKernels((a, w) => [a.matmul(w!).add(1).relu(), a.softmax(-1), a.sum(0), a.to('int32')], [[33, 24], [24, 16]], Infinity)) {
    assert.doesNotMatch(k.source, /\bkiln_(idiv|udiv|imod|ifmod|umod|upow|ipow_w)\(|typedef (signed char|short|unsigned short|unsigned int|unsigned long long) /);
  }
});

test('values read through registers keep their float type: pow is powf of preloaded rows and float4 lanes, never the integer power', () => {
  // A row kernel's x ** 2.5 (rows preloaded into registers) and a pointwise x ** 1.5 (float4
  // lanes): on the GPU the integer power of such values made LLaMA-style decoders wrong.
  // RMSNorm's x ** 2 and GELU's x ** 3 are products of the float value (lower/inline.ts).
  const [row] = cudaKernels((x) => x.pow(2.5).mean(-1), [[4, 64]], DEFAULT_CUBLAS_MIN_MACS);
  const [lanes] = cudaKernels((x) => x.pow(1.5).add(x.remainder(0.5)).maximum(x.isnan().to('float32')), [[64, 256]], DEFAULT_CUBLAS_MIN_MACS);
  const [square] = cudaKernels((x) => x.pow(2).mean(-1), [[4, 64]], DEFAULT_CUBLAS_MIN_MACS);
  const [cube] = cudaKernels((x) => x.pow(3).add(1), [[64, 256]], DEFAULT_CUBLAS_MIN_MACS);
  for (const k of [row!, lanes!, square!, cube!]) {
    const body = k.source.slice(k.source.indexOf('__global__'));
    assert.match(body, k === square || k === cube ? /const float t\d+ = \((\S+) \* \1\);/ : /powf\(/);
    assert.doesNotMatch(body, /kiln_ipow|kiln_imod_py|\(uint8_t\)0/);
    if (k === square || k === cube) assert.doesNotMatch(body, /powf\(/);
  }
  assert.match(row!.source, /P0\[u\]/, 'the row kernel preloads its row');
  assert.match(square!.source, /P0\[u\]/, 'the row kernel preloads its row');
  assert.match(lanes!.source, /float4/, 'the pointwise kernel reads float4 lanes');
});

// ---- convolution and pooling ---------------------------------------------------------------

/** The traced graph of an ONNX model (test/fixtures/conv_nets.ts) for a float32 input. */
function onnxGraph(bytes: Uint8Array, shape: number[]) {
  return loadOnnx(bytes).graphFor({ x: NDArray.from(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape) })!.traced;
}

function cudaKernelsOf(traced: ReturnType<typeof onnxGraph>, cublasMinMacs: number) {
  const r = realize(traced.graph);
  const f = finalize(traced.graph, r, formKernels(traced.graph, r));
  return f.kernels.map((k) => ({ k, g: generateCuda(k, cublasMinMacs) }));
}

const convModels: [string, Uint8Array, number[]][] = (() => {
  const conv = (x: number[], M: number, kernel: number[], attrs: Attr[], group = 1) => {
    const b = new ModelBuilder('x', x);
    const y = b.node('Relu', [b.conv('x', x[1]!, M, kernel, attrs, { group })])[0]!;
    return b.encode([y]);
  };
  const p = (n: number, r = 2) => [{ name: 'pads', ints: new Array<number>(2 * r).fill(n) }];
  return [
    ['dense 3×3 conv + bias + ReLU (implicit GEMM)', conv([2, 16, 20, 20], 32, [3, 3], p(1)), [2, 16, 20, 20]],
    ['grouped 3×3 conv, groups 2 (implicit GEMM, groups a batch dim)', conv([1, 32, 14, 14], 64, [3, 3], p(1), 2), [1, 32, 14, 14]],
    ['16×16 stride 16 patch embedding (implicit GEMM, no padding)', conv([1, 3, 64, 64], 64, [16, 16], [{ name: 'strides', ints: [16, 16] }]), [1, 3, 64, 64]],
    ['3×3 depthwise stride 2 (thread-per-output reduction)', conv([1, 64, 56, 56], 64, [3, 3], [...p(1), { name: 'strides', ints: [2, 2] }], 64), [1, 64, 56, 56]],
    ['7×7 depthwise (thread-per-output reduction)', conv([1, 96, 28, 28], 96, [7, 7], p(3), 96), [1, 96, 28, 28]],
    ['3-D conv', conv([1, 4, 8, 8, 8], 8, [3, 3, 3], p(1, 3)), [1, 4, 8, 8, 8]],
    ['max pool with indices', singleOpModel([1, 8, 32, 32], 'MaxPool', [{ name: 'kernel_shape', ints: [3, 3] }, { name: 'strides', ints: [2, 2] }, { name: 'pads', ints: [1, 1, 1, 1] }], [], 2), [1, 8, 32, 32]],
    ['average pool, pads not counted, ceil mode', singleOpModel([1, 8, 33, 33], 'AveragePool', [{ name: 'kernel_shape', ints: [3, 3] }, { name: 'strides', ints: [2, 2] }, { name: 'pads', ints: [1, 1, 1, 1] }, { name: 'ceil_mode', i: 1 }]), [1, 8, 33, 33]],
    ['small MobileNet-like net', smallConvNet(0.5).bytes, smallConvNet(0.5).inputShape],
  ];
})();

for (const [name, bytes, shape] of convModels) {
  test(`CUDA compile-only: ${name}`, { skip }, async () => {
    const traced = onnxGraph(bytes, shape);
    const program = await compileGraph(traced, { device: 'cuda', arch: 'sm_90', compileOnly: true, cacheDir, workers: 2 });
    const store = openCache({ cacheDir }).kernels;
    for (const k of program.plan.kernels) {
      const bin = store.get(k.key);
      assert.ok(bin, `kernel ${k.name} compiled`);
      assert.equal(bin.binary[18]! | (bin.binary[19]! << 8), 190, `${k.name} is a CUDA binary`);
    }
  });
}

test('CUDA: convs are one kernel each: implicit GEMMs take the generated tiled GEMM (never cuBLAS), depthwise convs and pools a thread per output', () => {
  const [dense, grouped, patch, dw3, dw7, , maxpool, avgpool] = convModels.map(([, bytes, shape]) => cudaKernelsOf(onnxGraph(bytes, shape), 0));
  for (const ks of [dense!, grouped!, patch!]) {
    assert.equal(ks.length, 1, 'conv + bias + ReLU: one kernel');
    assert.equal(ks[0]!.k.kind, 'matmul');
    assert.equal(ks[0]!.g.meta.gemm, undefined, 'no cuBLAS for an implicit operand, even at threshold 0');
    assert.match(ks[0]!.g.source, /__shared__/);
    assert.match(ks[0]!.g.source, /r0 = p0 \+ kk/, 'the B tile is staged from the index expression');
  }
  assert.deepEqual(grouped![0]!.g.meta.launch.grid.slice(2), [2], 'groups: the grid z');
  for (const ks of [dw3!, dw7!, maxpool!, avgpool!]) {
    assert.equal(ks.length, 1);
    assert.deepEqual(ks[0]!.g.meta.launch.block, [256, 1, 1], 'one thread per output');
    assert.doesNotMatch(ks[0]!.g.source, /kiln_shfl_xor\(acc/, 'no warp shuffles');
  }
  // Short rows of contiguous points (neighbouring outputs 32 elements apart) stay a warp's.
  assert.deepEqual(cudaKernels((a) => a.sum(-1), [[4096, 32]], DEFAULT_CUBLAS_MIN_MACS)[0]!.meta.launch.block, [32, 8, 1]);
});

test('KILN_IM2COL_MIN_MACS (Backend.im2colMinMacs): a big conv materialises im2col in one kernel and cuBLAS takes the product', () => {
  const b = new ModelBuilder('x', [1, 64, 28, 28]);
  const y = b.node('Relu', [b.conv('x', 64, 64, [3, 3], [{ name: 'pads', ints: [1, 1, 1, 1] }])])[0]!;
  const traced = onnxGraph(b.encode([y]), [1, 64, 28, 28]);
  const r = realize(traced.graph, { im2colMinMacs: 1 << 22 });
  const ks = finalize(traced.graph, r, formKernels(traced.graph, r)).kernels;
  assert.deepEqual(ks.map((k) => k.kind), ['loops', 'matmul'], 'im2col, then the product with bias and ReLU');
  const g = generateCuda(ks[1]!, DEFAULT_CUBLAS_MIN_MACS);
  assert.deepEqual([g.meta.gemm?.M, g.meta.gemm?.N, g.meta.gemm?.K], [64, 784, 576]);
  // Below the threshold: implicit.
  const small = realize(traced.graph, { im2colMinMacs: 1 << 30 });
  assert.equal(finalize(traced.graph, small, formKernels(traced.graph, small)).kernels.length, 1);
});

test('CUDA compile-only: window views of float16, float64 and int8 data (thread-per-output max pool, implicit GEMM widening half operands)', { skip }, async () => {
  for (const dt of ['float16', 'float64', 'int8'] as const) {
    const g = new Graph();
    const b = new GraphBuilder(g);
    // 16×16: the product (295K multiply-adds) stays under the 1M at which a conv with few
    // output tiles takes im2col + cuBLAS by default, so it is the implicit GEMM under test.
    const x = b.input('x', [1, 16, 16, 16], dt);
    const w = b.input('w', [8, 144], dt);
    const win = b.window(x, [2, 3].map((dim) => ({ dim, k: 3, padBefore: 1, padAfter: 1 })), 0);
    const pooled = b.reduce('max', win, [4, 5], false);
    const cols = b.reshape(b.permute(win, [0, 1, 4, 5, 2, 3]), [1, 144, 256]);
    g.outputs = [pooled, b.binary('add', b.reshape(b.matmul(w, cols), [1, 8, 16, 16]), b.scalar(1, dt))];
    const program = await compileGraph({ graph: g, params: [], returnsArray: true }, { device: 'cuda', arch: 'sm_90', compileOnly: true, cacheDir, workers: 2 });
    assert.equal(program.kernelCount, 2, dt);
  }
});

test('by default on CUDA, a conv whose product has few output tiles or a deep reduction goes through im2col + cuBLAS, one that fills the GPU stays an implicit GEMM', async () => {
  const { CudaBackend } = await import('../src/backends/cuda/backend.js');
  const backend = new CudaBackend({ compileOnly: true, arch: 'sm_90' });
  assert.equal(backend.im2colMinMacs, 1 << 20);
  assert.equal(backend.im2colMaxTiles, 128);
  assert.equal(backend.im2colMinDepth, 1024);
  assert.match(backend.identity, /im2col>=1048576,tiles<128\|K>=1024/);
  const opts = { im2colMinMacs: backend.im2colMinMacs, im2colMaxTiles: backend.im2colMaxTiles, im2colMinDepth: backend.im2colMinDepth };
  const kinds = (x: number[], M: number, kernel: number[], attrs: Attr[]) => {
    const b = new ModelBuilder('x', x);
    const y = b.node('Relu', [b.conv('x', x[1]!, M, kernel, attrs)])[0]!;
    const traced = onnxGraph(b.encode([y]), x);
    const r = realize(traced.graph, opts);
    return finalize(traced.graph, r, formKernels(traced.graph, r)).kernels.map((k) => k.kind);
  };
  // ResNet-18's layer 3 at batch 1: M 256, N 196: 16 tiles, 116M multiply-adds.
  assert.deepEqual(kinds([1, 256, 14, 14], 256, [3, 3], [{ name: 'pads', ints: [1, 1, 1, 1] }]), ['loops', 'matmul']);
  // Its 7×7 stride-2 stem: M 64, N 12544: 196 tiles.
  assert.deepEqual(kinds([1, 3, 224, 224], 64, [7, 7], [{ name: 'pads', ints: [3, 3, 3, 3] }, { name: 'strides', ints: [2, 2] }]), ['matmul']);
  // Below 1M multiply-adds: implicit, whatever the tiles.
  assert.deepEqual(kinds([1, 16, 8, 8], 16, [3, 3], [{ name: 'pads', ints: [1, 1, 1, 1] }]), ['matmul']);
  // Whisper's second conv (1-D as [1, 512, 1, 3000], kernel 1×3, stride 2): M 512, N 1500 is
  // 192 tiles, but K = 1536: im2col + cuBLAS. Its first (80 mel bins, K = 240) stays implicit.
  const whisper2 = [{ name: 'pads', ints: [0, 1, 0, 1] }, { name: 'strides', ints: [1, 2] }];
  assert.deepEqual(kinds([1, 512, 1, 3000], 512, [1, 3], whisper2), ['loops', 'matmul']);
  assert.deepEqual(kinds([1, 80, 1, 3000], 512, [1, 3], [{ name: 'pads', ints: [0, 1, 0, 1] }]), ['matmul']);
});

// Issue 14 item 9: a CUDA thread that may take more than 4096 points of a float32 sum adds
// them to block partials (reduce_ops.ts threadLoop), in row, split and column reductions;
// shorter per-thread loops, and float64 sums, keep their source. (Reductions use shuffles and
// barriers, so the emulation harness cannot run them: generated and compiled here.)
test('CUDA float32 sums whose threads take more than 4096 points accumulate in block partials (row, split, column kernels)', { skip }, async () => {
  const g = new Graph();
  const b = new GraphBuilder(g);
  const rows = b.input('rows', [128, 1 << 23], 'float32');
  const whole = b.input('whole', [1 << 30], 'float32');
  const cols = b.input('cols', [1 << 17, 32768], 'float32');
  const half = b.input('half', [129, 1 << 23], 'float16');
  const dbl = b.input('dbl', [130, 1 << 23], 'float64');
  g.outputs = [b.reduce('sum', rows, [1], false), b.reduce('sum', whole, undefined, false), b.reduce('sum', cols, [0], false), b.reduce('sum', half, [1], false), b.reduce('sum', dbl, [1], false)];
  const r = realize(g);
  const f = finalize(g, r, formKernels(g, r));
  const srcs = f.kernels.map((k) => generateCuda(k, DEFAULT_CUBLAS_MIN_MACS));
  assert.equal(srcs.length, 5);
  const [row, split, col, hrow, drow] = srcs;
  for (const [name, s] of [['row', row], ['split', split], ['column', col], ['float16 row', hrow]] as const) {
    assert.match(s!.source, /float bacc\d+ = 0;/, `${name}: block partial`);
    assert.match(s!.source, /acc\d+v \+= bacc\d+;/, `${name}: folded into the accumulator`);
  }
  assert.ok(split!.meta.workspace, 'the whole-tensor sum is a split reduction');
  assert.doesNotMatch(drow!.source, /bacc/, 'float64 sums keep one accumulator');
  // Short per-thread loops are unchanged.
  assert.doesNotMatch(cudaKernels((a) => a.sum(-1), [[128, 1 << 20]], DEFAULT_CUBLAS_MIN_MACS)[0]!.source, /bacc/);
  const program = await compileGraph({ graph: g, params: [], returnsArray: true }, { device: 'cuda', arch: 'sm_90', compileOnly: true, cacheDir, workers: 2 });
  assert.equal(program.kernelCount, 5, 'every kernel compiles');
});
