// Test helpers: seeded random inputs, tolerant and exact comparisons, and
// checkAgainstReference, which runs a function both through the reference interpreter and
// through compile() and compares every output.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { setting } from '../src/config/read.js';
import type { DType } from '../src/graph/dtype.js';
import { type RefTensor, interpret } from '../src/graph/interpret.js';
import { mulberry32, randnFloat32 } from '../src/graph/random.js';
import { fmtShape, numel } from '../src/graph/shape.js';
import { NDArray } from '../src/graph/ndarray.js';
import { type TracedFn, trace } from '../src/frontend/trace.js';
import { type CompileOptions, type FunctionCompileOptions, compile, counters as kilnCounters, resetCounters as kilnResetCounters } from '../src/index.js';
import type { Counters } from '../src/observe/counters.js';

export { NDArray };
export type { RefTensor };

// ---- the compiler's public API, reached through the package entry --------------------------
// Imported with its real types (no casts): a change to the public API's types breaks these
// tests at build time, and a missing export fails every test that compiles (there is no
// "compiler not ready" skip: a test that cannot fail is no test).

export type { CompileOptions };
export type CompiledFn = (...inputs: NDArray[]) => Promise<NDArray | NDArray[]>;
export type { Counters };

// One cache directory per test file (node --test runs each file in its own process), removed
// on exit, so tests neither read a stale user cache nor leave files behind.
let cacheDir: string | undefined;
function testCacheDir(): string {
  if (!cacheDir) {
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-test-'));
    const dir = cacheDir;
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return cacheDir;
}

/** The device op tests run on: the CPU, or the GPU when KILN_TEST_DEVICE=cuda (npm run test:gpu). */
export const testDevice: 'cpu' | 'cuda' = setting('KILN_TEST_DEVICE');

/**
 * A run's results read back: on the CPU an index check's error comes from the run itself, on
 * CUDA when a result is first read back (the synchronisation the read needs anyway).
 */
export async function readBack(p: Promise<unknown>): Promise<void> {
  const r = await p;
  const outs = r instanceof NDArray ? [r] : Array.isArray(r) ? r : Object.values(r as Record<string, unknown>);
  for (const o of outs) if (o instanceof NDArray) await o.toArray();
}

export function compileCpu(fn: TracedFn, options: FunctionCompileOptions = {}): CompiledFn {
  return compile(fn, { device: testDevice, cacheDir: testCacheDir(), workers: 2, ...options });
}
export function counters(): Counters {
  return kilnCounters();
}
export function resetCounters(): void {
  kilnResetCounters();
}

// ---- seeded random data --------------------------------------------------------------------

/** Standard normal float32 data (Box–Muller). */
export function randn(shape: readonly number[], seed = 1): NDArray {
  return NDArray.from(randnFloat32(numel(shape), seed), shape);
}

/** Uniform float32 data in [lo, hi). */
export function randu(shape: readonly number[], seed = 1, lo = 0, hi = 1): NDArray {
  const r = mulberry32(seed);
  const a = new Float32Array(numel(shape));
  for (let i = 0; i < a.length; i++) a[i] = lo + (hi - lo) * r();
  return NDArray.from(a, shape);
}

/** Uniform integers in [lo, hi) as int32 (default) or int64. */
export function randInt(shape: readonly number[], lo: number, hi: number, seed = 1, dtype: 'int32' | 'int64' = 'int32'): NDArray {
  const r = mulberry32(seed);
  const n = numel(shape);
  const vals = Array.from({ length: n }, () => lo + Math.floor(r() * (hi - lo)));
  if (dtype === 'int64') return NDArray.from(BigInt64Array.from(vals.map((v) => BigInt(v))), shape);
  return NDArray.from(Int32Array.from(vals), shape);
}

export function randBool(shape: readonly number[], seed = 1, pTrue = 0.5): NDArray {
  const r = mulberry32(seed);
  const a = new Uint8Array(numel(shape));
  for (let i = 0; i < a.length; i++) a[i] = r() < pTrue ? 1 : 0;
  return NDArray.from(a, shape, { dtype: 'bool' });
}

// ---- comparisons ---------------------------------------------------------------------------

export interface CloseOptions {
  rtol?: number;
  atol?: number;
  /** Prefix for failure messages (e.g. which output). */
  label?: string;
}

function num(x: number | bigint): number {
  return typeof x === 'bigint' ? Number(x) : x;
}

/** Elementwise |out - ref| <= atol + rtol*|ref| (NaN matches NaN, ±inf must match exactly). */
export function assertClose(actual: ArrayLike<number> | ArrayLike<bigint>, ref: RefTensor, opts: CloseOptions = {}): void {
  const { rtol = 1e-4, atol = 1e-5, label = 'output' } = opts;
  const n = ref.data.length;
  assert.equal(actual.length, n, `${label}: ${actual.length} values, reference ${fmtShape(ref.shape)} has ${n}`);
  let worst = -1;
  let worstExcess = 0;
  let bad = 0;
  let diff2 = 0;
  let ref2 = 0;
  for (let i = 0; i < n; i++) {
    const a = num(actual[i]!);
    const r = ref.data[i]!;
    let excess: number;
    if (Number.isNaN(r) || Number.isNaN(a)) excess = Number.isNaN(r) && Number.isNaN(a) ? 0 : Infinity;
    else if (!Number.isFinite(r) || !Number.isFinite(a)) excess = a === r ? 0 : Infinity;
    else {
      const d = Math.abs(a - r);
      diff2 += d * d;
      ref2 += r * r;
      excess = d - (atol + rtol * Math.abs(r));
    }
    if (excess > 0) {
      bad++;
      if (worst < 0 || excess > worstExcess) {
        worst = i;
        worstExcess = excess;
      }
    }
  }
  if (bad > 0) {
    const relNorm = Math.sqrt(diff2) / (Math.sqrt(ref2) || 1);
    const a = num(actual[worst]!);
    const r = ref.data[worst]!;
    assert.fail(
      `${label} ${fmtShape(ref.shape)} ${ref.dtype}: ${bad}/${n} elements out of tolerance (rtol=${rtol}, atol=${atol}); ` +
        `worst at flat index ${worst} [${unravel(worst, ref.shape).join(',')}]: got ${a}, expected ${r} ` +
        `(|diff| ${Math.abs(a - r).toExponential(3)}); ‖out−ref‖/‖ref‖ = ${relNorm.toExponential(3)}`,
    );
  }
}

/** Exact equality, for int and bool results (bool compared as 0/1). */
export function assertExact(actual: ArrayLike<number> | ArrayLike<bigint>, ref: RefTensor, label = 'output'): void {
  const n = ref.data.length;
  assert.equal(actual.length, n, `${label}: ${actual.length} values, reference ${fmtShape(ref.shape)} has ${n}`);
  let bad = 0;
  let first = -1;
  for (let i = 0; i < n; i++) {
    let a = num(actual[i]!);
    if (ref.dtype === 'bool') a = a !== 0 ? 1 : 0;
    if (a !== ref.data[i]) {
      bad++;
      if (first < 0) first = i;
    }
  }
  if (bad > 0) {
    assert.fail(
      `${label} ${fmtShape(ref.shape)} ${ref.dtype}: ${bad}/${n} elements differ; first at flat index ${first} ` +
        `[${unravel(first, ref.shape).join(',')}]: got ${num(actual[first]!)}, expected ${ref.data[first]}`,
    );
  }
}

function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return idx;
}

