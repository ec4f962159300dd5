// Each backend's kernel metadata (compile/kernel_meta.ts): what the code generators produce
// parses back to itself, and a cache entry or graph bundle whose metadata is not its backend's
// shape (a damaged or hostile file) is corrupt (a miss, counted, recompiled), never handed to
// a runtime.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CpuBackend } from '../src/backends/cpu/backend.js';
import { DEFAULT_CUBLAS_MIN_MACS } from '../src/backends/cuda/backend.js';
import { generateCuda } from '../src/backends/cuda/codegen.js';
import { encodeBundle } from '../src/cache/graph_bundle.js';
import { graphKey } from '../src/cache/graph_store.js';
import { entryRelPath } from '../src/cache/layout.js';
import { encodeKernel } from '../src/cache/kernel_codec.js';
import { writeEntryAtomic } from '../src/cache/entry_file.js';
import { openCache } from '../src/cache/open_cache.js';
import { KernelMetaError, parseKernelMeta } from '../src/cache/kernel_meta.js';
import type { CompiledKernel } from '../src/cache/compiled_kernel.js';
import { trace } from '../src/frontend/trace.js';
import { counters } from '../src/observe/counters.js';
import { finalize } from '../src/schedule/finalize.js';
import { formKernels } from '../src/schedule/fuse.js';
import { realize } from '../src/schedule/realize.js';
import { randn } from './helpers.js';

