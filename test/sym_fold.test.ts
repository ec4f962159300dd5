// ONNX shape arithmetic over size symbols (onnx/sym_fold.ts, through the importer's folding in
// onnx/emit.ts): what each op does to the symbols, checked at random bindings against the same
// op evaluated on numbers; comparisons the bounds decide need no guard, others are decided as
// at the hints with a guard that every admitted binding keeps true; ops that are not followed
// lose the symbols rather than guess.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { GraphBuilder } from '../src/graph/builder.js';
import { mulberry32 } from '../src/graph/random.js';
import { type Binding, type Dim, SymInt, guardHolds } from '../src/graph/sym.js';
import { Tracer } from '../src/frontend/tracer.js';
import { ConstTensor } from '../src/onnx/const_tensor.js';
import { Emitter } from '../src/onnx/emit.js';

const b0 = SymInt.symbol('batch');
const s1 = SymInt.symbol('seq');
const hints = new Map([['batch', 3], ['seq', 7]]);

/** An emitter whose graph has an input [batch, seq] at the hints (so the symbols have hints), and Shape of it. */
function setup(): { em: Emitter; shape: ConstTensor } {
  const t = new Tracer();
  t.b.input('x', [3, 7], 'float32', 'input', [b0, s1]);
  return { em: new Emitter(t), shape: ConstTensor.sizes([2], [3, 7], [b0, s1]) };
}

const evalDims = (dims: readonly Dim[], b: Binding) => dims.map((d) => (typeof d === 'number' ? d : d.eval(b)));

test('gather, concat, unsqueeze, add, mul, exact division and casts carry the symbols; the values are the hints', () => {
  const { em, shape } = setup();
  const i64 = (v: number[]) => new ConstTensor([v.length], 'int64', v);
  const [out] = em.emit([shape, i64([1]), i64([16]), i64([2])], (b: GraphBuilder, [sh, one, w, two]) => {
    const seq = b.gather(sh!, one!, 0);
    const batch = b.gather(sh!, b.scalar(0, 'int64'), 0);
    const bs = b.binary('mul', batch, b.reshape(seq, []));
    const halfW = b.binary('trunc_div', b.binary('mul', w!, b.reshape(seq, [])), two!);
    const last = b.binary('sub', seq, b.scalar(1, 'int64'));
    return b.cast(b.cat([b.reshape(bs, [1]), halfW, last, b.reshape(batch, [1])], 0), 'int32');
  });
  const c = out as ConstTensor;
  assert.deepEqual(c.values(), [21, 56, 6, 3]);
  assert.deepEqual(c.sym!.map(String), [b0.mul(s1).key(), s1.mul(8).key(), s1.sub(1).key(), 'batch']);
  const r = mulberry32(5);
  for (let k = 0; k < 20; k++) {
    const bind = new Map([['batch', 2 + Math.floor(r() * 100)], ['seq', 2 + Math.floor(r() * 1000)]]);
    assert.deepEqual(evalDims(c.sym!, bind), [bind.get('batch')! * bind.get('seq')!, bind.get('seq')! * 8, bind.get('seq')! - 1, bind.get('batch')!]);
  }
  assert.deepEqual(em.b.g.guards, [], 'nothing needed a guard');
});

test('comparisons and Min/Max: decided by the bounds with no guard where they can be, else as at the hints with a guard', () => {
  const { em, shape } = setup();
  const i64 = (v: number[]) => new ConstTensor([v.length], 'int64', v);
  // seq == -1 and seq >= 1 hold for every binding: no guard.
  const [eq, ge] = em.emit([shape, i64([-1, -1]), i64([1, 1])], (b, [sh, m1, one]) => [b.cast(b.binary('eq', sh!, m1!), 'int64'), b.cast(b.binary('ge', sh!, one!), 'int64')]);
  assert.deepEqual((eq as ConstTensor).values(), [0, 0]);
  assert.equal((eq as ConstTensor).sym, undefined);
  assert.deepEqual((ge as ConstTensor).values(), [1, 1]);
  assert.deepEqual(em.b.g.guards, []);
  // Min(s, 512) is s under s <= 512; Max(batch, 5) is 5 under batch <= 5 (3 at the hints), Max(seq, 5) seq under seq >= 5.
  const [mn] = em.emit([shape, i64([512, 512])], (b, [sh, lim]) => b.binary('minimum', sh!, lim!));
  const [mx] = em.emit([shape, i64([5, 5])], (b, [sh, lim]) => b.binary('maximum', sh!, lim!));
  assert.deepEqual((mn as ConstTensor).values(), [3, 7]);
  assert.deepEqual((mn as ConstTensor).sym!.map(String), ['batch', 'seq']);
  assert.deepEqual((mx as ConstTensor).values(), [5, 7]);
  assert.deepEqual((mx as ConstTensor).sym!.map(String), ['5', 'seq']);
  const guards = em.b.g.guards;
  assert.equal(guards.length, 4, JSON.stringify(guards));
  // Every guard holds at the hints, and a binding breaking one is one where the decision would differ.
  for (const g of guards) assert.ok(guardHolds(g, hints), JSON.stringify(g));
  assert.ok(!guards.every((g) => guardHolds(g, new Map([['batch', 3], ['seq', 600]]))), 'seq = 600 breaks Min(seq, 512) = seq');
  assert.ok(!guards.every((g) => guardHolds(g, new Map([['batch', 9], ['seq', 7]]))), 'batch = 9 breaks Max(batch, 5) = 5');
});

test('float arithmetic on a size and a comparison over symbols as indices lose the symbols (values at the hints only)', () => {
  const { em, shape } = setup();
  const [root] = em.emit([shape], (b, [sh]) => b.unary('sqrt', b.cast(sh!, 'float32')));
  assert.equal((root as ConstTensor).sym, undefined);
  assert.deepEqual((root as ConstTensor).values().map((v) => Math.round(v * 1000) / 1000), [1.732, 2.646]);
  // A size kept through a float cast is data the graph computes per call (emit.ts sizeValue).
  const [asFloat] = em.emit([shape], (b, [sh]) => b.cast(sh!, 'float32'));
  assert.deepEqual((asFloat as ConstTensor).sym!.map(String), ['batch', 'seq']);
  const id = em.id(asFloat!);
  assert.deepEqual(em.b.shape(id), [2]);
  assert.ok(em.b.g.nodes.some((n) => n.op === 'reduce' && n.fn === 'sum'), 'computed as counts');
});
