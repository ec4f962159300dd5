// The integer dtypes int8, uint8, int16, uint16, uint32 and uint64 through compiled CPU
// kernels, against the reference interpreter (exact, wrapping integer arithmetic): random
// data over each type's whole range with the edge values 0, max, min and max-1 in front
// (int_data.ts), so sums, products and negations wrap, uint32 values pass 2^31 and uint64
// values 2^63 in comparisons, max/min and argmax. Integer results compare exactly.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { NDArray } from '../src/graph/ndarray.js';
import { trace } from '../src/frontend/trace.js';
import { type DType, DTYPES, isInt } from '../src/graph/dtype.js';
import { INT_INFO, type IntDType } from '../src/graph/int.js';
import { where } from '../src/index.js';
import { NEW_INTS, grain, intData } from './int_data.js';
import { checkAgainstReference, compileCpu, refTest } from './helpers.js';

const INTS = DTYPES.filter(isInt) as IntDType[];
const signed = (dt: IntDType) => INT_INFO[dt].signed;
/** The largest test value below the maximum (64-bit: a multiple of the grain, see int_data.ts). */
const exactHi = (dt: IntDType) => INT_INFO[dt].max - (grain(dt) === 1n ? 0n : INT_INFO[dt].max % grain(dt));

/** Values in {-1, 0, 1} (unsigned: {0, 1}) with a zero and a -1 where intData puts max and min: division by zero and MIN / -1. */
function zeroOnes(dt: IntDType, shape: number[], seed: number): NDArray {
  const base = intData(dt, shape, seed, { lo: signed(dt) ? -1n : 0n, hi: 1n, edges: false });
  const v = base.toArraySync();
  v[1] = 0;
  v[2] = signed(dt) ? -1 : 0;
  return NDArray.from(v, shape, { dtype: dt });
}

for (const dt of NEW_INTS) {
  refTest(
    `${dt}: +, -, *, neg, abs, pow wrap around; comparisons, max/min, where, sign, relu, isnan/isinf (never)`,
    (a, b, c, d) => [
      a.add(b), a.sub(b), a.mul(b), a.neg(), a.abs(), a.pow(c), a.add(1), d.mul(3).sub(7 * Number(grain(dt))).mul(d),
      a.maximum(b), a.minimum(b), a.eq(b), a.ne(b), a.lt(b), a.le(b), a.gt(b), a.ge(b), where(a.gt(b), a, b), a.sign(), a.relu(),
      a.isnan(), a.isinf(),
    ],
    () => [intData(dt, [5, 37], 1), intData(dt, [37], 2), intData(dt, [5, 37], 3, { lo: 0n, hi: 6n, edges: false }), intData(dt, [5, 37], 4, { hi: exactHi(dt) })],
  );

  refTest(
    `${dt}: division truncates toward zero, remainder takes the divisor's sign, fmod the dividend's; a zero divisor gives 0`,
    (a, b, s, z) => [a.div(b, 'trunc'), a.remainder(b), a.fmod(b), a.div(s, 'trunc'), a.remainder(s), a.fmod(s), a.div(z, 'trunc'), a.remainder(z), a.fmod(z), a.div(3, 'trunc')],
    () => [
      intData(dt, [4, 33], 5),
      intData(dt, [4, 33], 6, { nonzero: true }),
      intData(dt, [33], 7, { lo: signed(dt) ? -9n : 1n, hi: 9n, nonzero: true, edges: false }),
      zeroOnes(dt, [4, 33], 8),
    ],
  );

  refTest(
    `${dt}: sum (rows, columns, whole tensor) and prod wrap; max, min, argmax, argmin compare ${signed(dt) ? 'signed' : 'unsigned'}; cumsum`,
    (x, p, t) => [
      x.sum(-1), x.sum(0), x.sum(), p.prod(-1), x.max(-1), x.min(0), x.max(), x.argmax(-1), x.argmin(0), x.cumsum(1), x.cumsum(0, true, true),
      t.argmax(-1), t.argmin(-1, false, true), t.sum(-1, true).sub(t).max(-1),
    ],
    () => [intData(dt, [6, 300], 9, { hi: exactHi(dt) }), intData(dt, [8, 5], 10, { hi: exactHi(dt) }), intData(dt, [6, 40], 11, { lo: 0n, hi: 3n, edges: false })],
  );

  refTest(
    `${dt}: casts to every int type, float32, float64, float16, bfloat16 and bool (integers wrap)`,
    (x) => [...INTS.filter((t) => t !== dt).map((t) => x.to(t)), x.to('float32'), x.to('float64'), x.to('float16'), x.to('bfloat16'), x.to('bool')],
    () => [intData(dt, [64], 12)],
  );

  const f32Edges = [
    NaN, Infinity, -Infinity, 1e30, -1e30, -0.5, 0.5, -1.5, 127.5, 128, -128.5, -129, 255.5, 256, 32767.5, 32768, -32768.9, 65535.9, 65536,
    2147483520, -2147483648, 4294967040, 4294967296, 9223371487098961920, 1.8446742974197924e19, 1.8446744073709552e19, 7, -7.9,
  ];
  const f64Edges = [4294967295.5, 4294967296.5, -1.0000001, 18446744073709549568, 18446744073709551616, 9223372036854774784, -9223372036854775808, 65535.999, 255.999999];
  refTest(
    `${dt}: casts from float32 and float64 truncate and saturate (NaN → 0); from int64, int32 and bool wrap`,
    (f, d, i, j, b) => [f.to(dt), d.to(dt), i.to(dt), j.to(dt), b.to(dt), f.to(dt).to('float32')],
    () => [
      NDArray.from(Float32Array.from(f32Edges), [f32Edges.length]),
      NDArray.from(Float64Array.from([...f32Edges, ...f64Edges]), [f32Edges.length + f64Edges.length], { dtype: 'float64' }),
      intData('int64', [40], 13),
      intData('int32', [40], 14),
      NDArray.from(Uint8Array.from([1, 0, 1, 1]), [4], { dtype: 'bool' }),
    ],
  );

  refTest(
    `${dt}: matmul accumulates with wrap-around (small, panel-sized, batched) with a fused epilogue`,
    (a, w, q) => [a.matmul(w).add(1), q.matmul(q.transpose(-1, -2))],
    () => [intData(dt, [33, 40], 15, { hi: exactHi(dt) }), intData(dt, [40, 37], 16, { hi: exactHi(dt) }), intData(dt, [3, 5, 9], 17, { hi: exactHi(dt) })],
  );
}

