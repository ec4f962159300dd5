// SymInt (graph/sym.ts) and the index arithmetic over symbolic sizes (lower/sym_index.ts,
// lower/views.ts): canonical forms, proofs, guards, and every simplification checked against
// plain integer arithmetic under many bindings (the simplifier must never change a value).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { type Dim, GuardFailure, SYM_MAX, SYM_MIN, SymInt, fmtGuard, guardHolds, symNumel, symStrides } from '../src/graph/sym.js';
import { broadcastDims, reshapeDims } from '../src/graph/sym_shape.js';
import { SymbolicUnsupportedError } from '../src/graph/sym.js';
import { evalIndex } from '../src/lower/expr.js';
import { loopVarDim } from '../src/lower/sym_index.js';
import { flatten, unflatten } from '../src/lower/views.js';
import { mulberry32 } from '../src/graph/random.js';

const s0 = SymInt.symbol('s0');
const s1 = SymInt.symbol('s1');

test('SymInt: one canonical form (equal sums compare equal), evaluation, C text, JSON round trip', () => {
  const a = s0.mul(s1).mul(3).add(s1).add(2);
  const b = SymInt.of(2).add(s1.mul(s0).mul(2)).add(s1).add(s0.mul(s1));
  assert.ok(a.equals(b), `${a.key()} vs ${b.key()}`);
  assert.equal(a.key(), '3*s0*s1 + s1 + 2');
  assert.equal(a.eval(new Map([['s0', 5], ['s1', 7]])), 3 * 35 + 7 + 2);
  assert.equal(a.toC((n) => `sz_${n}`), '(3LL * sz_s0 * sz_s1 + sz_s1 + 2LL)');
  assert.ok(SymInt.fromJSON(JSON.parse(JSON.stringify(a))).equals(a));
  assert.equal(s0.sub(s0).constant, 0);
  assert.equal(s0.bareSymbol, 's0');
  assert.equal(s0.mul(2).bareSymbol, undefined);
  assert.throws(() => s0.eval(new Map()), /no value for size symbol s0/);
  assert.throws(() => SymInt.symbol('1x'), /bad symbol name/);
});

test('SymInt: exact division, and proofs over the symbols range [1, SYM_MAX]', () => {
  const n = symNumel([s0, s1, 64]);
  assert.ok(n.divExact(s1.mul(64))!.equals(s0));
  assert.equal(n.divExact(s0.add(1)), undefined, 'not one term');
  assert.equal(n.divExact(128), undefined, 'coefficient does not divide');
  assert.equal(SYM_MIN, 1);
  assert.ok(s0.sub(1).provablyNonNegative());
  assert.ok(!s0.sub(2).provablyNonNegative(), 's0 may be 1');
  assert.ok(s0.mul(s1).sub(s0).provablyNonNegative(), 's0·s1 ≥ s0 when s1 ≥ 1');
  assert.ok(!s0.mul(s1).sub(s0).sub(s1).provablyNonNegative(), 's0·s1 < s0 + s1 at s0 = s1 = 1');
  assert.ok(s1.provablyLE(s0.mul(s1)));
  assert.ok(!s0.mul(s1).provablyLE(s0));
  assert.equal(s0.mul(2).upperBound(), 2 * SYM_MAX);
  assert.deepEqual(symStrides([s0, s1, 4]).map((s) => s.key()), ['4*s1', '4', '1']);
});

