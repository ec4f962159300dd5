// float16 and bfloat16 on the host: the conversions of src/graph/half.ts checked against known
// bit patterns (rounding ties, subnormals, overflow, NaN, the float64 double-rounding trap),
// NDArray's number/bit handling, promotion rules and .npy files.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { promote, scalarDType } from '../src/graph/dtype.js';
import { bfloat16Bits, bfloat16Value, float16Bits, float16Value, float32BitsToBFloat16, float32BitsToFloat16 } from '../src/graph/half.js';
import { NDArray } from '../src/graph/ndarray.js';
import { trace } from '../src/frontend/trace.js';
import { encodeNpy, parseNpy, readNpy, writeNpy } from '../src/onnx/npy.js';
import { BF16_CASES, F16_CASES, hex } from './half_cases.js';

test('float16: known bit patterns, both ways', () => {
  for (const [v, bits, why] of F16_CASES) {
    assert.equal(hex(float16Bits(v)), hex(bits), `${v}: ${why}`);
    if (!Number.isNaN(v)) {
      const back = float16Value(bits);
      assert.equal(float16Bits(back), bits, `${hex(bits)} decodes to ${back}, which encodes back`);
    }
  }
  assert.equal(float16Value(0x0001), 2 ** -24);
  assert.equal(float16Value(0x7bff), 65504);
  assert.equal(float16Value(0xfc00), -Infinity);
  assert.ok(Number.isNaN(float16Value(0x7c01)) && Number.isNaN(float16Value(0xfe00)));
  assert.ok(Object.is(float16Value(0x8000), -0));
});

test('bfloat16: known bit patterns, both ways', () => {
  for (const [v, bits, why] of BF16_CASES) assert.equal(hex(bfloat16Bits(v)), hex(bits), `${v}: ${why}`);
  assert.equal(bfloat16Value(0x3f80), 1);
  assert.equal(bfloat16Value(0x7f7f), 3.3895313892515355e38);
  // A float32 NaN whose payload sits in the low 16 bits must stay NaN (plain rounding would make it inf).
  assert.equal(hex(float32BitsToBFloat16(0x7f800001)), '0x7fc0');
  assert.equal(hex(float32BitsToBFloat16(0xff800001)), '0xffc0');
  // A float32 NaN keeps its top payload bits in float16 too, and stays quiet.
  assert.equal(hex(float32BitsToFloat16(0x7fa00000)), '0x7f00');
});

test('every float16 and every bfloat16 pattern decodes and encodes back to itself', () => {
  for (let b = 0; b < 0x10000; b++) {
    const v = float16Value(b);
    if (Number.isNaN(v)) assert.ok((b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0);
    else assert.equal(float16Bits(v), b);
    const w = bfloat16Value(b);
    if (!Number.isNaN(w)) assert.equal(bfloat16Bits(w), b);
  }
});

test('NDArray: numbers are rounded into half bits; toTypedArray gives the bits, toArray the values', async () => {
  const a = NDArray.from([1, 0.1, 65520, -(2 ** -24)], [4], { dtype: 'float16' });
  assert.deepEqual([...a.toTypedArraySync()], [0x3c00, 0x2e66, 0x7c00, 0x8001]);
  assert.deepEqual(await a.toArray(), [1, 0.0999755859375, Infinity, -(2 ** -24)]);
  const bits = new Uint16Array([0x3f80, 0xc000]);
  const b = NDArray.from(bits, [2], { dtype: 'bfloat16' });
  assert.equal(b.toTypedArraySync(), bits, 'a Uint16Array is taken as bits, without a copy');
  assert.deepEqual(b.toArraySync(), [1, -2]);
  const c = NDArray.from(new Float32Array([1.5, 1 + 2 ** -8]), [2], { dtype: 'bfloat16' });
  assert.deepEqual(c.toArraySync(), [1.5, 1]);
  assert.throws(() => NDArray.from(new Uint16Array(2), [2]), /Uint16Array needs \{ dtype: 'float16' \}/);
});

test('promotion: half with float32 or with the other half type is float32; scalars keep the half type', () => {
  assert.equal(promote('float16', 'float32'), 'float32');
  assert.equal(promote('bfloat16', 'float32'), 'float32');
  assert.equal(promote('float16', 'bfloat16'), 'float32');
  assert.equal(promote('bfloat16', 'float16'), 'float32');
  assert.equal(promote('float16', 'float16'), 'float16');
  assert.equal(promote('float16', 'int64'), 'float16');
  assert.equal(promote('bfloat16', 'float64'), 'float64');
  assert.equal(scalarDType(0.5, 'float16'), 'float16');
  assert.equal(scalarDType(3, 'bfloat16'), 'bfloat16');
  const t = trace(
    (h, b, f, i) => [h.add(f), h.mul(b), h.mul(0.5), b.add(i), h.mean(), b.softmax(-1), i.to('float16').sum()],
    [
      { shape: [4], dtype: 'float16' },
      { shape: [4], dtype: 'bfloat16' },
      { shape: [4], dtype: 'float32' },
      { shape: [4], dtype: 'int32' },
    ],
  );
  assert.deepEqual(t.graph.outputs.map((id) => t.graph.node(id).dtype), ['float32', 'float32', 'float16', 'bfloat16', 'float16', 'bfloat16', 'float16']);
});

test('.npy: float16 round-trips as <f2 bits; bfloat16 has no .npy form', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-half-npy-'));
  try {
    const a = NDArray.from([0.5, -3, 65504, 2 ** -24, NaN, -Infinity], [2, 3], { dtype: 'float16' });
    const file = path.join(dir, 'h.npy');
    await writeNpy(file, a);
    assert.match(fs.readFileSync(file).subarray(10, 60).toString('latin1'), /'descr': '<f2'/);
    const b = readNpy(file);
    assert.equal(b.dtype, 'float16');
    assert.deepEqual(b.shape, [2, 3]);
    assert.deepEqual([...b.toTypedArraySync()], [...a.toTypedArraySync()]);
    const bf = NDArray.from([1, 2], [2], { dtype: 'bfloat16' });
    await assert.rejects(encodeNpy(bf), /bfloat16 has no \.npy dtype/);
    await assert.rejects(writeNpy(path.join(dir, 'b.npy'), bf), /b\.npy: bfloat16 has no \.npy dtype/);
    // A file NumPy wrote with np.float16 parses (header as numpy.save writes it).
    const header = "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }".padEnd(117, ' ') + '\n';
    const bytes = new Uint8Array(128 + 4);
    bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 118, 0]);
    bytes.set(new TextEncoder().encode(header), 10);
    bytes.set([0x00, 0x3c, 0x00, 0xc0], 128);
    assert.deepEqual(parseNpy(bytes).toArraySync(), [1, -2]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