delete process.env.KILN_NO_CACHE;
const root = mkdtempSync(join(tmpdir(), 'kiln-kernel-meta-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const newDir = (): string => join(root, `c${n++}`);

/** Kernels of several kinds: pointwise, row and whole-tensor reductions, a small and a cuBLAS-sized matmul. */
function kernels() {
  const w = randn([64, 48], 3);
  const big = randn([512, 512], 4);
  const programs = [
    trace((a) => a.mul(2).add(1).exp(), [{ shape: [7, 33], dtype: 'float32' }]),
    trace((a) => a.softmax(-1), [{ shape: [16, 300], dtype: 'float32' }]),
    trace((a) => a.sum(), [{ shape: [1 << 20], dtype: 'float32' }]),
    trace((a) => a.matmul(w).relu(), [{ shape: [5, 64], dtype: 'float32' }]),
    trace((a) => a.matmul(big).add(1), [{ shape: [512, 512], dtype: 'float32' }]),
    trace((a) => a.sum(0), [{ shape: [4096, 64], dtype: 'float32' }]),
  ];
  return programs.flatMap((t) => {
    const r = realize(t.graph);
    return finalize(t.graph, r, formKernels(t.graph, r)).kernels;
  });
}

test('every kernel the C and CUDA generators make has metadata that parses back to itself', () => {
  const cpu = new CpuBackend();
  const seen = new Set<string>();
  for (const k of kernels()) {
    // The CUDA generator as with cuBLAS installed (none need be here), so products take it.
    for (const g of [cpu.generate(k), { backend: 'cuda' as const, ...generateCuda(k, DEFAULT_CUBLAS_MIN_MACS) }]) {
      assert.deepEqual(parseKernelMeta(g.backend, JSON.parse(JSON.stringify(g.meta))), g.meta);
      if (g.backend === 'cuda') for (const f of ['gemm', 'workspace'] as const) if (g.meta[f] !== undefined) seen.add(f);
    }
  }
  assert.deepEqual([...seen].sort(), ['gemm', 'workspace'], 'the corpus covers the optional CUDA fields');
});

const launch = { grid: [4, 1, 1], block: [128, 1, 1], shared: 0 };
const operand = { param: 0, offset: 0, ld: 4, trans: false, batchStride: 0 };
const gemm = { batch: 1, M: 8, N: 16, K: 4, a: operand, b: { ...operand, param: 1 } };

test('metadata not of its backend\'s shape is refused, naming the field', () => {
  const bad: [backend: 'c' | 'cuda', meta: unknown, error: RegExp][] = [
    ['c', null, /C kernel meta is not an object/],
    ['c', [], /C kernel meta is not an object/],
    ['c', {}, /C kernel meta\.params is not a non-negative integer: undefined/],
    ['c', { params: -1 }, /params is not a non-negative integer: -1/],
    ['c', { params: 1.5 }, /params is not a non-negative integer/],
    ['c', { params: 2, extra: 1 }, /C kernel meta has unknown field extra/],
    ['c', { params: 2, launch }, /unknown field launch/],
    ['c', { params: 2, packB: 2 }, /packB 2 is not one of its 2 parameters/],
    ['c', { params: 2, packWhen: { rows: [[1, ['s0']]], above: 8 } }, /packWhen without packB/],
    ['c', { params: 2, packB: 1, packWhen: { rows: [[1, ['s0; x']]], above: 8 } }, /packWhen\.rows\[0\] names a bad symbol/],
    ['c', { params: 2, packB: 1, packWhen: { rows: [[1, ['s0']]], above: -8 } }, /packWhen\.above is not a non-negative integer/],
    ['c', { params: 2, packB: 1, packWhen: { rows: [[1, ['s0']]], above: 8, at: 1 } }, /packWhen has unknown field at/],
    ['cuda', { params: 2 }, /CUDA kernel meta\.launch is not an object/],
    ['cuda', { params: 2, launch: { ...launch, grid: ['4', 1, 1] } }, /launch\.grid\[0\] is not a non-negative integer: "4"/],
    ['cuda', { params: 2, launch: { ...launch, block: [128, 1] } }, /launch\.block is not three dimensions/],
    ['cuda', { params: 2, launch: { grid: [1, 1, 1], block: [1, 1, 1] } }, /launch\.shared is not a non-negative integer/],
    ['cuda', { params: 2, launch: { ...launch, dynamic: 1 } }, /launch has unknown field dynamic/],
    ['cuda', { params: 2, launch, gemm: { ...gemm, a: { ...operand, trans: 'no' } } }, /gemm\.a\.trans is not a boolean/],
    ['cuda', { params: 2, launch, gemm: { ...gemm, K: Infinity } }, /gemm\.K is not a non-negative integer/],
    ['cuda', { params: 2, launch, workspace: '64' }, /workspace is not a non-negative integer/],
    ['cuda', { params: 2, launch, pointerTable: 1 }, /pointerTable is not a boolean/],
    ['cuda', { params: 2, launch, grid: [1, 1, 1] }, /CUDA kernel meta has unknown field grid/],
  ];
  for (const [backend, meta, error] of bad) assert.throws(() => parseKernelMeta(backend, meta), (e: Error) => e instanceof KernelMetaError && error.test(e.message), JSON.stringify(meta));
  const good = { params: 2, launch, gemm: { ...gemm, direct: 1 }, workspace: 64, pointerTable: true };
  assert.deepEqual(parseKernelMeta('cuda', good), good);
  const packed = { params: 3, packB: 1, packWhen: { rows: [[1, ['s0', 's1']]], above: 8 } };
  assert.deepEqual(parseKernelMeta('c', packed), packed);
});

function kernel(name: string, meta: unknown): CompiledKernel {
  return { key: createHash('sha256').update(name).digest('hex'), backend: 'cuda', kernelName: name, binary: new Uint8Array(randomBytes(256)), meta, log: '', compileMs: 1 } as CompiledKernel;
}

test('a kernel entry or a bundle whose metadata is not its backend\'s is corrupt: a miss, counted, never served', () => {
  const dir = newDir();
  const { kernels: store, graphs } = openCache({ cacheDir: dir });
  const hostile = kernel('hostile', { params: 2, launch: { grid: [-1, 1, 1], block: [1, 1, 1], shared: 0 } });
  // The codec writes whatever it is given (the writer is trusted); the reader is not.
  writeEntryAtomic(join(dir, entryRelPath('kernel', hostile.key)), encodeKernel(hostile));
  let before = counters().cache_corrupt;
  assert.equal(store.get(hostile.key), undefined);
  assert.equal(counters().cache_corrupt - before, 1);

  const good = kernel('good', { params: 2, launch });
  const key = graphKey(['hostile-meta']);
  writeEntryAtomic(join(dir, entryRelPath('graph', key)), encodeBundle(key, { plan: {}, kernels: [good, kernel('c-shaped', { params: 2 })] }));
  before = counters().cache_corrupt;
  assert.equal(graphs.getBundle(key), undefined);
  assert.equal(counters().cache_corrupt - before, 1);

  const fine = graphKey(['good-meta']);
  graphs.putBundle(fine, { plan: {}, kernels: [good] });
  assert.deepEqual(graphs.getBundle(fine)?.kernels, [good]);
});

test('a compile group\'s entry is never served as a kernel, and its members read its binary', () => {
  const dir = newDir();
  const { kernels: store } = openCache({ cacheDir: dir });
  const member = kernel('member', { params: 1, launch });
  const groupKey = createHash('sha256').update('group').digest('hex');
  const binary = new Uint8Array(randomBytes(300));
  store.put({ key: groupKey, backend: 'cuda', kernelName: 'g', binary, groupMembers: [member.key], log: '', compileMs: 2 });
  store.put({ ...member, binary, binaryOf: groupKey });
  assert.equal(store.get(groupKey), undefined, 'a group\'s entry holds a binary, not a kernel');
  const got = store.get(member.key);
  assert.deepEqual(got, { ...member, binary, binaryOf: groupKey });
});
