// dispose() of a loaded ONNX model and of a Program, on the CPU path: results before it match
// PyTorch's saved outputs; afterwards run/runValues/compile/graphFor refuse with a message that
// says the model was disposed, a Program's run() rejects, disposing twice is harmless, a compile
// still running when the model is disposed is disposed when it lands, and outputs already
// returned stay readable. (CUDA's freeing of device memory: test/gpu/dispose_gpu.test.ts.)

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

import { OnnxModelError, loadOnnx, type LoadOptions } from '../src/index.js';
import { readNpy } from '../src/onnx/npy.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIX = path.resolve(here, '../../test/fixtures/onnx');
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-dispose-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

const input = readNpy(path.join(FIX, 'mlp_dynamic.input.npy'));
const want = readNpy(path.join(FIX, 'mlp_dynamic.output.npy')).toTypedArraySync() as Float32Array;
const options: LoadOptions = { device: 'cpu', cacheDir, workers: 0, inputShapes: { x: input.shape } };

function assertMatchesPyTorch(got: Float32Array): void {
  assert.equal(got.length, want.length);
  want.forEach((w, i) => assert.ok(Math.abs(got[i]! - w) <= 1e-5 + 1e-4 * Math.abs(w), `element ${i}: ${got[i]} vs ${w}`));
}

test('a disposed model refuses to run, compile or trace with a clear error; disposing twice is fine; earlier outputs stay valid', async () => {
  const model = loadOnnx(path.join(FIX, 'mlp_dynamic.onnx'), options);
  const program = await model.compile();
  const before = await model.run({ x: input });
  model.dispose();
  // Freed by the time dispose() returns (device memory checked right after it must be back),
  // not a microtask later: a run asked for at once is already refused.
  const atOnce = program.run([input]);
  model.dispose();
  await assert.rejects(atOnce, /was disposed: it cannot run; compile it again/);
  assertMatchesPyTorch((await before.y!.toTypedArray()) as Float32Array);
  const disposed = (e: unknown) => e instanceof OnnxModelError && /mlp_dynamic\.onnx: this model was disposed: load it again/.test(e.message);
  await assert.rejects(model.run({ x: input }), disposed);
  await assert.rejects(model.runValues({ x: input }), disposed);
  await assert.rejects(model.compile(), disposed);
  assert.throws(() => model.graphFor(), disposed);
  // The model's own program went with it.
  await assert.rejects(program.run([input]), /was disposed: it cannot run; compile it again/);
  // A new load of the same file runs again, from the cache, and is right.
  const again = loadOnnx(path.join(FIX, 'mlp_dynamic.onnx'), options);
  assertMatchesPyTorch((await (await again.run({ x: input })).y!.toTypedArray()) as Float32Array);
  again.dispose();
});

test('a Program disposed on its own: run() rejects, disposing twice is fine, the program the model keeps is untouched', async () => {
  const model = loadOnnx(path.join(FIX, 'mlp_dynamic.onnx'), options);
  // compile() with options of its own gives a program the model does not keep: the caller's to dispose.
  const own = await model.compile(undefined, { workers: 0 });
  const [y] = await own.run([input]);
  assertMatchesPyTorch((await y!.toTypedArray()) as Float32Array);
  own.dispose();
  own.dispose();
  await assert.rejects(own.run([input]), /was disposed/);
  // The model's own program is untouched by that, and disposing the model leaves no other program behind.
  assertMatchesPyTorch((await (await model.run({ x: input })).y!.toTypedArray()) as Float32Array);
  model.dispose();
});

test('a compile still running when the model is disposed: its program is disposed as it lands', async () => {
  const model = loadOnnx(path.join(FIX, 'mlp_dynamic.onnx'), { ...options, cacheDir: path.join(cacheDir, 'fresh') });
  const compiling = model.compile();
  model.dispose();
  const program = await compiling;
  await assert.rejects(program.run([input]), /was disposed/);
});
