// Views over symbolic sizes (lower/views.ts, lower/sym_index.ts): a reshape that merges
// [batch, seq, K] into [batch·seq, K] or splits it back, and a slice of a static dim of a
// symbolic tensor, are strided views of their input (no copy kernel), and a product's result
// reshaped from [batch·seq, N] to [batch, seq, N] takes its bias and activation as the
// product's epilogue, as in a static program: unflatten's index round trip through a symbolic
// size simplifies back to the product's own point. Checked on the kernels the CPU backend
// schedules and, at several sizes from one program, against the float64 interpreter.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { compileGraph } from '../src/api/program.js';

import { CpuBackend } from '../src/backends/cpu/backend.js';
import { Tensor } from '../src/frontend/tensor.js';
import { trace } from '../src/frontend/trace.js';
import { SymInt } from '../src/graph/sym.js';
import { exprKey, iadd, idx, imul } from '../src/lower/expr.js';
import { idivDim, loopVarDim } from '../src/lower/sym_index.js';
import { flatten, unflatten } from '../src/lower/views.js';
import { schedule } from '../src/schedule/schedule.js';
import { assertMatches, randn, reference } from './helpers.js';

const [s0, s1] = [SymInt.symbol('s0'), SymInt.symbol('s1')];

test('(m·64 + n) // (64·s1) is m // s1, and unflatten then flatten through [s0, s1, 64] gives back m·64 + n', () => {
  const m = loopVarDim('m', s0.mul(s1));
  const n = loopVarDim('n', 64);
  const flat = iadd(imul(m, 64), n);
  assert.equal(exprKey(idivDim(flat, s1.mul(64))), exprKey(idivDim(m, s1)));
  const point = unflatten(flatten([m, n], [s0.mul(s1), 64]), [s0, s1, 64]);
  assert.equal(exprKey(flatten(point, [s0, s1, 64])), exprKey(flat));
  // A numeric check of the identity it relies on, for a few sizes (floor division of nonnegative integers).
  for (const [a, c, d] of [[1000, 64, 3], [63, 8, 7], [5, 4, 1]] as const) assert.equal(Math.floor(Math.floor(a / c) / d), Math.floor(a / (c * d)));
  // Not for a sum the constant does not divide into a nonnegative part: a negative index keeps the division as written.
  assert.equal(exprKey(idivDim(idx(-5), s1.mul(2))).includes('idiv'), true);
});

const W = randn([32, 96], 2001);
const bias = randn([96], 2002);
const W2 = randn([32, 48], 2003);

/**
 * A view of `x` back to [b, s, n] from [b·s, n], its target's dims named as an ONNX shape chain
 * names them (the graph builder's symbolic target; the frontend's reshape takes numbers only),
 * when x was traced over symbolic dims; else the plain reshape.
 */
function unflattenRows(x: Tensor, like: Tensor, n: number): Tensor {
  const dims = like.tracer.graph.node(like.id).sym;
  const [b, s] = like.shape as [number, number];
  if (!dims) return x.reshape([b, s, n]);
  return new Tensor(x.tracer, x.tracer.b.reshape(x.id, [b, s, n], [dims[0]!, dims[1]!, n]));
}

/** GPT-2's Conv1D: rows flattened for the product, the result viewed back; q, k sliced from it; a tanh GELU on the MLP path. */
function conv1d(x: Tensor): Tensor[] {
  const qkv = unflattenRows(x.reshape([-1, 32]).matmul(W).add(bias), x, 96);
  const q = qkv.slice(-1, 0, 32);
  const k = qkv.slice(-1, 32, 64);
  const scores = q.matmul(k.transpose(1, 2));
  const h = unflattenRows(x.reshape([-1, 32]).matmul(W2), x, 48);
  const gelu = h.mul(0.5).mul(h.add(h.pow(3).mul(0.044715)).mul(0.7978845608).tanh().add(1));
  return [scores, gelu];
}

test('a product over [batch·seq] rows viewed back to [batch, seq, N]: slices of it read in place, its bias and GELU its epilogue; no copy kernel', async () => {
  const t = trace(conv1d as never, [{ shape: [2, 7, 32], dtype: 'float32', sym: [s0, s1, 32] }]);
  const { plan } = await schedule(t.graph, new CpuBackend(), undefined, true);
  const kinds = plan.info.map((i) => `${i.kind}:${i.ops.join(',')}`);
  // Three products (qkv with its bias, the scores over slices of it, the MLP's with its GELU) and nothing else.
  assert.deepEqual(kinds.filter((k) => !k.startsWith('matmul')), [], `kernels: ${kinds.join(' ')}`);
  assert.equal(kinds.length, 3, `kernels: ${kinds.join(' ')}`);
});

test('the same function through one symbolic program at (2,7), (3,63), (1,1), (2,1000), against the interpreter', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-sym-views-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const program = await compileGraph(trace(conv1d as never, [{ shape: [2, 7, 32], dtype: 'float32', sym: [s0, s1, 32] }]), { cacheDir: dir, workers: 2, device: 'cpu' });
  assert.equal(program.kernelCount, 3);
  for (const [b, s, seed] of [[2, 7, 2004], [3, 63, 2005], [1, 1, 2006], [2, 1000, 2007]] as const) {
    const xs = [randn([b, s, 32], seed)];
    const refs = reference(conv1d, xs);
    const outs = await program.run(xs);
    for (let i = 0; i < refs.length; i++) await assertMatches(outs[i]!, refs[i]!, { rtol: 1e-4, atol: 1e-4, label: `(${b},${s}) output ${i}` });
  }
  program.dispose();
});
