// The integer dtypes on the host (no compiling): ranges, wrapping and saturating conversions,
// promotion between them, NDArray storage, and the reference interpreter's integer arithmetic,
// which must be exact and wrap as the kernels do (it is the oracle of ops_ints.test.ts).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { NDArray } from '../src/graph/ndarray.js';
import { trace } from '../src/frontend/trace.js';
import { GraphBuilder } from '../src/graph/builder.js';
import { DTYPES, type DType, byteSize, numbersToTyped, promote } from '../src/graph/dtype.js';
import { INT_INFO, saturateInt, wrapInt } from '../src/graph/int.js';
import { interpret } from '../src/graph/interpret.js';
import { Graph } from '../src/graph/ir.js';
import { ShapeError } from '../src/graph/shape.js';

test('ranges and sizes of every integer dtype', () => {
  const want: [DType, bigint, bigint, number][] = [
    ['int8', -128n, 127n, 1], ['uint8', 0n, 255n, 1], ['int16', -32768n, 32767n, 2], ['uint16', 0n, 65535n, 2],
    ['int32', -(2n ** 31n), 2n ** 31n - 1n, 4], ['uint32', 0n, 2n ** 32n - 1n, 4], ['int64', -(2n ** 63n), 2n ** 63n - 1n, 8], ['uint64', 0n, 2n ** 64n - 1n, 8],
  ];
  for (const [dt, min, max, bytes] of want) {
    assert.ok(DTYPES.includes(dt));
    const info = INT_INFO[dt as keyof typeof INT_INFO];
    assert.deepEqual([info.min, info.max, byteSize(dt)], [min, max, bytes], dt);
  }
});

test('wrapInt wraps modulo 2^bits (truncating, NaN and inf to 0); saturateInt clamps', () => {
  const cases: [DType, number, number, number][] = [
    // dtype, value, wrapped, saturated
    ['uint8', 300, 44, 255], ['uint8', -1, 255, 0], ['uint8', 255.9, 255, 255], ['uint8', -0.5, 0, 0],
    ['int8', 128, -128, 127], ['int8', -129, 127, -128], ['int8', -7.9, -7, -7],
    ['int16', 32768, -32768, 32767], ['uint16', 65536 + 5, 5, 65535], ['uint16', -2, 65534, 0],
    ['uint32', 2 ** 32 + 7, 7, 2 ** 32 - 1], ['uint32', -1, 2 ** 32 - 1, 0], ['int32', 2 ** 31, -(2 ** 31), 2 ** 31 - 1],
    ['uint64', -2048, 2 ** 64 - 2048, 0], ['uint64', 2 ** 64 + 4096, 4096, 2 ** 64],
    ['int64', 2 ** 63 + 2048, -(2 ** 63) + 2048, 2 ** 63], ['int64', -(2 ** 63) - 4096, 2 ** 63 - 4096, -(2 ** 63)],
  ];
  for (const [dt, v, wrapped, saturated] of cases) {
    const d = dt as keyof typeof INT_INFO;
    assert.equal(wrapInt(v, d), wrapped, `wrap ${v} to ${dt}`);
    assert.equal(saturateInt(v, d), saturated, `saturate ${v} to ${dt}`);
  }
  for (const v of [NaN, Infinity, -Infinity]) assert.equal(wrapInt(v, 'uint8'), 0);
  assert.equal(saturateInt(NaN, 'int16'), 0);
  assert.equal(saturateInt(Infinity, 'int16'), 32767);
  assert.equal(saturateInt(-Infinity, 'uint32'), 0);
  assert.ok(Object.is(wrapInt(-0.5, 'int8'), 0), 'no -0');
});

