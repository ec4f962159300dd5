// Shared fixtures for the compile pipeline tests (small, distinct, real C kernels checked
// through koffi on random data), plus unit tests of the pieces that need no worker.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test as nodeTest } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { LoadedCKernel } from '../src/backends/cpu/loader.js';
import { cCompilerIdentity, cpuTarget } from '../src/backends/cpu/compiler.js';
import { CACHE_FORMAT_VERSION } from '../src/cache/format.js';
import { kernelKey, makeCompileRequest } from '../src/compile/key.js';
import type { CompiledKernel } from '../src/cache/compiled_kernel.js';
import type { CompileOptions, CompileRequest, KernelStoreLike } from '../src/compile/types.js';
import { COUNTER_NAMES, bump, counters, resetCounters } from '../src/observe/counters.js';
import { debugEnabled } from '../src/observe/log.js';
import type { WorkerTestHook } from '../src/config/settings.js';
import { CompileProgress } from '../src/observe/progress.js';

/**
 * What compile workers do to the jobs of the named kernels (KILN_TEST_WORKER_HOOKS: sleep, to
 * test deadlines; crash, to test recovery). A worker reads it as it is forked, so set it before
 * the pools that need it start their workers (at the top of a test file).
 */
export function setWorkerTestHooks(hooks: Record<string, WorkerTestHook>): void {
  process.env.KILN_TEST_WORKER_HOOKS = JSON.stringify(hooks);
}

/** `o[i] = a[i] * n`: one distinct kernel per (n, tag). */
export function scaleSource(n: number, tag = 't'): { name: string; source: string } {
  const name = `k_${tag}_${n}`;
  return { name, source: `void ${name}(float* restrict o, const float* restrict a, long n){for(long i=0;i<n;i++)o[i]=a[i]*${n}.0f;}\n` };
}

export function scaleRequest(n: number, tag = 't', options: CompileOptions = {}): CompileRequest {
  const { name, source } = scaleSource(n, tag);
  return makeCompileRequest({ backend: 'c', meta: { params: 2 }, kernelName: name, source, compilerIdentity: cCompilerIdentity(), options });
}

/** Calls the loaded kernel on random data (never zeros) and checks every output element. */
export function checkScale(loaded: unknown, n: number): void {
  const k = loaded as LoadedCKernel;
  const fn = k.lib.func(`void ${k.kernelName}(_Out_ float* o, const float* a, long n)`);
  const len = 1000 + n;
  const a = new Float32Array(len);
  for (let i = 0; i < len; i++) a[i] = Math.random() * 2 - 1 + 0.001;
  const o = new Float32Array(len).fill(Number.NaN);
  fn(o, a, len);
  for (let i = 0; i < len; i++) {
    const want = Math.fround(a[i]! * n);
    assert.ok(Math.abs(o[i]! - want) <= 1e-6 * Math.max(1, Math.abs(want)), `${k.kernelName}: o[${i}] = ${o[i]}, want ${want}`);
  }
}

/** An in-memory KernelStoreLike that records traffic. */
// Other compile_* test files import the fixtures above; the unit tests below run only when
// this file itself is the test being run, not once more per importer.
const isEntry = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
const test: typeof nodeTest = isEntry ? nodeTest : ((() => undefined) as unknown as typeof nodeTest);

export class MemoryStore implements KernelStoreLike {
  readonly entries = new Map<string, CompiledKernel>();
  gets = 0;
  puts = 0;
  get(key: string): CompiledKernel | undefined {
    this.gets++;
    return this.entries.get(key);
  }
  put(kernel: CompiledKernel): void {
    this.puts++;
    this.entries.set(kernel.key, kernel);
  }
}

test('kernelKey covers source, compiler, options, metadata and format version, independent of option order', () => {
  const meta = { params: 2 };
  const base = kernelKey('c', 'src', 'cc1', { flags: ['-a'], arch: 'native' }, meta);
  assert.match(base, /^[0-9a-f]{64}$/);
  assert.equal(kernelKey('c', 'src', 'cc1', { arch: 'native', flags: ['-a'] }, meta), base);
  assert.notEqual(kernelKey('c', 'src ', 'cc1', { flags: ['-a'], arch: 'native' }, meta), base);
  assert.notEqual(kernelKey('c', 'src', 'cc2', { flags: ['-a'], arch: 'native' }, meta), base);
  assert.notEqual(kernelKey('c', 'src', 'cc1', { flags: ['-b'], arch: 'native' }, meta), base);
  assert.notEqual(kernelKey('cuda', 'src', 'cc1', { flags: ['-a'], arch: 'native' }, meta), base);
  assert.notEqual(kernelKey('c', 'src', 'cc1', { flags: ['-a'], arch: 'native' }, { params: 3 }), base);
  assert.equal(CACHE_FORMAT_VERSION, '3');
});