/**
 * Default tolerances for half results (two ulps): the reference rounds every node to the
 * format while kernels round only what they store, computing in float32 in between.
 */
export const HALF_TOL: Record<'float16' | 'bfloat16', { rtol: number; atol: number }> = {
  float16: { rtol: 2 ** -9, atol: 1e-4 },
  bfloat16: { rtol: 2 ** -6, atol: 1e-3 },
};

/** Compares one NDArray against a reference tensor: shape, dtype, then values (half types decoded). */
export async function assertMatches(out: NDArray, ref: RefTensor, opts: CloseOptions = {}): Promise<void> {
  const label = opts.label ?? 'output';
  assert.deepEqual([...out.shape], ref.shape, `${label}: shape ${fmtShape(out.shape)}, reference ${fmtShape(ref.shape)}`);
  assert.equal(out.dtype, ref.dtype, `${label}: dtype ${out.dtype}, reference ${ref.dtype}`);
  if (ref.dtype === 'float16' || ref.dtype === 'bfloat16') assertClose(await out.toArray(), ref, { ...HALF_TOL[ref.dtype], ...opts });
  else if (ref.dtype === 'float32' || ref.dtype === 'float64') assertClose(await out.toTypedArray(), ref, opts);
  else assertExact(await out.toTypedArray(), ref, label);
}