test('guards: holds under a binding, message names the guard and the sizes', () => {
  const g = { expr: s0.mul(s1).toJSON(), rel: 'le' as const, value: 4096, why: 'a sum stays unblocked' };
  assert.ok(guardHolds(g, new Map([['s0', 64], ['s1', 64]])));
  assert.ok(!guardHolds(g, new Map([['s0', 64], ['s1', 65]])));
  assert.equal(fmtGuard(g), 's0*s1 <= 4096 (a sum stays unblocked)');
  assert.ok(guardHolds({ expr: s0.toJSON(), rel: 'divisible', value: 4, why: '' }, new Map([['s0', 12]])));
  assert.match(new GuardFailure(g, new Map([['s0', 100], ['s1', 100]])).message, /s0=100, s1=100 break the program's guard s0\*s1 <= 4096/);
});

test('shape inference: a symbol broadcasts with 1 and itself only; reshapes keep symbols or refuse', () => {
  assert.deepEqual(broadcastDims('add', [s0, 1], [1, 5]).map(String), ['s0', '5']);
  assert.deepEqual(broadcastDims('add', [s0, 5], [s0, 5]).map(String), ['s0', '5']);
  assert.throws(() => broadcastDims('add', [s0], [s1]), (e: unknown) => e instanceof SymbolicUnsupportedError && e.symbols.includes('s0'));
  assert.throws(() => broadcastDims('add', [s0], [7]), SymbolicUnsupportedError);
  // [s0, s1, 16] → [s0, s1, 2, 8] (the hints matched by position) and → [-1, 16].
  assert.deepEqual(reshapeDims([s0, s1, 16], [3, 5, 16], [3, 5, 2, 8], [3, 5, 2, 8]).map(String), ['s0', 's1', '2', '8']);
  assert.deepEqual(reshapeDims([s0, s1, 16], [3, 5, 16], [-1, 16], [15, 16]).map(String), ['s0*s1', '16']);
  // [s0, 6] → [6, 4] at s0 = 4 reads as [6, s0]: the same size for every s0 (the trace at other
  // sizes tells a literal 4 apart); [s0, 5] → [2, 10] holds for s0 = 4 only.
  assert.deepEqual(reshapeDims([s0, 6], [4, 6], [6, 4], [6, 4]).map(String), ['6', 's0']);
  assert.throws(() => reshapeDims([s0, 5], [4, 5], [2, 10], [2, 10]), SymbolicUnsupportedError);
});

/** Every point of `dims` under `b`, as the loop variables' values. */
function* points(dims: readonly number[]): Generator<number[]> {
  const n = dims.reduce((p, d) => p * d, 1);
  for (let f = 0; f < n; f++) {
    const idx: number[] = [];
    let r = f;
    for (let d = dims.length - 1; d >= 0; d--) {
      idx.unshift(r % dims[d]!);
      r = Math.floor(r / dims[d]!);
    }
    yield idx;
  }
}

test('flatten/unflatten over symbolic shapes agree with integer arithmetic for every point of random bindings', () => {
  const rand = mulberry32(7);
  const shapes: [Dim[], Dim[]][] = [
    [[s0, s1, 16], [s0, s1, 2, 8]],
    [[s0, s1, 16], [s0.mul(s1), 16]],
    [[s0, 2, s1, 8], [s0, 2, s1, 8]],
    [[s0, s1], [s1.mul(s0)]],
  ];
  for (const [out, input] of shapes) {
    const vars = out.map((d, i) => loopVarDim(`o${i}`, d));
    // The input index of the output point, through a row-major reshape.
    const idxs = unflatten(flatten(vars, out), input);
    for (let trial = 0; trial < 6; trial++) {
      const b = new Map([['s0', 2 + Math.floor(rand() * 5)], ['s1', 2 + Math.floor(rand() * 9)]]);
      const outN = out.map((d) => (typeof d === 'number' ? d : d.eval(b)));
      const inN = input.map((d) => (typeof d === 'number' ? d : d.eval(b)));
      const inStrides = symStrides(inN).map((s) => s.eval(b));
      const outStrides = symStrides(outN).map((s) => s.eval(b));
      for (const p of points(outN)) {
        const env = new Map([...b, ...p.map((v, i) => [`o${i}`, v] as [string, number])]);
        const flat = p.reduce((acc, v, i) => acc + v * outStrides[i]!, 0);
        const got = idxs.map((e) => evalIndex(e, env)).reduce((acc, v, i) => acc + v * inStrides[i]!, 0);
        assert.equal(got, flat, `${out.map(String)} → ${input.map(String)} at ${p} under ${[...b]}`);
      }
    }
  }
});

test('a reshape that only renames dims simplifies to the plain index (no division left)', () => {
  const out: Dim[] = [s0, s1, 2, 8];
  const vars = out.map((d, i) => loopVarDim(`o${i}`, d));
  const idxs = unflatten(flatten(vars, out), [s0, s1, 16]);
  const text = JSON.stringify(idxs);
  assert.ok(!text.includes('"idiv"') && !text.includes('"imod"'), `divisions left: ${text.slice(0, 300)}`);
});

test('a folded row index split by symbolic sizes and joined again is the row itself, and every step evaluates as integers do', () => {
  const row = loopVarDim('o0', s0.mul(s1));
  const parts = unflatten(row, [s0, s1]);
  const joined = flatten(parts, [s0, s1]);
  assert.deepEqual(joined, row, `joined: ${JSON.stringify(joined).slice(0, 200)}`);
  const rand = mulberry32(9);
  for (let trial = 0; trial < 20; trial++) {
    const b = new Map([['s0', 2 + Math.floor(rand() * 6)], ['s1', 2 + Math.floor(rand() * 6)]]);
    const n1 = b.get('s1')!;
    for (let r = 0; r < b.get('s0')! * n1; r++) {
      const env = new Map([...b, ['o0', r]]);
      assert.deepEqual(parts.map((e) => evalIndex(e, env)), [Math.floor(r / n1), r % n1]);
    }
  }
});