test('promotion: NumPy/PyTorch rules for mixed signedness, ints with floats and bool; uint64 with a signed int is refused', () => {
  const want: [DType, DType, DType][] = [
    ['uint8', 'int8', 'int16'], ['uint8', 'int16', 'int16'], ['uint16', 'int16', 'int32'], ['uint16', 'int8', 'int32'],
    ['uint32', 'int32', 'int64'], ['uint32', 'int8', 'int64'], ['uint8', 'uint32', 'uint32'], ['int8', 'int64', 'int64'],
    ['uint64', 'uint8', 'uint64'], ['bool', 'uint8', 'uint8'], ['int8', 'bool', 'int8'], ['uint16', 'float16', 'float16'],
    ['uint64', 'float32', 'float32'], ['int8', 'bfloat16', 'bfloat16'], ['int32', 'int64', 'int64'], ['float16', 'bfloat16', 'float32'],
  ];
  for (const [a, b, c] of want) {
    assert.equal(promote(a, b), c, `${a} with ${b}`);
    assert.equal(promote(b, a), c, `${b} with ${a}`);
  }
  for (const s of ['int8', 'int16', 'int32', 'int64'] as const) {
    assert.throws(() => promote('uint64', s, 'add'), (e: Error) => e instanceof ShapeError && e.message === `add: cannot combine uint64 and ${s}: no integer type holds both (cast one of them first)`);
  }
  // trunc_div is integer division: float operands are refused by the builder (Tensor.div(o, 'trunc') rounds them instead).
  const b = new GraphBuilder(new Graph());
  const f = b.input('f', [2], 'float32');
  assert.throws(() => b.binary('trunc_div', f, f), /^ShapeError: trunc_div: expects integer operands, got float32 and float32$/);
  assert.equal(b.dtype(b.binary('trunc_div', b.input('u', [2], 'uint8'), b.input('i', [2], 'int8'))), 'int16');
  // Through the builders: the op is named.
  assert.throws(() => trace((a, b) => a.add(b!), [{ shape: [2], dtype: 'uint64' }, { shape: [2], dtype: 'int64' }]), /add: cannot combine uint64 and int64/);
  assert.throws(() => trace((a, b) => a.matmul(b!), [{ shape: [2, 2], dtype: 'int8' }, { shape: [2, 2], dtype: 'uint64' }]), /matmul: cannot combine int8 and uint64/);
});

test('NDArray: typed arrays give their dtype, numbers convert as typed arrays store, uint64 past 2^53 stays exact', () => {
  assert.equal(NDArray.from(new Int8Array(2), [2]).dtype, 'int8');
  assert.equal(NDArray.from(new Int16Array(2), [2]).dtype, 'int16');
  assert.equal(NDArray.from(new Uint32Array(2), [2]).dtype, 'uint32');
  assert.equal(NDArray.from(new BigUint64Array(2), [2]).dtype, 'uint64');
  // Bytes stay bool unless told (as before uint8 existed); 16-bit patterns must be named.
  assert.equal(NDArray.from(new Uint8Array(2), [2]).dtype, 'bool');
  assert.throws(() => NDArray.from(new Uint16Array(2), [2]), /\{ dtype: 'uint16' \}/);
  const u16 = new Uint16Array([1, 65535]);
  assert.equal(NDArray.from(u16, [2], { dtype: 'uint16' }).toTypedArraySync(), u16, 'taken without a copy');
  assert.deepEqual([...NDArray.from([300, -1, 2.9], [3], { dtype: 'uint8' }).toTypedArraySync()], [44, 255, 2]);
  assert.deepEqual([...NDArray.from([128, -129], [2], { dtype: 'int8' }).toTypedArraySync()], [-128, 127]);
  const big = NDArray.from([2n ** 64n - 1n, 2n ** 63n + 1n, -1n], [3], { dtype: 'uint64' });
  assert.deepEqual([...(big.toTypedArraySync() as BigUint64Array)], [2n ** 64n - 1n, 2n ** 63n + 1n, 2n ** 64n - 1n]);
  assert.deepEqual(big.toArraySync(), [2 ** 64, 2 ** 63, 2 ** 64]);
  // From numbers: modulo 2^64, except that 2^64 itself (UINT64_MAX as a double) is the maximum.
  assert.deepEqual([...(numbersToTyped('uint64', [2 ** 64, -2048, NaN, 5.5]) as BigUint64Array)], [2n ** 64n - 1n, 2n ** 64n - 2048n, 0n, 5n]);
});