refTest(
  'mixed integer dtypes promote as NumPy (uint8+int8 → int16, uint32−int32 → int64, uint16·int8 → int32) and weak scalars take the tensor type',
  (a, b, c, d, e, f) => [a.add(b), c.sub(d), e.mul(b), a.add(f), a.add(300), a.mul(-1), c.gt(d), a.maximum(b), e.div(a, 'trunc'), a.div(b), f.div(e, 'trunc')],
  () => [
    intData('uint8', [3, 20], 20),
    intData('int8', [20], 21, { nonzero: true }),
    intData('uint32', [3, 20], 22),
    intData('int32', [3, 20], 23),
    intData('uint16', [3, 20], 24),
    NDArray.from(Float32Array.from({ length: 60 }, (_, i) => (i % 7) - 3.25), [3, 20]),
  ],
);

refTest(
  'int32 and int64 share the guarded division and remainders: by zero gives 0, MIN / -1 wraps; isinf/isnan compile (false)',
  (a, z, l, y) => [a.div(z, 'trunc'), a.remainder(z), a.fmod(z), l.div(y, 'trunc'), l.remainder(y), l.fmod(y), a.isinf(), l.isnan()],
  () => [intData('int32', [4, 33], 30), zeroOnes('int32', [4, 33], 31), intData('int64', [4, 33], 32, { hi: exactHi('int64') }), zeroOnes('int64', [4, 33], 33)],
);

test('unsupported combinations fail clearly, naming the op and the dtypes', async () => {
  assert.throws(() => trace((a, b) => a.add(b!), [{ shape: [2], dtype: 'uint64' }, { shape: [2], dtype: 'int8' }]), /^ShapeError: add: cannot combine uint64 and int8/);
  assert.throws(() => trace((a, b) => a.maximum(b!), [{ shape: [2], dtype: 'int32' }, { shape: [2], dtype: 'uint64' }]), /maximum: cannot combine int32 and uint64/);
  assert.throws(() => trace((a) => a.logicalNot(), [{ shape: [2], dtype: 'uint8' }]), /not: expected bool, got uint8/);
  assert.throws(() => trace((a) => a.div(2, 'floor' as 'trunc'), [{ shape: [2], dtype: 'int16' }]), /div: roundingMode must be 'trunc' or omitted, got floor/);
  // An ONNX-style int / int stays true division unless asked to truncate.
  const t = trace((a, b) => a.div(b!), [{ shape: [2], dtype: 'uint8' }, { shape: [2], dtype: 'uint8' }]);
  assert.equal(t.graph.node(t.graph.outputs[0]!).dtype, 'float32' as DType);
  // Float operands truncate through floor/ceil (no trunc_div of floats in the IR).
  const f = NDArray.from(new Float32Array([7, -7, 7.5, -0.5]), [4]);
  const g = NDArray.from(new Float32Array([2, 2, -2, 3]), [4]);
  const { outputs } = await checkAgainstReference((a, b) => a.div(b!, 'trunc'), [f, g]);
  assert.deepEqual([...(await outputs[0]!.toTypedArray())], [3, -3, -3, -0]);
  // uint8 in, uint8 out: the compiled function hands back Uint8Array data typed uint8 (not bool).
  const run = compileCpu((a) => a.add(100));
  const out = (await run(NDArray.from([200, 1], [2], { dtype: 'uint8' }))) as NDArray;
  assert.equal(out.dtype, 'uint8');
  assert.deepEqual([...(await out.toTypedArray())], [44, 101]);
});

test('uint64 and int64 past 2^53 compute exactly in kernels (checked by hand: doubles cannot tell these apart)', async () => {
  const T = 2n ** 63n;
  const x = NDArray.from([T + 1n, T + 3n, T, 2n ** 64n - 1n, 2n ** 64n - 2n, T + 2n], [6], { dtype: 'uint64' });
  const y = NDArray.from([T + 1n, T + 2n, T + 2n, 2n ** 64n - 2n, 2n ** 64n - 1n, T + 2n], [6], { dtype: 'uint64' });
  const run = compileCpu((a, b) => [a.argmax(), a.argmin(), a.max(), a.sub(b!), a.eq(b!), a.gt(b!), a.maximum(b!), a.div(b!, 'trunc'), a.to('int64')]);
  const outs = (await run(x, y)) as NDArray[];
  const got = await Promise.all(outs.map(async (o) => [...(await o.toTypedArray())]));
  const M = 2n ** 64n;
  assert.deepEqual(got, [
    [3n], [2n], [M - 1n],
    [0n, 1n, M - 2n, 1n, M - 1n, 0n],
    [1, 0, 0, 0, 0, 1], [0, 1, 0, 1, 0, 0],
    [T + 1n, T + 3n, T + 2n, M - 1n, M - 1n, T + 2n],
    [1n, 1n, 0n, 1n, 0n, 1n],
    [-T + 1n, -T + 3n, -T, -1n, -2n, -T + 2n],
  ]);
});