test('cCompilerIdentity names the real compiler binary without running it, and is cached', () => {
  const id = cCompilerIdentity();
  assert.match(id, /^cc\|\/.+:\d+:\d+\|/);
  assert.ok(id.includes('-O3') && id.includes(`arch=${process.arch}`), id);
  assert.equal(cCompilerIdentity(), id);
  const saved = process.env.KILN_CC;
  process.env.KILN_CC = 'definitely-not-a-compiler-xyz';
  try {
    assert.match(cCompilerIdentity(), /missing:definitely-not-a-compiler-xyz/);
  } finally {
    if (saved === undefined) delete process.env.KILN_CC;
    else process.env.KILN_CC = saved;
  }
  assert.equal(cCompilerIdentity(), id);
});

const AVX512 = 'processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\ncpu MHz\t\t: 2596.134\nflags\t\t: fpu sse2 avx avx2 avx512f avx512bw\nbogomips\t: 5192.26';

test('the CPU target (what -march=native selects) comes from the CPU\'s model and flags, read without running the compiler', () => {
  const t = cpuTarget(AVX512);
  assert.match(t, new RegExp(`^native:${process.arch}:[0-9a-f]{16}$`));
  // Volatile fields and the flags' order do not matter; a feature more or less does.
  assert.equal(cpuTarget(AVX512.replace('2596.134', '3100.000').replace('5192.26', '1.0').replace('avx2 avx512f', 'avx512f avx2')), t);
  assert.notEqual(cpuTarget(AVX512.replace(' avx512f avx512bw', '')), t, 'AVX2-only host');
  assert.notEqual(cpuTarget(AVX512.replace('model\t\t: 17', 'model\t\t: 33')), t, 'other model');
  // The identity names this machine's target, and another CPU gives another identity.
  const id = cCompilerIdentity();
  assert.ok(id.endsWith(`|target=${cpuTarget()}`), id);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-cpuinfo-'));
  const saved = process.env.KILN_CPUINFO_FILE;
  try {
    fs.writeFileSync(path.join(dir, 'cpuinfo'), AVX512.replace(' avx512f avx512bw', '') + '\n\nprocessor\t: 1\n');
    process.env.KILN_CPUINFO_FILE = path.join(dir, 'cpuinfo');
    const other = cCompilerIdentity();
    assert.notEqual(other, id);
    assert.ok(other.endsWith(`|target=${cpuTarget(AVX512.replace(' avx512f avx512bw', ''))}`), other);
  } finally {
    if (saved === undefined) delete process.env.KILN_CPUINFO_FILE;
    else process.env.KILN_CPUINFO_FILE = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(cCompilerIdentity(), id);
});

test('counters: the contract names, copies, bump and reset', () => {
  resetCounters();
  assert.deepEqual(
    Object.keys(counters()).sort(),
    'kernels_generated compile_submitted compile_inline future_cache_hits kernel_cache_hits kernel_cache_misses kernel_shared_binary_reads graph_cache_hits graph_cache_misses onnx_graph_builds onnx_conversion_hits shape_variant_builds shape_variant_hits shape_variant_evictions cache_corrupt workers_spawned worker_crashes compile_retries compile_timeouts symbolic_programs guard_failures'
      .split(' ')
      .sort(),
  );
  assert.equal(COUNTER_NAMES.length, 21);
  const snap = counters();
  bump('compile_retries');
  bump('compile_retries', 2);
  assert.equal(snap.compile_retries, 0);
  assert.equal(counters().compile_retries, 3);
  resetCounters();
  assert.equal(counters().compile_retries, 0);
});

test('KILN_DEBUG parses comma lists, all and 1', () => {
  const saved = process.env.KILN_DEBUG;
  try {
    process.env.KILN_DEBUG = 'graph, source';
    assert.ok(debugEnabled('graph') && debugEnabled('source') && !debugEnabled('plan'));
    process.env.KILN_DEBUG = 'all';
    assert.ok(debugEnabled('plan') && debugEnabled('loops'));
    process.env.KILN_DEBUG = '1';
    assert.ok(debugEnabled('schedule'));
    delete process.env.KILN_DEBUG;
    assert.ok(!debugEnabled('graph'));
  } finally {
    if (saved === undefined) delete process.env.KILN_DEBUG;
    else process.env.KILN_DEBUG = saved;
  }
});

test('the progress bar draws nothing on a stream that is not a TTY', () => {
  let written = '';
  const stream = { isTTY: false, write: (s: string) => ((written += s), true) } as unknown as NodeJS.WriteStream;
  const p = new CompileProgress(stream);
  p.update(1, 10);
  p.update(10, 10);
  p.stop();
  assert.equal(p.active, false);
  assert.equal(written, '');
});

test('on a TTY the progress bar reads "compiling N/M kernels" and stops cleanly', () => {
  let written = '';
  const stream = { isTTY: true, columns: 120, write: (s: string) => ((written += s), true) } as unknown as NodeJS.WriteStream;
  const savedCi = process.env.CI;
  delete process.env.CI;
  try {
    const p = new CompileProgress(stream);
    p.update(3, 10);
    assert.equal(p.active, true);
    p.update(10, 10);
    p.stop();
    assert.equal(p.active, false);
  } finally {
    if (savedCi !== undefined) process.env.CI = savedCi;
  }
  assert.match(written, /compiling 3\/10 kernels/);
});
