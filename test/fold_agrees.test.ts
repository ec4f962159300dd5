// The ONNX importer's load-time folding (onnx/emit.ts: every operand known, the op evaluated
// at once) against the reference interpreter on the same graph with the operands as inputs,
// op by op, on random integer and float data. Both go through graph/evaluate.ts; what this
// checks is the part they must not share: folding gives each node's result in its dtype as a
// kernel stores it (integers wrapped exactly like the reference, float32 rounded to float32,
// half types rounded), the interpreter keeps float32 in float64. Integer, bool and half
// results must be equal, float32 results the reference's rounded to float32 (exactly, for a
// single op; within float32 rounding of each step, for a chain).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { NDArray } from '../src/frontend/ndarray.js';
import { Tracer } from '../src/frontend/tracer.js';
import { GraphBuilder } from '../src/graph/builder.js';
import { type DType, isInt, numbersToTyped } from '../src/graph/dtype.js';
import { interpret } from '../src/graph/interpret.js';
import { Graph } from '../src/graph/ir.js';
import { mulberry32 } from '../src/graph/random.js';
import { numel } from '../src/graph/shape.js';
import { ConstTensor } from '../src/onnx/const_tensor.js';
import { Emitter } from '../src/onnx/emit.js';

interface Operand {
  shape: number[];
  dtype: DType;
  /** Random values: integers in [lo, hi), floats normal (scaled), with NaNs when `nan`. */
  lo?: number;
  hi?: number;
  nan?: boolean;
}

interface Case {
  name: string;
  operands: Operand[];
  build: (b: GraphBuilder, ids: number[]) => number;
  /** More than one node: float32 folding rounds each step, so compare within a tolerance. */
  chain?: boolean;
}

const int = (dtype: DType, shape: number[], lo: number, hi: number): Operand => ({ dtype, shape, lo, hi });
const flt = (shape: number[], dtype: DType = 'float32', nan = false): Operand => ({ dtype, shape, nan });

const INT_RANGES: Record<string, [number, number]> = {
  int8: [-128, 128],
  uint8: [0, 256],
  int16: [-32768, 32768],
  uint16: [0, 65536],
  int32: [-(2 ** 31), 2 ** 31],
  uint32: [0, 2 ** 32],
  // Folding keeps 64-bit results past 2^53 as kernel work (numbers cannot hold them): small values.
  int64: [-1024, 1024],
};

