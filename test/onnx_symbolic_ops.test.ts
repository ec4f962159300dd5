// The node patterns transformer exports emit over symbolic batch and sequence (PyTorch's dynamo
// exporter: GPT-2, BERT/RoBERTa, LLaMA/Mistral), written here as small ONNX models with
// dim_param inputs: an embedding Gather by symbolic ids, Range(0, seq) positions, RoBERTa's
// CumSum position ids, a static causal-mask buffer and rotary cos/sin caches sliced to the
// sequence, reshapes to [batch, seq, heads, dim] through Shape → Gather → Concat, the last
// position through Gather(Sub(seq, 1)), a mean over the sequence, ConstantOfShape + Trilu and Range comparisons for
// causal and sliding-window masks, an Expand target through Equal/Where, and softmax over a
// symbolic key length. Each model loads once, runs three (batch, seq) shapes on ONE symbolic
// program (one compile), and each result is checked against the float64 interpreter
// (graph/interpret.ts) over the graph built at that shape; sizes past a sliced buffer break the
// slice's guard and are never answered wrongly.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { NDArray } from '../src/graph/ndarray.js';
import { interpret } from '../src/graph/interpret.js';
import { mulberry32 } from '../src/graph/random.js';
import { loadOnnx } from '../src/api/load_onnx.js';
import { counters } from '../src/observe/counters.js';
import { AT, F, I64, model, vi } from './onnx_writer.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-onnx-symbolic-ops-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const opts = { cacheDir: path.join(tmp, 'cache'), workers: 0 };

