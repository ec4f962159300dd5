// The CUDA code of scatter and gather programs run without a GPU: each kernel's generated CUDA C
// is compiled as host C++ (g++) behind a shim that defines blockIdx/threadIdx and the few
// intrinsics the preludes call, and every launch of the plan runs its grid block by block,
// thread by thread, on the plan's buffers (temporaries at their arena offsets, outputs and
// temporaries poisoned first). The results must match the reference interpreter. This is only
// sound for kernels whose threads never talk to each other (pointwise and scatter kernels:
// no shared memory, barriers, shuffles or atomics), which the test asserts; it checks their
// indexing, guards and update order, not the GPU's memory model.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { generateCuda } from '../src/backends/cuda/codegen.js';
import { cStorageType } from '../src/backends/c_expr.js';
import { KERNEL_NAME_PLACEHOLDER } from '../src/schedule/backend.js';
import { NDArray } from '../src/graph/ndarray.js';
import { Tensor } from '../src/frontend/tensor.js';
import { trace, type TracedFn } from '../src/frontend/trace.js';
import { byteSize, numbersToTyped, type AnyTypedArray } from '../src/graph/dtype.js';
import { interpret } from '../src/graph/interpret.js';
import type { ScatterReduction } from '../src/graph/ir.js';
import { numel } from '../src/graph/shape.js';
import { gatherND } from '../src/onnx/ops/indexing.js';
import { finalize } from '../src/schedule/finalize.js';
import { formKernels } from '../src/schedule/fuse.js';
import { realize } from '../src/schedule/realize.js';
import { assertMatches, randInt, randn, randu } from './helpers.js';
import { needs } from './prereq.js';
import { HOST_CUDA_SHIM } from './cuda_block_emulator.js';

const gxx = ['/usr/bin/g++', '/usr/bin/c++'].find((p) => fs.existsSync(p));
const skip = needs('g++', gxx !== undefined, 'the host C++ compiler that runs the emulated kernels');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-cuda-emu-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));

const SHIM = `${HOST_CUDA_SHIM}template <typename T> T __shfl_xor_sync(unsigned, T v, int) { return v; }
`;