const cases: Case[] = [];
for (const [dt, [lo, hi]] of Object.entries(INT_RANGES) as [DType, [number, number]][]) {
  const a = int(dt, [3, 5], lo, hi);
  const b = int(dt, [5], lo, hi);
  const small = int(dt, [5], dt.startsWith('u') ? 0 : -7, 8);
  for (const fn of ['add', 'sub', 'mul', 'trunc_div', 'mod', 'fmod', 'maximum', 'lt', 'eq'] as const) {
    cases.push({ name: `${fn} ${dt}`, operands: [a, fn.includes('div') || fn.includes('mod') ? small : b], build: (g, [x, y]) => g.binary(fn, x!, y!) });
  }
  cases.push({ name: `pow ${dt}`, operands: [int(dt, [3, 5], dt.startsWith('u') ? 0 : -9, 10), int(dt, [5], 0, 6)], build: (g, [x, y]) => g.binary('pow', x!, y!) });
  cases.push({ name: `neg, abs ${dt}`, operands: [a], build: (g, [x]) => g.unary('abs', g.unary('neg', x!)), chain: true });
  cases.push({ name: `sum, prod, max, argmin ${dt}`, operands: [a], chain: true, build: (g, [x]) => g.cat([g.reduce('sum', x!, 1, false), g.reduce('prod', x!, 1, false), g.reduce('max', x!, 0, false), g.cast(g.reduce('argmin', x!, 0, false), dt)], 0) });
  cases.push({ name: `cumsum ${dt}`, operands: [a], build: (g, [x]) => g.cumsum(x!, 1, true, true) });
  cases.push({ name: `matmul ${dt}`, operands: [int(dt, [2, 3, 4], lo, hi), int(dt, [4, 3], lo, hi)], build: (g, [x, y]) => g.matmul(x!, y!) });
  cases.push({ name: `cast ${dt} → int8, uint16, float32`, operands: [a], chain: true, build: (g, [x]) => g.cat([g.cast(g.cast(x!, 'int8'), 'float32'), g.cast(g.cast(x!, 'uint16'), 'float32'), g.cast(x!, 'float32')], 0) });
}
cases.push(
  { name: 'float → int casts saturate, NaN → 0', operands: [flt([4, 6], 'float32', true)], chain: true, build: (g, [x]) => g.cat([g.cast(g.cast(g.binary('mul', x!, g.scalar(300, 'float32')), 'int8'), 'int16'), g.cast(g.binary('mul', x!, g.scalar(1e5, 'float32')), 'int16'), g.cast(g.binary('mul', x!, g.scalar(100, 'float32')), 'uint8')], 0) },
  { name: 'float32 add, div, pow, maximum', operands: [flt([3, 5]), flt([5])], chain: true, build: (g, [x, y]) => g.cat([g.binary('add', x!, y!), g.binary('div', x!, y!), g.binary('pow', g.unary('abs', x!), y!), g.binary('maximum', x!, y!)], 0) },
  { name: 'float32 div', operands: [flt([3, 5]), flt([5])], build: (g, [x, y]) => g.binary('div', x!, y!) },
  { name: 'float32 exp', operands: [flt([4, 6])], build: (g, [x]) => g.unary('exp', x!) },
  { name: 'float32 sigmoid', operands: [flt([4, 6])], build: (g, [x]) => g.unary('sigmoid', x!) },
  { name: 'float32 gelu', operands: [flt([4, 6])], build: (g, [x]) => g.unary('gelu', x!) },
  { name: 'float32 round', operands: [flt([4, 6])], build: (g, [x]) => g.unary('round', g.binary('mul', x!, g.scalar(3, 'float32'))), chain: true },
  { name: 'float32 sum', operands: [flt([4, 6])], build: (g, [x]) => g.reduce('sum', x!, 1, false) },
  { name: 'float32 prod', operands: [flt([4, 6])], build: (g, [x]) => g.reduce('prod', x!, [0, 1], true) },
  // NaN counts as the extremum for argmax/argmin, as in PyTorch and the kernels.
  { name: 'float32 argmax, argmin, max with NaN', operands: [flt([6, 5], 'float32', true)], chain: true, build: (g, [x]) => g.cat([g.cast(g.reduce('argmax', x!, 0, false), 'float32'), g.cast(g.reduce('argmin', x!, 1, false, true), 'float32'), g.reduce('max', x!, 1, false)], 0) },
  { name: 'float32 matmul', operands: [flt([2, 3, 4]), flt([4, 5])], build: (g, [x, y]) => g.matmul(x!, y!) },
  { name: 'float32 cumsum', operands: [flt([3, 7])], build: (g, [x]) => g.cumsum(x!, 1) },
  { name: 'float32 softmax', operands: [flt([3, 7])], chain: true, build: (g, [x]) => {
    const e = g.unary('exp', g.binary('sub', x!, g.reduce('max', x!, 1, true)));
    return g.binary('div', e, g.reduce('sum', e, 1, true));
  } },
  { name: 'float16 add, mul', operands: [flt([4, 6], 'float16'), flt([6], 'float16')], build: (g, [x, y]) => g.binary('mul', x!, y!) },
  { name: 'bfloat16 sum', operands: [flt([4, 6], 'bfloat16')], build: (g, [x]) => g.reduce('sum', x!, 1, false) },
  { name: 'float64 tanh', operands: [flt([4, 6], 'float64')], build: (g, [x]) => g.unary('tanh', x!) },
  { name: 'where', operands: [int('bool', [3, 4], 0, 2), flt([3, 4]), int('int32', [4], -5, 5)], build: (g, [c, x, y]) => g.where(c!, x!, g.cast(y!, 'float32')), chain: true },
  { name: 'gather int64', operands: [int('int64', [5, 3], -1e6, 1e6), int('int32', [2, 4], -5, 5)], build: (g, [x, i]) => g.gather(x!, i!, 0) },
  { name: 'scatterElements add with duplicates, uint8', operands: [int('uint8', [4, 3], 0, 256), int('int64', [6, 3], -4, 4), int('uint8', [6, 3], 0, 256)], build: (g, [d, i, u]) => g.scatterElements(d!, i!, u!, 0, 'add') },
  // Duplicate indices make a chain: folding rounds each combined value, as a kernel stores it.
  { name: 'scatterND mul, float32', operands: [flt([4, 3]), int('int32', [3, 1], -4, 4), flt([3, 3])], chain: true, build: (g, [d, i, u]) => g.scatterND(d!, i!, u!, 'mul') },
  { name: 'views: permute, slice, window, expand, cat', operands: [int('int16', [2, 3, 4], -300, 300)], build: (g, [x]) => {
    const s = g.slice(g.permute(x!, [2, 0, 1]), 0, 1, 4, 2); // [2, 2, 3]
    const w = g.window(s, [{ dim: 2, k: 2, padBefore: 1, padAfter: 1 }], -7); // [2, 2, 4, 2]
    const e = g.expand(g.slice(x!, 2, 0, 1), [2, 3, 5]);
    return g.cat([g.reshape(w, [32]), g.reshape(e, [30])], 0);
  } },
  { name: 'iota int32', operands: [], build: (g) => g.iota([3, 4], 1, -5, 3, 'int32') },
);