test('interpreter: integer arithmetic is exact and wraps; division and remainders by zero give 0; float → int casts saturate', () => {
  const run = (fn: Parameters<typeof trace>[0], inputs: NDArray[]) =>
    interpret(trace(fn, inputs.map((a) => ({ shape: a.shape, dtype: a.dtype }))).graph, inputs).map((r) => [...r.data]);
  // uint32: products past 2^53 (a double would round them before the wrap).
  const u32 = NDArray.from(new Uint32Array([4294967295, 3000000019, 65537]), [3]);
  assert.deepEqual(run((a) => a.mul(a), [u32])[0], [1, Number((3000000019n * 3000000019n) % 2n ** 32n), Number((65537n * 65537n) % 2n ** 32n)]);
  // uint64: sums past 2^64 wrap; subtraction below 0 wraps.
  const u64 = NDArray.from([2n ** 64n - 2048n, 2n ** 63n, 4096n], [3], { dtype: 'uint64' });
  const add = NDArray.from([4096n, 2n ** 63n, 8192n], [3], { dtype: 'uint64' });
  const [sum, diff] = run((a, b) => [a.add(b!), b!.sub(a)], [u64, add]);
  assert.deepEqual(sum, [2048, 0, 12288]);
  assert.deepEqual(diff, [Number(2n ** 64n - 2n ** 64n + 2048n + 4096n), 0, 4096]);
  // int64: exact above 2^53 (2^60 + 1 is not a double, but (2^60 + 1) // 1 - 2^60 = 1 is computed exactly from exact inputs).
  const i64 = NDArray.from([2n ** 55n + 8n, -(2n ** 62n), 7n], [3], { dtype: 'int64' });
  const d = NDArray.from([3n, -(2n ** 62n), -2n], [3], { dtype: 'int64' });
  const [q, m, f] = run((a, b) => [a.div(b!, 'trunc'), a.remainder(b!), a.fmod(b!)], [i64, d]);
  assert.deepEqual(q, [Number((2n ** 55n + 8n) / 3n), 1, -3]);
  assert.deepEqual(m, [Number((2n ** 55n + 8n) % 3n), 0, -1]);
  assert.deepEqual(f, [Number((2n ** 55n + 8n) % 3n), 0, 1]);
  // Zero divisors give 0; INT8_MIN / -1 wraps to INT8_MIN; uint8 wraps.
  const i8 = NDArray.from([-128, 100, -7, 5], [4], { dtype: 'int8' });
  const by = NDArray.from([-1, 0, 2, -3], [4], { dtype: 'int8' });
  const [q8, m8, f8, p8] = run((a, b) => [a.div(b!, 'trunc'), a.remainder(b!), a.fmod(b!), a.pow(3)], [i8, by]);
  assert.deepEqual(q8, [-128, 0, -3, -1]);
  assert.deepEqual(m8, [0, 0, 1, -1]);
  assert.deepEqual(f8, [0, 0, -1, 2]);
  assert.deepEqual(p8, [0, 64, -87, 125]);
  const u8 = NDArray.from([200, 3], [2], { dtype: 'uint8' });
  assert.deepEqual(run((a) => [a.add(100), a.mul(a), a.neg()], [u8]), [[44, 103], [64, 9], [56, 253]]);
  const f32 = NDArray.from(new Float32Array([NaN, Infinity, -Infinity, 1e10, -1e10, -0.9, 254.9, 3.5e38]), [8]);
  assert.deepEqual(run((a) => [a.to('uint8'), a.to('int16'), a.to('uint64')], [f32]), [
    [0, 255, 0, 255, 0, 0, 254, 255],
    [0, 32767, -32768, 32767, -32768, 0, 254, 32767],
    [0, 2 ** 64, 0, 1e10, 0, 0, 254, 2 ** 64],
  ]);
});
