// The fusion plan (schedule/fuse.ts, fusion_plan.ts): which kernels a graph becomes, which
// nodes each computes and the rule that put each there, and the KILN_DEBUG=schedule text.
// Every program is also compiled and checked against the reference interpreter.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Tensor } from '../src/frontend/tensor.js';
import { type TracedFn, trace } from '../src/frontend/trace.js';
import { finalize } from '../src/schedule/finalize.js';
import { formKernels } from '../src/schedule/fuse.js';
import { type FusionPlan, fmtFusionPlan } from '../src/schedule/fusion_plan.js';
import { realize } from '../src/schedule/realize.js';
import { GraphBuilder } from '../src/graph/builder.js';
import { Graph } from '../src/graph/ir.js';
import { checkAgainstReference, randn } from './helpers.js';

function plan(fn: TracedFn, shapes: number[][]): { g: Graph; plan: FusionPlan } {
  const t = trace(fn, shapes.map((shape) => ({ shape, dtype: 'float32' as const })));
  return { g: t.graph, plan: formKernels(t.graph, realize(t.graph)) };
}

/** Each kernel as `kind: op:rule op:rule …`. */
function summary(g: Graph, p: FusionPlan): string[] {
  return p.kernels.map((k) => `${k.kind}: ${k.members.map((m) => `${opOf(g, m.node)}:${m.rule}`).join(' ')}`);
}
function opOf(g: Graph, id: number): string {
  const n = g.node(id);
  return n.op === 'unary' || n.op === 'binary' || n.op === 'reduce' ? n.fn : n.op;
}

test('softmax is one row kernel: max starts it, sum joins over the same domain, the division as an inner consumer', async () => {
  const fn = (x: Tensor) => x.softmax(-1);
  const { g, plan: p } = plan(fn, [[6, 10]]);
  assert.deepEqual(summary(g, p), ['loops: max:reduction sum:same-domain reduction div:inner consumer']);
  const [max, sum, div] = p.kernels[0]!.members;
  assert.deepEqual(sum!.reads, [max!.node]);
  assert.deepEqual(div!.reads, [max!.node, sum!.node]);
  assert.deepEqual(p.kernels[0]!.axes, [1]);
  const text = fmtFusionPlan(g, p);
  assert.match(text, /^fusion plan: 1 kernels\nkernel 0 \(loops\): domain \[6,10\], reducing axes \[1\]\n/);
  assert.match(text, new RegExp(`%${div!.node} div float32\\[6,10\\] +joins: pointwise at the domain point, after the reductions \\(inner pass\\); reads accumulators %${max!.node} %${sum!.node}`));
  assert.match(text, /inlines .*exp float32\[6,10\]/);
  await checkAgainstReference(fn, [randn([6, 10], 1)]);
});

test('bias and activation join the matmul as its epilogue; a row mean times a scale as an outer consumer', async () => {
  const fn = (x: Tensor, w: Tensor, b: Tensor) => {
    const h = x.matmul(w).add(b).relu();
    return [h, x.sum(-1).mul(0.5)];
  };
  const { g, plan: p } = plan(fn, [[4, 16], [16, 8], [8]]);
  assert.deepEqual(summary(g, p), ['matmul: matmul:matmul relu:epilogue', 'loops: sum:reduction mul:outer consumer']);
  const text = fmtFusionPlan(g, p);
  assert.match(text, /relu float32\[4,8\] +joins: matmul epilogue; reads accumulators %\d+\n +loads %\d+ input float32\[8\]; inlines %\d+ add float32\[4,8\]/);
  assert.match(text, /mul float32\[4\] +joins: pointwise at the row point \(outer store\)/);
  await checkAgainstReference(fn, [randn([4, 16], 2), randn([16, 8], 3), randn([8], 4)]);
});

test('a consumer joins the kernel holding what it reads however many kernels came between', async () => {
  // The matmul's kernel comes first, then eight kernels of their own; the last node reads the
  // product at its point and an input only, so it is the matmul's epilogue. (Before the plan was
  // data, only the six newest kernels were tried: it became a kernel of its own.)
  const fn = (x: Tensor, w: Tensor, y: Tensor) => {
    const m = x.matmul(w);
    const others = Array.from({ length: 8 }, (_, i) => y.mul(i + 2).exp());
    return [...others, m, m.add(y)];
  };
  const { g, plan: p } = plan(fn, [[4, 8], [8, 8], [4, 8]]);
  assert.equal(p.kernels.length, 9);
  assert.deepEqual(summary(g, p)[0], 'matmul: matmul:matmul add:epilogue');
  await checkAgainstReference(fn, [randn([4, 8], 5), randn([8, 8], 6), randn([4, 8], 7)]);
});

test('an output that is an input is copied into a fresh output buffer', async () => {
  const fn = (x: Tensor, y: Tensor) => [x, y.exp()];
  const { g, plan: p } = plan(fn, [[5], [3]]);
  assert.deepEqual(summary(g, p), ['loops: input:output copy', 'loops: exp:pointwise']);
  const r = realize(g);
  const f = finalize(g, r, p);
  const out = f.buffers[f.outputs[0]!]!;
  assert.equal(out.kind, 'output');
  assert.notEqual(f.outputs[0], 0, 'the output is not the input buffer');
  assert.deepEqual(f.args[0], [0, f.outputs[0]]);
  await checkAgainstReference(fn, [randn([5], 8), randn([3], 9)]);
});

test('a scatter is two kernels: the copy of its data (its producer inlined), then the updates (theirs inlined)', () => {
  const g = new Graph();
  const b = new GraphBuilder(g);
  const data = b.input('data', [6, 4], 'float32');
  const idx = b.input('idx', [3, 1], 'int64');
  const upd = b.input('upd', [3, 4], 'float32');
  const relu = b.unary('relu', data);
  const exp = b.unary('exp', upd);
  const s = b.scatterND(relu, idx, exp, 'add');
  g.outputs = [s];
  const p = formKernels(g, realize(g));
  assert.deepEqual(summary(g, p), ['loops: scatter:scatter copy', 'scatter: scatter:scatter updates']);
  assert.deepEqual(p.kernels[0]!.members[0]!.inlined, [relu]);
  assert.ok(p.kernels[1]!.members[0]!.inlined.includes(exp));
  assert.ok(p.kernels[1]!.members[0]!.loads.includes(s), 'the update kernel reads the copied data');
  assert.equal(p.producer.get(s), 1, 'readers of the scatter wait for its update kernel');
});

test('finalize leaves the plan as fuse made it: its stores and parameters are computed aside', () => {
  const fn = (x: Tensor, w: Tensor) => x.matmul(w).softmax(-1).sum(0);
  const { g, plan: p } = plan(fn, [[8, 8], [8, 8]]);
  const snapshot = () => JSON.stringify(p.kernels.map((k) => [k.members, k.params.refs, k.innerStores.length, k.outerStores.length]));
  const before = snapshot();
  const f = finalize(g, realize(g), p);
  assert.equal(snapshot(), before);
  // The matmul's product is read by the softmax kernel: finalize gave it a store and a parameter.
  assert.ok(f.kernels[0]!.bufs.length > p.kernels[0]!.params.size);
});
