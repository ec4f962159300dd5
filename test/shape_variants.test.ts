// The variant set a loaded model keeps (api/shape_variants.ts), on its own: the bound and the
// least-recently-used order, a variant held by a run disposed only once the run releases it, and
// the contract that lets one symbolic variant serve many bindings (accepts()). The variants here
// are plain objects keeping that contract; test/onnx_dynamic.test.ts drives the real ones.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { type ShapeVariant, ShapeVariants } from '../src/api/shape_variants.js';
import type { Binding } from '../src/onnx/binding.js';
import { counters } from '../src/observe/counters.js';

interface Made extends ShapeVariant {
  name: string;
  disposed: number;
}

/** A per-shape variant: accepts exactly its own sizes. */
function exact(name: string, sizes: Record<string, number>, valueKey = ''): Made {
  const v: Made = {
    name,
    valueKey,
    disposed: 0,
    accepts: (b: Binding) => b.size === Object.keys(sizes).length && Object.entries(sizes).every(([k, n]) => b.get(k) === n),
    dispose: () => void v.disposed++,
  };
  return v;
}

const bind = (sizes: Record<string, number>): Binding => new Map(Object.entries(sizes));

test('the least recently used variant goes past the bound, disposed once; a lookup counts as a use', () => {
  const c0 = counters();
  const set = new ShapeVariants<Made>(2);
  const [a, b, c] = [1, 2, 3].map((n) => exact(`b${n}`, { batch: n }));
  set.add('', bind({ batch: 1 }), a!);
  set.add('', bind({ batch: 2 }), b!);
  assert.equal(set.find('', bind({ batch: 1 })), a, 'batch 1 found, now the most recently used');
  assert.equal(set.find('', bind({ batch: 4 })), undefined);
  set.add('', bind({ batch: 3 }), c!);
  assert.deepEqual(set.values().map((v) => v.name), ['b1', 'b3']);
  assert.deepEqual([a!.disposed, b!.disposed, c!.disposed], [0, 1, 0]);
  const c1 = counters();
  assert.deepEqual([c1.shape_variant_builds - c0.shape_variant_builds, c1.shape_variant_hits - c0.shape_variant_hits, c1.shape_variant_evictions - c0.shape_variant_evictions], [3, 1, 1]);
  set.clear();
  assert.deepEqual([a!.disposed, b!.disposed, c!.disposed], [1, 1, 1], 'clear disposes what is left, and nothing twice');
  assert.equal(set.size, 0);
});

test('a variant evicted while a run holds it is disposed when the last run releases it, not before', () => {
  const set = new ShapeVariants<Made>(1);
  const a = exact('a', { batch: 1 });
  set.add('', bind({ batch: 1 }), a);
  set.acquire(a);
  set.acquire(a);
  set.add('', bind({ batch: 2 }), exact('b', { batch: 2 }));
  assert.equal(set.find('', bind({ batch: 1 })), undefined, 'evicted: no longer found');
  assert.equal(a.disposed, 0, 'two runs hold it');
  set.release(a);
  assert.equal(a.disposed, 0, 'one run still holds it');
  set.release(a);
  assert.equal(a.disposed, 1);
  set.release(a);
  assert.equal(a.disposed, 1, 'a stray release disposes nothing twice');
});

test('a variant that accepts many bindings (as a symbolic program will) serves them all; value keys never mix', () => {
  const set = new ShapeVariants<Made>(4);
  const symbolic: Made = { name: 'sym', valueKey: 'v1', disposed: 0, accepts: (b) => (b.get('seq') ?? 0) <= 1024, dispose: () => void symbolic.disposed++ };
  set.add('v1', bind({ seq: 7 }), symbolic);
  for (const seq of [1, 63, 1000]) assert.equal(set.find('v1', bind({ seq })), symbolic, `seq ${seq}`);
  assert.equal(set.find('v1', bind({ seq: 2048 })), undefined, 'outside its guards');
  assert.equal(set.find('v2', bind({ seq: 7 })), undefined, 'another value of the value inputs');
  // An exact variant added later is found by its key first; the symbolic one still serves the rest.
  const exact7 = exact('exact7', { seq: 9 }, 'v1');
  set.add('v1', bind({ seq: 9 }), exact7);
  assert.equal(set.find('v1', bind({ seq: 9 })), exact7);
  assert.equal(set.find('v1', bind({ seq: 10 })), symbolic);
});
