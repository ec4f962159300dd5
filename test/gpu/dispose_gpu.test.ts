// dispose() on CUDA gives back what a model's programs allocated: the caching allocator's
// live bytes return to where they were before the model first ran (its arena, constants,
// cuBLAS scratch and pointer tables freed; outputs released by the caller), after results that
// match PyTorch's saved outputs. Skips with the reason where there is no GPU (npm run test:gpu).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

import { cudaAvailable, cudaUnavailableReason } from '../../src/backends/cuda/driver.js';
import { deviceAllocator } from '../../src/backends/cuda/allocator.js';
import { NDArray, loadOnnx } from '../../src/index.js';
import { readNpy } from '../../src/onnx/npy.js';
import { optional } from '../prereq.js';

const skip = optional('a CUDA device', cudaAvailable(), `no CUDA device: ${cudaUnavailableReason() ?? 'unknown reason'}`);
const here = path.dirname(fileURLToPath(import.meta.url));
const FIX = path.resolve(here, '../../../test/fixtures/onnx');
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-dispose-gpu-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

for (const name of ['mlp_dynamic', 'transformer_layer']) {
  test(`${name}: after dispose() the allocator's live bytes are back where they started`, { skip }, async () => {
    const input = readNpy(path.join(FIX, `${name}.input.npy`));
    const want = readNpy(path.join(FIX, `${name}.output.npy`)).toTypedArraySync() as Float32Array;
    // Both fixtures' input is x (mlp_dynamic's batch is symbolic: pinned to the file's).
    const model = loadOnnx(path.join(FIX, `${name}.onnx`), { device: 'cuda', cacheDir, inputShapes: { x: input.shape } });
    const x = 'x';
    const start = deviceAllocator().stats().allocatedBytes;
    for (let i = 0; i < 2; i++) {
      const out = await model.run({ [x]: input });
      const y: NDArray = out[model.outputNames[0]!]!;
      const got = (await y.toTypedArray()) as Float32Array;
      want.forEach((w, k) => assert.ok(Math.abs(got[k]! - w) <= 1e-4 + 1e-3 * Math.abs(w), `element ${k}: ${got[k]} vs ${w}`));
      y.deviceData()?.release();
    }
    const held = deviceAllocator().stats().allocatedBytes - start;
    assert.ok(held > 0, 'the program holds device memory while it lives (its arena, constants or scratch)');
    model.dispose();
    assert.equal(deviceAllocator().stats().allocatedBytes, start, `${held} bytes held by the program were freed`);
    await assert.rejects(model.run({ [x]: input }), /was disposed/);
  });
}

test('a dynamic model with room for one shape variant: each evicted variant gives its device memory back, so alternating sizes hold no more than one program', { skip }, async () => {
  const input = readNpy(path.join(FIX, 'mlp_dynamic.input.npy'));
  const want = readNpy(path.join(FIX, 'mlp_dynamic.output.npy')).toTypedArraySync() as Float32Array;
  const perRow = want.length / input.shape[0]!;
  const rowsOf = (n: number) => NDArray.from((input.toTypedArraySync() as Float32Array).slice(0, n * input.shape[1]!), [n, input.shape[1]!]);
  const model = loadOnnx(path.join(FIX, 'mlp_dynamic.onnx'), { device: 'cuda', cacheDir, maxShapeVariants: 1 });
  const start = deviceAllocator().stats().allocatedBytes;
  const held: number[] = [];
  // The MLP is row-wise: the first n rows of PyTorch's output are the output of the first n rows.
  for (const n of [input.shape[0]!, 2, input.shape[0]!, 2]) {
    const y: NDArray = (await model.run({ x: rowsOf(n) })).y!;
    const got = (await y.toTypedArray()) as Float32Array;
    assert.equal(got.length, n * perRow);
    got.forEach((g, k) => assert.ok(Math.abs(g - want[k]!) <= 1e-4 + 1e-3 * Math.abs(want[k]!), `batch ${n}, element ${k}: ${g} vs ${want[k]}`));
    y.deviceData()?.release();
    held.push(deviceAllocator().stats().allocatedBytes - start);
  }
  assert.ok(held[0]! > 0, 'a live program holds device memory');
  assert.deepEqual([held[2], held[3]], [held[0], held[1]], `live bytes after each run (${held.join(', ')}): a size run again holds what it held the first time, the evicted one freed`);
  model.dispose();
  assert.equal(deviceAllocator().stats().allocatedBytes, start);
});