// ---- reference runs ------------------------------------------------------------------------

export function specsOf(inputs: readonly NDArray[]): { shape: readonly number[]; dtype: DType }[] {
  return inputs.map((a) => ({ shape: a.shape, dtype: a.dtype }));
}

/** Traces fn on the inputs' shapes and runs the reference interpreter. */
export function reference(fn: TracedFn, inputs: readonly NDArray[]): RefTensor[] {
  const t = trace(fn, specsOf(inputs));
  return interpret(t.graph, [...inputs, ...t.params]);
}

export interface CheckOptions extends CompileOptions, CloseOptions {
  /** Reuse an already compiled function (to test repeated calls). */
  compiled?: CompiledFn;
  /** Names of the outputs, for failure messages. */
  names?: readonly string[];
}

/**
 * (a) traces fn and runs the interpreter, (b) compiles fn for the CPU and runs it on the same
 * inputs, (c) compares every output. Returns the compiled function and the reference outputs.
 */
export async function checkAgainstReference(
  fn: TracedFn,
  inputs: readonly NDArray[],
  options: CheckOptions = {},
): Promise<{ compiled: CompiledFn; refs: RefTensor[]; outputs: NDArray[] }> {
  const { rtol, atol, label, names, compiled: given, ...compileOptions } = options;
  const t = trace(fn, specsOf(inputs));
  const refs = interpret(t.graph, [...inputs, ...t.params]);
  const compiled = given ?? compileCpu(fn, compileOptions);
  const result = await compiled(...inputs);
  const outputs = Array.isArray(result) ? result : [result];
  assert.equal(Array.isArray(result), t.returnsArray, `compiled fn returned ${Array.isArray(result) ? 'an array' : 'one NDArray'}`);
  assert.equal(outputs.length, refs.length, `compiled fn returned ${outputs.length} outputs, reference ${refs.length}`);
  for (let i = 0; i < refs.length; i++) {
    const l = `${label ? `${label}: ` : ''}output ${i}${names?.[i] ? ` (${names[i]})` : ''}`;
    await assertMatches(outputs[i]!, refs[i]!, { ...(rtol !== undefined ? { rtol } : {}), ...(atol !== undefined ? { atol } : {}), label: l });
  }
  return { compiled, refs, outputs };
}

/** Registers a node:test test that checks fn against the reference on `inputs`. Inputs may be lazy. */
export function refTest(
  name: string,
  fn: TracedFn,
  inputs: readonly NDArray[] | (() => readonly NDArray[]),
  options: CheckOptions = {},
): void {
  test(name, async () => {
    const xs = typeof inputs === 'function' ? inputs() : inputs;
    await checkAgainstReference(fn, xs, options);
  });
}

/** A float32 NDArray from numbers (handy for hand-written data). */
export function f32(data: readonly number[], shape: readonly number[]): NDArray {
  return NDArray.from(Float32Array.from(data), shape);
}

/** Scales a float32 NDArray's host data in place (for set-up); returns it. */
export function scaled(a: NDArray, k: number): NDArray {
  const d = a.toTypedArraySync() as Float32Array;
  for (let i = 0; i < d.length; i++) d[i] = d[i]! * k;
  return a;
}

/** Random integer values stored as float32 (so comparisons have ties). */
export function randIntF32(shape: readonly number[], lo: number, hi: number, seed = 1): NDArray {
  const r = mulberry32(seed);
  const a = new Float32Array(numel(shape));
  for (let i = 0; i < a.length; i++) a[i] = lo + Math.floor(r() * (hi - lo));
  return NDArray.from(a, shape);
}

/** Reads back all values of an NDArray as numbers (half types decoded). */
export async function values(a: NDArray): Promise<number[]> {
  return a.toArray();
}