function randoms(n: number, seed: number, scale = 1): number[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

const i64 = (name: string, dims: number[], v: number[]) => ({ name, dims, dataType: I64, int64Data: v });
const f32 = (name: string, dims: number[], v: number[]) => ({ name, dims, dataType: F, floatData: v });
const axis = (i: number) => [{ name: 'axis', i, type: AT.INT }];
const perm = (p: number[]) => [{ name: 'perm', ints: p, type: AT.INTS }];

/** Exporters' prologue: batch and seq of `input` as scalars `b`, `s` and one-element `b1`, `s1` (Shape → Gather → Unsqueeze). */
const batchAndSeq = (input: string) => [
  { op: 'Shape', inputs: [input], outputs: ['sh'] },
  { op: 'Gather', inputs: ['sh', 'i0'], outputs: ['b'], attrs: axis(0) },
  { op: 'Gather', inputs: ['sh', 'i1'], outputs: ['s'], attrs: axis(0) },
  { op: 'Unsqueeze', inputs: ['b', 'ax0'], outputs: ['b1'] },
  { op: 'Unsqueeze', inputs: ['s', 'ax0'], outputs: ['s1'] },
];

/** Softmax of `scores` times `vh`, heads merged back to [batch, seq, `width`] through a Shape chain, as `out`. */
const attend = (width: string, out: string) => [
  { op: 'Softmax', inputs: ['scores'], outputs: ['p'], attrs: axis(-1) },
  { op: 'MatMul', inputs: ['p', 'vh'], outputs: ['o4'] },
  { op: 'Transpose', inputs: ['o4'], outputs: ['o'], attrs: perm([0, 2, 1, 3]) },
  { op: 'Concat', inputs: ['b1', 's1', width], outputs: ['shape3'], attrs: axis(0) },
  { op: 'Reshape', inputs: ['o', 'shape3'], outputs: [out] },
];

const E = 16;
const H = 2;
const DH = 8;
const V = 13;
/** Rows of the static position tables, mask buffer and rotary caches: seq must not exceed it. */
const P = 32;

// --- GPT-2 / RoBERTa: ids and an attention mask [batch, seq] ---

const gpt2File = path.join(tmp, 'gpt2_like.onnx');
fs.writeFileSync(
  gpt2File,
  model({
    nodes: [
      ...batchAndSeq('ids'),
      // Token and position embeddings: Gather by symbolic ids, Range(0, seq) positions.
      { op: 'Gather', inputs: ['wte', 'ids'], outputs: ['tok'], attrs: axis(0) },
      { op: 'Range', inputs: ['zero', 's', 'one'], outputs: ['pos'] },
      { op: 'Unsqueeze', inputs: ['pos', 'ax0'], outputs: ['pos2'] },
      { op: 'Gather', inputs: ['wpe', 'pos2'], outputs: ['pe'], attrs: axis(0) },
      { op: 'Add', inputs: ['tok', 'pe'], outputs: ['h0'] },
      { op: 'LayerNormalization', inputs: ['h0', 'ln_g', 'ln_b'], outputs: ['h'], attrs: [{ name: 'axis', i: -1, type: AT.INT }, { name: 'epsilon', f: 1e-5, type: AT.FLOAT }] },
      { op: 'MatMul', inputs: ['h', 'wq'], outputs: ['q'] },
      { op: 'MatMul', inputs: ['h', 'wk'], outputs: ['k'] },
      { op: 'MatMul', inputs: ['h', 'wv'], outputs: ['v'] },
      { op: 'Concat', inputs: ['b1', 's1', 'heads'], outputs: ['shape4'], attrs: axis(0) },
      { op: 'Reshape', inputs: ['q', 'shape4'], outputs: ['q4'] },
      { op: 'Reshape', inputs: ['k', 'shape4'], outputs: ['k4'] },
      { op: 'Reshape', inputs: ['v', 'shape4'], outputs: ['v4'] },
      { op: 'Transpose', inputs: ['q4'], outputs: ['qh'], attrs: perm([0, 2, 1, 3]) },
      { op: 'Transpose', inputs: ['k4'], outputs: ['kt'], attrs: perm([0, 2, 3, 1]) },
      { op: 'Transpose', inputs: ['v4'], outputs: ['vh'], attrs: perm([0, 2, 1, 3]) },
      { op: 'MatMul', inputs: ['qh', 'kt'], outputs: ['sc0'] },
      { op: 'Mul', inputs: ['sc0', 'scale'], outputs: ['sc'] },
      // GPT-2's causal mask: a static [1, 1, P, P] buffer sliced to [:seq, :seq].
      { op: 'Concat', inputs: ['s1', 's1'], outputs: ['ends2'], attrs: axis(0) },
      { op: 'Slice', inputs: ['bias', 'zeros2', 'ends2', 'axes23'], outputs: ['bsl'] },
      { op: 'Cast', inputs: ['bsl'], outputs: ['cm'], attrs: [{ name: 'to', i: 9, type: AT.INT }] },
      { op: 'Where', inputs: ['cm', 'sc', 'neg'], outputs: ['scm'] },
      // The padding mask read as the dynamo exporter's vmapped masks read it: GatherND(mask,
      // [batch, 1, 1, seq, 2] pairs (b, s) built from Range(0, batch) and Range(0, seq)).
      { op: 'Range', inputs: ['zero', 'b', 'one'], outputs: ['br'] },
      { op: 'Unsqueeze', inputs: ['br', 'ax1'], outputs: ['bcol'] },
      { op: 'Concat', inputs: ['b1', 's1'], outputs: ['bs'], attrs: axis(0) },
      { op: 'Expand', inputs: ['bcol', 'bs'], outputs: ['bidx'] },
      { op: 'Expand', inputs: ['pos2', 'bs'], outputs: ['sidx'] },
      { op: 'Unsqueeze', inputs: ['bidx', 'axm1'], outputs: ['bidx3'] },
      { op: 'Unsqueeze', inputs: ['sidx', 'axm1'], outputs: ['sidx3'] },
      { op: 'Concat', inputs: ['bidx3', 'sidx3'], outputs: ['pairs'], attrs: axis(-1) },
      { op: 'Concat', inputs: ['b1', 'one1', 'one1', 's1', 'two1'], outputs: ['pshape'], attrs: axis(0) },
      { op: 'Reshape', inputs: ['pairs', 'pshape'], outputs: ['pairs5'] },
      { op: 'GatherND', inputs: ['mask', 'pairs5'], outputs: ['m4'] },
      // The padding mask: (1 − mask) · −1e9 broadcast over heads and queries.
      { op: 'Cast', inputs: ['m4'], outputs: ['mf'], attrs: [{ name: 'to', i: F, type: AT.INT }] },
      { op: 'Sub', inputs: ['onef', 'mf'], outputs: ['inv'] },
      { op: 'Mul', inputs: ['inv', 'neg'], outputs: ['addm'] },
      { op: 'Add', inputs: ['scm', 'addm'], outputs: ['scores'] },
      ...attend('minus1', 'y0'),
      // RoBERTa's position ids: CumSum(mask) · mask + 1, gathered from a second table.
      { op: 'CumSum', inputs: ['mask', 'i1'], outputs: ['cs'] },
      { op: 'Mul', inputs: ['cs', 'mask'], outputs: ['pm'] },
      { op: 'Add', inputs: ['pm', 'one'], outputs: ['pid'] },
      { op: 'Gather', inputs: ['wpe2', 'pid'], outputs: ['rpe'], attrs: axis(0) },
      { op: 'Add', inputs: ['y0', 'rpe'], outputs: ['y1'] },
      // RoBERTa's token types: a [1, P + 2] buffer expanded to the batch, GatherElements at the position ids.
      { op: 'Concat', inputs: ['b1', 'ttw'], outputs: ['ttshape'], attrs: axis(0) },
      { op: 'Expand', inputs: ['ttbuf', 'ttshape'], outputs: ['ttb'] },
      { op: 'GatherElements', inputs: ['ttb', 'pid'], outputs: ['tt'], attrs: axis(1) },
      { op: 'Gather', inputs: ['tte', 'tt'], outputs: ['tte_g'], attrs: axis(0) },
      { op: 'Add', inputs: ['y1', 'tte_g'], outputs: ['y'] },
      // The last position's hidden state: Gather(y, seq − 1) along the sequence.
      { op: 'Sub', inputs: ['s', 'one'], outputs: ['lasti'] },
      { op: 'Gather', inputs: ['y', 'lasti'], outputs: ['last0'], attrs: axis(1) },
      // ... plus the position table's row for it (a gather from a weight at a size formula).
      { op: 'Gather', inputs: ['wpe', 'lasti'], outputs: ['lpe'], attrs: axis(0) },
      { op: 'Add', inputs: ['last0', 'lpe'], outputs: ['last'] },
      // Mean pooling over the sequence (its count computed per call).
      { op: 'ReduceMean', inputs: ['y', 'ax1'], outputs: ['pooled'], attrs: [{ name: 'keepdims', i: 0, type: AT.INT }] },
    ],
    inputs: [vi('ids', I64, ['batch', 'seq']), vi('mask', I64, ['batch', 'seq'])],
    outputs: [vi('y', F, ['batch', 'seq', E]), vi('last', F, ['batch', E]), vi('pooled', F, ['batch', E])],
    initializers: [
      i64('i0', [], [0]), i64('i1', [], [1]), i64('zero', [], [0]), i64('one', [], [1]),
      i64('ax0', [1], [0]), i64('ax12', [2], [1, 2]), i64('heads', [2], [H, DH]), i64('minus1', [1], [-1]),
      i64('zeros2', [2], [0, 0]), i64('axes23', [2], [2, 3]), i64('ax1', [1], [1]), i64('axm1', [1], [-1]), i64('one1', [1], [1]), i64('two1', [1], [2]),
      i64('ttw', [1], [P + 2]), i64('ttbuf', [1, P + 2], Array.from({ length: P + 2 }, (_, i) => (i * 7) % 3 === 1 ? 1 : 0)),
      f32('tte', [2, E], randoms(2 * E, 9)),
      f32('wte', [V, E], randoms(V * E, 1)), f32('wpe', [P, E], randoms(P * E, 2, 0.5)), f32('wpe2', [P + 2, E], randoms((P + 2) * E, 3, 0.5)),
      f32('ln_g', [E], randoms(E, 4)), f32('ln_b', [E], randoms(E, 5)),
      f32('wq', [E, E], randoms(E * E, 6, 0.3)), f32('wk', [E, E], randoms(E * E, 7, 0.3)), f32('wv', [E, E], randoms(E * E, 8, 0.3)),
      f32('scale', [], [1 / Math.sqrt(DH)]), f32('neg', [], [-1e9]), f32('onef', [], [1]),
      f32('bias', [1, 1, P, P], Array.from({ length: P * P }, (_, i) => (i % P <= Math.floor(i / P) ? 1 : 0))),
    ],
  }),
);

/** ids in [0, V); a mask of ones then zeros (row n keeps seq − n tokens, at least 1). */
function gpt2Feeds(b: number, s: number, seed: number): Record<string, NDArray> {
  const r = mulberry32(seed);
  const ids = Array.from({ length: b * s }, () => Math.floor(r() * V));
  const mask = Array.from({ length: b * s }, (_, k) => (k % s < Math.max(1, s - Math.floor(k / s)) ? 1 : 0));
  const t = (v: number[]) => NDArray.from(BigInt64Array.from(v.map(BigInt)), [b, s], { dtype: 'int64' });
  return { ids: t(ids), mask: t(mask) };
}

// --- LLaMA / Mistral: x [batch, seq, 16], rotary caches sliced to seq, a causal and sliding-window mask ---

const W = 3;
const llamaFile = path.join(tmp, 'llama_like.onnx');
const theta = Array.from({ length: P * DH }, (_, i) => Math.floor(i / DH) / 10000 ** ((2 * (i % (DH / 2))) / DH));
fs.writeFileSync(
  llamaFile,
  model({
    nodes: [
      ...batchAndSeq('x'),
      { op: 'Concat', inputs: ['b1', 's1', 'heads'], outputs: ['shape4'], attrs: axis(0) },
      // The rotary caches [P, DH] sliced to [:seq] (cos's end as Min(seq, P): taken as seq, guarded).
      { op: 'Min', inputs: ['s1', 'pmax'], outputs: ['cend'] },
      { op: 'Slice', inputs: ['cos', 'zero1', 'cend', 'ax0'], outputs: ['cosS'] },
      { op: 'Slice', inputs: ['sin', 'zero1', 's1', 'ax0'], outputs: ['sinS'] },
      { op: 'MatMul', inputs: ['x', 'wq'], outputs: ['q'] },
      { op: 'MatMul', inputs: ['x', 'wk'], outputs: ['k'] },
      { op: 'MatMul', inputs: ['x', 'wv'], outputs: ['v'] },
      { op: 'Reshape', inputs: ['q', 'shape4'], outputs: ['q4'] },
      { op: 'Reshape', inputs: ['k', 'shape4'], outputs: ['k4'] },
      { op: 'Reshape', inputs: ['v', 'shape4'], outputs: ['v4'] },
      { op: 'Transpose', inputs: ['q4'], outputs: ['qh'], attrs: perm([0, 2, 1, 3]) },
      { op: 'Transpose', inputs: ['k4'], outputs: ['kh'], attrs: perm([0, 2, 1, 3]) },
      { op: 'Transpose', inputs: ['v4'], outputs: ['vh'], attrs: perm([0, 2, 1, 3]) },
      // rotate_half: cat(−x2, x1) on the last dim.
      ...['q', 'k'].flatMap((t) => [
        { op: 'Slice', inputs: [`${t}h`, 'zero1', 'half', 'ax3'], outputs: [`${t}1`] },
        { op: 'Slice', inputs: [`${t}h`, 'half', 'big', 'ax3'], outputs: [`${t}2`] },
        { op: 'Neg', inputs: [`${t}2`], outputs: [`${t}2n`] },
        { op: 'Concat', inputs: [`${t}2n`, `${t}1`], outputs: [`${t}rot`], attrs: axis(-1) },
        { op: 'Mul', inputs: [`${t}h`, 'cosS'], outputs: [`${t}c`] },
        { op: 'Mul', inputs: [`${t}rot`, 'sinS'], outputs: [`${t}s`] },
        { op: 'Add', inputs: [`${t}c`, `${t}s`], outputs: [`${t}r`] },
      ]),
      // The causal mask: ConstantOfShape([seq, seq], −1e9), Trilu(upper, k = 1).
      { op: 'Concat', inputs: ['s1', 's1'], outputs: ['ss'], attrs: axis(0) },
      { op: 'ConstantOfShape', inputs: ['ss'], outputs: ['full'], attrs: [{ name: 'value', t: { dims: [1], dataType: F, floatData: [-1e9] }, type: AT.TENSOR }] },
      { op: 'Trilu', inputs: ['full', 'one'], outputs: ['tri'], attrs: [{ name: 'upper', i: 1, type: AT.INT }] },
      // The sliding window: rows − cols > W − 1 is masked too.
      { op: 'Range', inputs: ['zero', 's', 'one'], outputs: ['r'] },
      { op: 'Unsqueeze', inputs: ['r', 'ax1'], outputs: ['rows'] },
      { op: 'Unsqueeze', inputs: ['r', 'ax0'], outputs: ['cols'] },
      { op: 'Sub', inputs: ['rows', 'cols'], outputs: ['diff'] },
      { op: 'Greater', inputs: ['diff', 'wm1'], outputs: ['far'] },
      { op: 'Where', inputs: ['far', 'neg', 'tri'], outputs: ['mask2'] },
      // Expand to [batch, 1, seq, seq]; the target goes through Where(Equal(t, −1), 1, t) as exporters write it.
      { op: 'Concat', inputs: ['b1', 'one1', 's1', 's1'], outputs: ['tgt'], attrs: axis(0) },
      { op: 'Equal', inputs: ['tgt', 'minus1s'], outputs: ['isneg'] },
      { op: 'Where', inputs: ['isneg', 'ones4', 'tgt'], outputs: ['tgt2'] },
      { op: 'Expand', inputs: ['mask2', 'tgt2'], outputs: ['mask4'] },
      { op: 'Transpose', inputs: ['kr'], outputs: ['krt'], attrs: perm([0, 1, 3, 2]) },
      { op: 'MatMul', inputs: ['qr', 'krt'], outputs: ['sc0'] },
      { op: 'Mul', inputs: ['sc0', 'scale'], outputs: ['sc'] },
      { op: 'Add', inputs: ['sc', 'mask4'], outputs: ['scores'] },
      ...attend('width', 'y'),
    ],
    inputs: [vi('x', F, ['batch', 'seq', E])],
    outputs: [vi('y', F, ['batch', 'seq', E])],
    initializers: [
      i64('i0', [], [0]), i64('i1', [], [1]), i64('zero', [], [0]), i64('one', [], [1]), i64('wm1', [], [W - 1]),
      i64('ax0', [1], [0]), i64('ax1', [1], [1]), i64('ax3', [1], [3]), i64('zero1', [1], [0]), i64('one1', [1], [1]),
      i64('pmax', [1], [P]), i64('half', [1], [DH / 2]), i64('big', [1], [2 ** 53 - 1]), i64('heads', [2], [H, DH]), i64('width', [1], [E]),
      i64('minus1s', [4], [-1, -1, -1, -1]), i64('ones4', [4], [1, 1, 1, 1]),
      f32('cos', [P, DH], theta.map(Math.cos)), f32('sin', [P, DH], theta.map(Math.sin)),
      f32('wq', [E, E], randoms(E * E, 16, 0.3)), f32('wk', [E, E], randoms(E * E, 17, 0.3)), f32('wv', [E, E], randoms(E * E, 18, 0.3)),
      f32('scale', [], [1 / Math.sqrt(DH)]), f32('neg', [], [-1e9]),
    ],
    opset: 20,
  }),
);

function llamaFeeds(b: number, s: number, seed: number): Record<string, NDArray> {
  return { x: NDArray.from(Float32Array.from(randoms(b * s * E, seed)), [b, s, E]) };
}

type Model = ReturnType<typeof loadOnnx>;

/** Each output of a run against the float64 interpreter over the graph built at these sizes. */
async function checkRun(m: Model, feeds: Record<string, NDArray>, what: string): Promise<void> {
  const outs = await m.run(feeds);
  const built = m.graphFor(feeds)!;
  const inputs = built.runtimeInputs.map((n) => feeds[n]!);
  const want = interpret(built.traced.graph, [...inputs, ...built.traced.params]);
  const names = Object.keys(outs);
  assert.equal(names.length, want.length, `${what}: outputs`);
  names.forEach((name, i) => assert.deepEqual(outs[name]!.shape, want[i]!.shape, `${what}: ${name} shape`));
  for (const [i, name] of names.entries()) {
    const got = (await outs[name]!.toTypedArray()) as Float32Array;
    const ref = want[i]!.data;
    let spread = 0;
    for (let j = 0; j < ref.length; j++) {
      assert.ok(Math.abs(got[j]! - ref[j]!) <= 1e-4 + 1e-3 * Math.abs(ref[j]!), `${what}: ${name}[${j}]: ${got[j]} vs ${ref[j]}`);
      spread = Math.max(spread, Math.abs(ref[j]! - ref[0]!));
    }
    assert.ok(spread > 1e-3, `${what}: ${name} is not a constant`);
  }
}

const compiles = () => counters().graph_cache_misses + counters().graph_cache_hits;

for (const [name, file, feeds] of [
  ['GPT-2/RoBERTa', gpt2File, gpt2Feeds],
  ['LLaMA/Mistral', llamaFile, llamaFeeds],
] as const) {
  test(`${name} patterns: three (batch, seq) shapes on one symbolic program, one compile, each matching the interpreter`, async () => {
    const m = loadOnnx(file, { ...opts, cacheDir: path.join(tmp, `cache-${file.length}-${name.length}`) });
    const c0 = counters();
    const before = compiles();
    for (const [k, [b, s]] of [[2, 7], [3, 5], [2, 19]].entries()) await checkRun(m, feeds(b!, s!, 40 + k), `batch ${b}, seq ${s}`);
    const c1 = counters();
    assert.deepEqual(m.inspect().symbolic, { path: 'symbolic', guardFailures: 0 });
    assert.equal(c1.symbolic_programs - c0.symbolic_programs, 1, 'one symbolic program');
    // graphFor() builds graphs at each size for the reference; the program is compiled once.
    assert.equal(compiles() - before, 1, 'one compile serves every shape');
    assert.equal(c1.shape_variant_builds - c0.shape_variant_builds, 1);
    assert.equal(m.inspect().shapeVariants, 1);
    // seq = P fills the sliced buffers exactly: still the symbolic program.
    await checkRun(m, feeds(2, P, 50), `batch 2, seq ${P}`);
    assert.equal(compiles() - before, 1, 'no compile for seq = P');
    m.dispose();
  });
}

test('a sequence past the static buffers a symbolic slice reads breaks its guard: the model is not answered wrongly (ONNX clamps the slice; the graph then cannot broadcast)', async () => {
  const m = loadOnnx(llamaFile, { ...opts, cacheDir: path.join(tmp, 'past') });
  await checkRun(m, llamaFeeds(2, 6, 60), 'batch 2, seq 6');
  await assert.rejects(m.run(llamaFeeds(2, P + 3, 61)), /cannot be built for batch=2, seq=35 .*broadcast/);
  const status = m.inspect().symbolic!;
  assert.equal(status.path, 'symbolic');
  assert.equal(status.guardFailures, 1);
  assert.match(status.lastGuardFailure!, /^batch=2, seq=35: sizes s0=2, s1=35 break the program's guard s1 <= 32 \(a slice of dim 0 ends inside its input/);
  // Min(seq, 32) was taken as seq under the same bound, a guard of the graph's own.
  const program = await m.compile(llamaFeeds(2, 6, 62));
  const guards = (program.plan.guards ?? []).map((g) => `${JSON.stringify(g.expr)} ${g.rel} ${g.value}: ${g.why}`);
  assert.ok(guards.includes('[[1,["s1"]]] le 32: an ONNX shape computation took the minimum of s1 and 32 as at the traced sizes'), guards.join('\n'));
  m.dispose();
});

test('an embedding id out of range on the symbolic program is an IndexRangeError naming the Gather, never a read outside the table', async () => {
  const m = loadOnnx(gpt2File, { ...opts, cacheDir: path.join(tmp, 'bad-ids') });
  await checkRun(m, gpt2Feeds(2, 5, 70), 'batch 2, seq 5');
  const bad = gpt2Feeds(3, 6, 71);
  (bad.ids!.toTypedArraySync() as BigInt64Array)[8] = BigInt(V + 3);
  await assert.rejects(m.run(bad), (e: Error) => e.name === 'IndexRangeError' && /Gather.*index 16 at flat position 8 of the indices is out of range for dim 0 of data \[13, ?16\]: size 13/.test(e.message));
  assert.deepEqual(m.inspect().symbolic, { path: 'symbolic', guardFailures: 0 });
  // Good ids afterwards run on the same program.
  await checkRun(m, gpt2Feeds(3, 6, 72), 'batch 3, seq 6');
  m.dispose();
});

test("an index out of range in a later check of the symbolic program (RoBERTa's position ids from a mask of 40s) is an IndexRangeError, though the embedding's check before it passes", async () => {
  // Over symbolic sizes each passing check reads as no failure; the search must go on past it
  // (it stopped at the first check, so these positions ran clamped, unreported).
  const m = loadOnnx(gpt2File, { ...opts, cacheDir: path.join(tmp, 'bad-positions') });
  const bad = gpt2Feeds(2, 5, 73);
  (bad.mask!.toTypedArraySync() as BigInt64Array)[3] = 40n;
  await assert.rejects(m.run(bad), (e: Error) => e.name === 'IndexRangeError' && /Gather(Elements)? .*index \d+ at .* is out of range for dim \d of data \[(34|1), ?(16|34)\]: size 34/.test(e.message));
  assert.equal(m.inspect().symbolic!.path, 'symbolic');
  m.dispose();
});

// --- a KV cache: past keys [batch, past, 16] concatenated with the new ones [batch, seq, 16] along the sequence ---

const cacheFile = path.join(tmp, 'kv_cache.onnx');
fs.writeFileSync(
  cacheFile,
  model({
    nodes: [
      // The new tokens' positions: Range(past_len, past_len + seq), gathered from a table.
      { op: 'Shape', inputs: ['past'], outputs: ['psh'] },
      { op: 'Gather', inputs: ['psh', 'i1'], outputs: ['plen'], attrs: axis(0) },
      { op: 'Shape', inputs: ['x0'], outputs: ['xsh'] },
      { op: 'Gather', inputs: ['xsh', 'i1'], outputs: ['slen'], attrs: axis(0) },
      { op: 'Add', inputs: ['plen', 'slen'], outputs: ['lim'] },
      { op: 'Range', inputs: ['plen', 'lim', 'one'], outputs: ['cpos'] },
      { op: 'Gather', inputs: ['wpos', 'cpos'], outputs: ['pe'], attrs: axis(0) },
      { op: 'Add', inputs: ['x0', 'pe'], outputs: ['x'] },
      { op: 'MatMul', inputs: ['x', 'wk'], outputs: ['k'] },
      { op: 'Concat', inputs: ['past', 'k'], outputs: ['keys'], attrs: axis(1) },
      { op: 'Transpose', inputs: ['keys'], outputs: ['kt'], attrs: perm([0, 2, 1]) },
      { op: 'MatMul', inputs: ['x', 'kt'], outputs: ['sc0'] },
      { op: 'Mul', inputs: ['sc0', 'scale'], outputs: ['sc'] },
      { op: 'Softmax', inputs: ['sc'], outputs: ['p'], attrs: axis(-1) },
      { op: 'MatMul', inputs: ['p', 'keys'], outputs: ['y'] },
    ],
    inputs: [vi('x0', F, ['batch', 'seq', E]), vi('past', F, ['batch', 'past_len', E])],
    outputs: [vi('y', F, ['batch', 'seq', E]), vi('keys', F, ['batch', 'total', E])],
    initializers: [f32('wk', [E, E], randoms(E * E, 80, 0.3)), f32('scale', [], [0.25]), f32('wpos', [P, E], randoms(P * E, 81)), i64('i1', [], [1]), i64('one', [], [1])],
  }),
);

test('a KV cache concatenated along the sequence (past_len + seq keys, a symbolic axis), positions Range(past_len, past_len + seq): three shapes on one program, each matching the interpreter', async () => {
  const m = loadOnnx(cacheFile, { ...opts, cacheDir: path.join(tmp, 'kv') });
  const before = compiles();
  const feeds = (b: number, s: number, p: number, seed: number) => ({
    x0: NDArray.from(Float32Array.from(randoms(b * s * E, seed)), [b, s, E]),
    past: NDArray.from(Float32Array.from(randoms(b * p * E, seed + 1)), [b, p, E]),
  });
  for (const [k, [b, s, p]] of [[2, 3, 9], [3, 2, 17], [2, 5, 4]].entries()) await checkRun(m, feeds(b!, s!, p!, 90 + 2 * k), `batch ${b}, seq ${s}, past ${p}`);
  assert.deepEqual(m.inspect().symbolic, { path: 'symbolic', guardFailures: 0 });
  assert.equal(compiles() - before, 1, 'one compile serves every shape');
  m.dispose();
});

test('the graph cache keys these symbolic programs by their formulas, not their hints: a second load first run at other sizes takes the program from the cache, compiling nothing', async () => {
  const cacheDir = path.join(tmp, 'warm');
  for (const file of [gpt2File, llamaFile]) {
    const feeds = file === gpt2File ? gpt2Feeds : llamaFeeds;
    const first = loadOnnx(file, { ...opts, cacheDir });
    await checkRun(first, feeds(2, 9, 100), 'first load (2, 9)');
    first.dispose();
    const c0 = counters();
    const second = loadOnnx(file, { ...opts, cacheDir });
    await checkRun(second, feeds(3, 14, 101), 'second load (3, 14)');
    const c1 = counters();
    assert.deepEqual(second.inspect().symbolic, { path: 'symbolic', guardFailures: 0 });
    assert.equal(c1.graph_cache_hits - c0.graph_cache_hits, 1, `${path.basename(file)}: the symbolic program came from the graph cache`);
    assert.equal(c1.graph_cache_misses, c0.graph_cache_misses, 'nothing was scheduled');
    assert.equal(c1.compile_submitted, c0.compile_submitted, 'nothing compiled');
    second.dispose();
  }
});

// Unsqueeze, Squeeze and Flatten of a symbolic value whose batch and seq hints are equal: matched by
// hint alone, [4, 4] unsqueezed to [1, 4, 4] could name the dims [1, seq, batch].
const unsqueezeFile = path.join(tmp, 'unsqueeze_equal_hints.onnx');
fs.writeFileSync(
  unsqueezeFile,
  model({
    nodes: [
      { op: 'Unsqueeze', inputs: ['x', 'ax0'], outputs: ['u'] },
      { op: 'Softmax', inputs: ['u'], outputs: ['p'], attrs: axis(-1) },
      { op: 'Squeeze', inputs: ['p', 'ax0'], outputs: ['q'] },
      { op: 'Flatten', inputs: ['q'], outputs: ['f'], attrs: axis(0) },
      { op: 'Mul', inputs: ['f', 'two'], outputs: ['flat'] },
      { op: 'Add', inputs: ['p', 'p'], outputs: ['y'] },
    ],
    inputs: [vi('x', F, ['batch', 'seq'])],
    outputs: [vi('y', F, [1, 'batch', 'seq']), vi('flat', F, [1, 'n'])],
    initializers: [i64('ax0', [1], [0]), f32('two', [], [2])],
  }),
);

test('Unsqueeze, Squeeze and Flatten name the symbolic dims they keep, even when batch and seq were first seen equal: (4, 4), then (5, 3) and (2, 9) on the same program', async () => {
  const m = loadOnnx(unsqueezeFile, { ...opts, cacheDir: path.join(tmp, 'equal-hints') });
  const before = compiles();
  for (const [k, [b, s]] of [[4, 4], [5, 3], [2, 9]].entries()) {
    await checkRun(m, { x: NDArray.from(Float32Array.from(randoms(b! * s!, 110 + k)), [b!, s!]) }, `batch ${b}, seq ${s}`);
  }
  assert.deepEqual(m.inspect().symbolic, { path: 'symbolic', guardFailures: 0 });
  assert.equal(compiles() - before, 1);
  m.dispose();
});