/** Runs `fn`'s CUDA kernels on the host and checks every output against the interpreter. */
async function emulate(label: string, fn: TracedFn, inputs: NDArray[], kinds?: string[], expect?: number[][]): Promise<void> {
  const t = trace(fn, inputs.map((x) => ({ shape: x.shape, dtype: x.dtype })));
  const r = realize(t.graph);
  const f = finalize(t.graph, r, formKernels(t.graph, r));
  if (kinds) assert.deepEqual(f.kernels.map((k) => k.kind), kinds, `${label}: kernel kinds`);
  const all = [...inputs, ...t.params];
  const bytesOf = (a: AnyTypedArray) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  // Buffer contents in, plan order: inputs and parameters by index, constants from the plan.
  const blobs: Buffer[] = [];
  const offsets: number[] = [];
  let total = 0;
  for (const b of f.buffers) {
    offsets.push(total);
    const size = numel(b.shape) * byteSize(b.dtype);
    let blob: Buffer;
    if (b.kind === 'input') blob = bytesOf(inputs[b.index!]!.toTypedArraySync());
    else if (b.kind === 'param') blob = bytesOf(t.params[b.index!]!.toTypedArraySync());
    else if (b.kind === 'const') blob = bytesOf(numbersToTyped(b.dtype, b.data!));
    else blob = Buffer.alloc(b.kind === 'temp' ? 0 : size, 0xab);
    blobs.push(blob);
    total += blob.length;
  }
  const src: string[] = [SHIM];
  const calls: string[] = [];
  f.kernels.forEach((k, i) => {
    const g = generateCuda(k, Infinity);
    const body = g.source.slice(g.source.indexOf('extern "C"'));
    assert.ok(!/__syncthreads|__shared__|shfl|atomic/.test(body) && !g.meta.gemm && !g.meta.workspace, `${label}: kernel ${i} (${k.kind}) has threads that cooperate: it cannot be emulated`);
    src.push(g.source.split(KERNEL_NAME_PLACEHOLDER).join(`kern${i}`).replace(/extern "C" /, ''));
    const { grid, block } = g.meta.launch;
    const args = f.args[i]!.map((b, p) => `(${cStorageType(k.bufs[p]!.dtype)}*)buf[${b}]`).join(', ');
    calls.push(
      `  gridDim = {${grid.join('u, ')}u}; blockDim = {${block.join('u, ')}u};`,
      `  for (unsigned bz = 0; bz < gridDim.z; bz++) for (unsigned by = 0; by < gridDim.y; by++) for (unsigned bx = 0; bx < gridDim.x; bx++)`,
      `    for (unsigned tz = 0; tz < blockDim.z; tz++) for (unsigned ty = 0; ty < blockDim.y; ty++) for (unsigned tx = 0; tx < blockDim.x; tx++) {`,
      `      blockIdx = {bx, by, bz}; threadIdx = {tx, ty, tz}; kern${i}(${args});`,
      '    }',
    );
  });
  const sizes = f.buffers.map((b) => numel(b.shape) * byteSize(b.dtype));
  src.push(
    'int main(int argc, char** argv) {',
    `  static const long sizes[] = {${sizes.join(', ')}};`,
    `  static const long offsets[] = {${offsets.join(', ')}};`,
    `  static const int kinds[] = {${f.buffers.map((b) => (b.kind === 'temp' ? 1 : 0)).join(', ')}};`,
    `  static const long arenaOffsets[] = {${f.buffers.map((b) => b.offset ?? 0).join(', ')}};`,
    `  const int n = ${f.buffers.length};`,
    `  unsigned char* in = (unsigned char*)malloc(${Math.max(total, 1)}); FILE* fi = fopen(argv[1], "rb"); if (fread(in, 1, ${total}, fi) != ${total}u) return 2; fclose(fi);`,
    `  unsigned char* arena = (unsigned char*)aligned_alloc(64, ${Math.max(64, Math.ceil(f.arenaBytes / 64) * 64)}); memset(arena, 0xab, ${Math.max(64, f.arenaBytes)});`,
    '  void* buf[n > 0 ? n : 1];',
    '  for (int b = 0; b < n; b++) {',
    '    if (kinds[b]) { buf[b] = arena + arenaOffsets[b]; continue; }',
    '    buf[b] = aligned_alloc(64, (sizes[b] + 63) / 64 * 64 + 64); memcpy(buf[b], in + offsets[b], sizes[b]);',
    '  }',
    ...calls,
    `  FILE* fo = fopen(argv[2], "wb");`,
    ...f.outputs.map((b) => `  fwrite(buf[${b}], 1, sizes[${b}], fo);`),
    '  fclose(fo);',
    '  return 0;',
    '}',
  );
  const stem = path.join(work, label.replace(/\W+/g, '_'));
  fs.writeFileSync(`${stem}.cpp`, src.join('\n'));
  fs.writeFileSync(`${stem}.in`, Buffer.concat(blobs));
  execFileSync(gxx!, ['-O1', '-std=c++17', '-fno-strict-aliasing', '-w', `${stem}.cpp`, '-o', `${stem}.exe`, '-lm']);
  execFileSync(`${stem}.exe`, [`${stem}.in`, `${stem}.out`]);
  const out = fs.readFileSync(`${stem}.out`);
  // Outputs the reference cannot give (it throws on a bad gather index) are given by the test.
  const refs = expect ? undefined : interpret(t.graph, all);
  let at = 0;
  for (const [i, b] of f.outputs.entries()) {
    const buf = f.buffers[b]!;
    const size = numel(buf.shape) * byteSize(buf.dtype);
    const copy = new Uint8Array(out.subarray(at, at + size));
    at += size;
    const arr = NDArray.from(typedFrom(buf.dtype, copy.buffer), buf.shape, { dtype: buf.dtype });
    if (expect) assert.deepEqual(arr.toArraySync(), expect[i], `${label}: output ${i}`);
    else await assertMatches(arr, refs![i]!, { label: `${label}: output ${i}` });
  }
}

function typedFrom(dt: string, b: ArrayBuffer): AnyTypedArray {
  switch (dt) {
    case 'float32': return new Float32Array(b);
    case 'float64': return new Float64Array(b);
    case 'int32': return new Int32Array(b);
    case 'int64': return new BigInt64Array(b);
    case 'float16': case 'bfloat16': case 'uint16': return new Uint16Array(b);
    case 'int16': return new Int16Array(b);
    case 'int8': return new Int8Array(b);
    case 'uint32': return new Uint32Array(b);
    case 'uint64': return new BigUint64Array(b);
    default: return new Uint8Array(b);
  }
}