/** Random operand values as numbers of the operand's dtype. */
function values(op: Operand, seed: number): number[] {
  const r = mulberry32(seed);
  return Array.from({ length: numel(op.shape) }, (_, i) => {
    if (op.dtype === 'bool') return r() < 0.5 ? 1 : 0;
    if (isInt(op.dtype)) return op.lo! + Math.floor(r() * (op.hi! - op.lo!));
    if (op.nan && i % 7 === 3) return NaN;
    const v = (r() - 0.5) * 6;
    return op.dtype === 'float32' ? Math.fround(v) : v;
  });
}

/** Equal as values: NaN equals NaN, -0 equals 0. */
const same = (a: number, b: number) => a === b || (Number.isNaN(a) && Number.isNaN(b));

test('load-time folding agrees with the reference interpreter: integers exact, float32 rounded as a kernel stores it', () => {
  for (const [k, c] of cases.entries()) {
    for (const seed of [1, 2, 3]) {
      const vals = c.operands.map((op, i) => values(op, 1000 * k + 10 * seed + i));
      // Folded: every operand known, so the emitter evaluates the op at once.
      const em = new Emitter(new Tracer());
      const known = c.operands.map((op, i) => new ConstTensor(op.shape, op.dtype, numbersToTyped(op.dtype, vals[i]!)));
      const folded = em.emit(known, c.build)[0];
      assert.ok(folded instanceof ConstTensor, `${c.name}: not folded`);
      // Reference: the same ops over graph inputs, interpreted.
      const g = new Graph();
      const gb = new GraphBuilder(g);
      const ids = c.operands.map((op, i) => gb.input(`x${i}`, op.shape, op.dtype));
      g.outputs = [c.build(gb, ids)];
      const [ref] = interpret(g, known.map((t) => NDArray.from(t.typedArray(), t.shape, { dtype: t.dtype })));
      assert.deepEqual(folded.shape, ref!.shape, `${c.name}: shape`);
      assert.equal(folded.dtype, ref!.dtype, `${c.name}: dtype`);
      const got = folded.values();
      const want = ref!.data;
      assert.equal(got.length, want.length, `${c.name}: length`);
      for (let i = 0; i < got.length; i++) {
        const at = `${c.name} (seed ${seed}) [${i}]: folded ${got[i]}, reference ${want[i]}`;
        if (ref!.dtype === 'float32') {
          assert.ok(Number.isNaN(got[i]!) || Math.fround(got[i]!) === got[i], `${at}: not a float32`);
          if (c.chain) assert.ok(same(got[i]!, want[i]!) || Math.abs(got[i]! - want[i]!) <= 1e-6 * (1 + Math.abs(want[i]!)), at);
          else assert.ok(same(got[i]!, Math.fround(want[i]!)), at);
        } else {
          assert.ok(same(got[i]!, want[i]!), at);
        }
      }
    }
  }
});

test('folding differs from the reference only by float32 rounding: the reference keeps float64', () => {
  // 1/3 in float32 is not 1/3: the reference keeps the float64 quotient, folding the stored one.
  const em = new Emitter(new Tracer());
  const one = ConstTensor.scalar(1, 'float32');
  const three = ConstTensor.scalar(3, 'float32');
  const folded = em.emit([one, three], (b, [x, y]) => b.binary('div', x!, y!))[0] as ConstTensor;
  assert.equal(folded.values()[0], Math.fround(1 / 3));
  const g = new Graph();
  const gb = new GraphBuilder(g);
  const ids = [gb.input('a', [], 'float32'), gb.input('b', [], 'float32')];
  g.outputs = [gb.binary('div', ids[0]!, ids[1]!)];
  const [ref] = interpret(g, [NDArray.from(Float32Array.of(1), []), NDArray.from(Float32Array.of(3), [])]);
  assert.equal(ref!.data[0], 1 / 3);
});