const REDUCTIONS: ScatterReduction[] = ['none', 'add', 'mul', 'max', 'min'];
const T = (like: Tensor, id: number) => new Tensor(like.tracer, id);

test('CUDA scatter kernels, emulated: ScatterND slices and elements, every reduction, duplicates and negative indices', { skip }, async () => {
  await emulate(
    'scatternd',
    (d, i, u, j, v) => [
      ...REDUCTIONS.map((r) => T(d!, d!.tracer.b.scatterND(d!.id, i!.id, u!.id, r))),
      ...REDUCTIONS.map((r) => T(d!, d!.tracer.b.scatterND(d!.id, j!.id, v!.id, r))),
    ],
    [randu([6, 300], 1, 0.5, 1.5), randInt([40, 1], -6, 6, 2, 'int64'), randu([40, 300], 3, 0.5, 1.5), randInt([500, 2], -6, 6, 4, 'int64'), randu([500], 5, 0.5, 1.5)],
  );
});

test('CUDA scatter kernels, emulated: ScatterElements on every axis, int32 and float16 data, bad indices dropped', { skip }, async () => {
  const idx = randInt([5, 9, 4], -7, 7, 11, 'int64');
  await emulate(
    'scatterelements',
    (d, i, u, h, hu, bad) => [
      ...REDUCTIONS.map((r) => T(d!, d!.tracer.b.scatterElements(d!.id, i!.id, u!.id, 1, r))),
      T(d!, d!.tracer.b.scatterElements(d!.id, i!.slice(1, 0, 5).id, u!.slice(1, 0, 5).id, 0, 'add')),
      T(d!, d!.tracer.b.scatterElements(d!.id, i!.slice(1, 0, 6).id, u!.slice(1, 0, 6).id, -1, 'max')),
      T(h!, h!.tracer.b.scatterElements(h!.id, i!.id, hu!.id, 1, 'add')),
      T(d!, d!.tracer.b.scatterElements(d!.id, bad!.id, u!.id, 1, 'mul')),
    ],
    [randInt([6, 7, 6], -9, 9, 12), idx, randInt([5, 9, 4], -9, 9, 13), NDArray.from(randn([6, 7, 6], 14).toTypedArraySync(), [6, 7, 6], { dtype: 'float16' }), NDArray.from(randn([5, 9, 4], 15).toTypedArraySync(), [5, 9, 4], { dtype: 'float16' }), randInt([5, 9, 4], -1e6, 1e6, 16, 'int64')],
  );
});

test('CUDA kernels, emulated: GatherND with batch dims and fused producers and consumers of a scatter', { skip }, async () => {
  await emulate(
    'fused',
    (x, i, u, g, gi) => {
      const s = T(x!, x!.tracer.b.scatterND(x!.relu().id, i!.add(0).id, u!.exp().id, 'add'));
      return [s.mul(s), T(g!, gatherND(g!.tracer.b, g!.id, gi!.id, 1)).tanh()];
    },
    [randn([10, 64], 21), randInt([30, 1], -10, 10, 22, 'int64'), randn([30, 64], 23), randn([4, 9, 33], 24), randInt([4, 7, 2], -9, 9, 25, 'int64')],
    ['loops', 'scatter', 'loops', 'loops'],
  );
});

// Issue 14 item 3: a gather's index out of range is clamped for the load on CUDA too (the run
// reports it: src/api/index_checks.ts), so the kernel never reads outside the table: 2^40 and
// -1e9 used to read 16 TB away (a fault on the GPU, a segfault here).
test('CUDA gather kernels, emulated: indices out of range read clamped rows, never out of bounds', { skip }, async () => {
  const table = NDArray.from(Float32Array.from({ length: 20 }, (_, i) => i), [5, 4]);
  const ids = NDArray.from(BigInt64Array.from([7n, 2n ** 40n, -(10n ** 9n), -1n, 2n]), [5]);
  const row = (r: number) => [0, 1, 2, 3].map((c) => 4 * r + c + 1);
  await emulate('gather clamps', (t, i) => t.gather(0, i!).add(1), [table, ids], ['loops'], [[...row(4), ...row(4), ...row(0), ...row(4), ...row(2)]]);
});
