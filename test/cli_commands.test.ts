// Each kiln command end to end, as a subprocess with its own cache directory: run with .npy
// inputs and outputs (checked against PyTorch's output), compile then a warm run that must
// not compile, inspect, bench, demo, and cache stats/export/clear/import, all with --json.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

import { findNvcc, findNvrtc } from '../src/backends/cuda/toolchain.js';
import { NDArray } from '../src/graph/ndarray.js';
import { readNpy, writeNpy } from '../src/onnx/npy.js';
import { needs } from './prereq.js';
import { F, model, vi } from './onnx_writer.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const MAIN = path.resolve(here, '../src/cli/main.js');
const REPO = path.resolve(here, '../..');
const FIX = path.join(REPO, 'test/fixtures/onnx');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-cli-cmds-'));
const cache = path.join(tmp, 'cache');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function kiln(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, KILN_CACHE_DIR: cache, KILN_WORKERS: '2', ...env },
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `kiln ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

function json<T>(args: string[], env: Record<string, string> = {}): T {
  return JSON.parse(kiln([...args, '--json'], env)) as T;
}

test('run: .npy input, outputs written as .npy, matching PyTorch', () => {
  const out = path.join(tmp, 'out');
  const r = json<{ outputs: { name: string; shape: number[]; file: string }[]; timesMs: { compile: number; run: number } }>([
    'run', path.join(FIX, 'attention.onnx'), '--input', `x=${path.join(FIX, 'attention.input.npy')}`, '--output', out,
  ]);
  assert.deepEqual(r.outputs.map((o) => [o.name, o.shape]), [['y', [2, 8, 16]]]);
  const got = readNpy(path.join(out, 'y.npy')).toTypedArraySync() as Float32Array;
  const want = readNpy(path.join(FIX, 'attention.output.npy')).toTypedArraySync() as Float32Array;
  want.forEach((w, i) => assert.ok(Math.abs(got[i]! - w) <= 1e-5 + 1e-4 * Math.abs(w), `element ${i}`));
  // Text mode names the inputs and shows a preview of each output.
  const text = kiln(['run', path.join(FIX, 'attention.onnx')]);
  assert.match(text, /input  x: float32\[2,8,16\] \(random\)/);
  assert.match(text, /output y: float32\[2,8,16\] \[/);
});

test('run: float16 and STRING models (random numeric strings in, strings out as JSON)', () => {
  const conf = path.join(REPO, 'test/conformance/onnx-node');
  const h = json<{ inputs: { dtype: string }[]; outputs: { dtype: string; values: number[] }[] }>(['run', path.join(conf, 'test_cast_FLOAT16_to_FLOAT/model.onnx')]);
  assert.equal(h.inputs[0]!.dtype, 'float16');
  assert.equal(h.outputs[0]!.dtype, 'float32');
  assert.ok(h.outputs[0]!.values.every((v) => Math.abs(v) <= 1));
  const s = json<{ inputs: { dtype: string }[]; outputs: { dtype: string; values: number[] }[] }>(['run', path.join(conf, 'test_cast_STRING_to_FLOAT/model.onnx')]);
  assert.equal(s.inputs[0]!.dtype, 'string');
  assert.equal(s.outputs[0]!.dtype, 'float32');
  const out = path.join(tmp, 'strings');
  const f = json<{ outputs: { dtype: string; values: string[]; file: string }[] }>(['run', path.join(conf, 'test_cast_FLOAT_to_STRING/model.onnx'), '--output', out]);
  assert.equal(f.outputs[0]!.dtype, 'string');
  assert.ok(f.outputs[0]!.values.every((v) => /^-?\d+\.\d+(e-\d+)?$/.test(v)), f.outputs[0]!.values.join(' '));
  const written = JSON.parse(fs.readFileSync(f.outputs[0]!.file, 'utf8')) as { shape: number[]; data: string[] };
  assert.deepEqual(written.shape, [3, 4]);
  assert.deepEqual(written.data.slice(0, 6), f.outputs[0]!.values);
});

test('compile warms the cache: a later run compiles nothing; --json says where the graph came from', () => {
  const model = path.join(FIX, 'rmsnorm_swiglu.onnx');
  const c = json<{ kernels: number; device: string; graphCache: string }>(['compile', model]);
  assert.ok(c.kernels > 0);
  assert.equal(c.device, 'cpu');
  assert.equal(c.graphCache, 'miss');
  const again = json<{ graphCache: string }>(['compile', model], { KILN_ASSERT_NO_COMPILE: '1' });
  assert.equal(again.graphCache, 'hit');
  const r = json<{ outputs: { shape: number[] }[]; graphCache: string }>(['run', model], { KILN_ASSERT_NO_COMPILE: '1' });
  assert.deepEqual(r.outputs[0]!.shape, [2, 5, 16]);
  assert.equal(r.graphCache, 'hit');
});

test('run and compile on a fresh cache: no progress output or escape codes when stderr is not a TTY', () => {
  const dir = path.join(tmp, 'progress-cache');
  const model = path.join(FIX, 'rmsnorm_swiglu.onnx');
  for (const args of [['compile', model], ['run', model], ['run', model]]) {
    const r = spawnSync(process.execPath, [MAIN, ...args, '--cache-dir', dir], {
      encoding: 'utf8',
      env: { ...process.env, KILN_WORKERS: '2' },
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '', `kiln ${args.join(' ')}: stderr is empty off a TTY`);
    assert.doesNotMatch(r.stdout, /\x1b|\r|loading|compiling \d/, `kiln ${args.join(' ')}: no progress on stdout`);
  }
  const first = spawnSync(process.execPath, [MAIN, 'run', model, '--cache-dir', dir], { encoding: 'utf8', timeout: 120_000 });
  assert.match(first.stdout, /graph cache hit/);
});

const noCudaCompiler = needs('nvcc', findNvcc() !== undefined || findNvrtc() !== undefined, 'a CUDA compiler: nvcc or NVRTC');

test('compile --device cuda --arch sm_90 builds cubins on a machine without a GPU', { skip: noCudaCompiler }, () => {
  const model = path.join(FIX, 'mlp.onnx');
  const dir = path.join(tmp, 'cuda-cache');
  const c = json<{ kernels: number; device: string; arch: string }>(['compile', model, '--device', 'cuda', '--arch', 'sm_90', '--cache-dir', dir]);
  assert.deepEqual([c.device, c.arch], ['cuda', 'sm_90']);
  assert.ok(c.kernels > 0);
  const stats = json<{ kernels: number; graphs: number }>(['cache', 'stats', '--cache-dir', dir]);
  // Every kernel's entry, plus one per compile group (holding the group's cubin once).
  assert.ok(stats.kernels >= c.kernels, `every cubin is in the cache: ${stats.kernels} entries for ${c.kernels} kernels`);
  // Graph entries: the plan, and the model's stored conversion (its index and the conversion).
  assert.equal(stats.graphs, 3, 'the plan and the stored conversion are in the cache');
});

test('inspect lists operators and the kernels after fusion', () => {
  const r = json<{ ops: Record<string, number>; kernels: { name: string; kind: string; ops: string[] }[]; opset: number }>([
    'inspect', path.join(FIX, 'transformer_layer.onnx'),
  ]);
  assert.equal(r.opset, 17);
  assert.equal(r.ops.LayerNormalization, 2);
  assert.ok(r.kernels.length > 0 && r.kernels.every((k) => k.name && k.kind && k.ops.length > 0));
  const text = kiln(['inspect', path.join(FIX, 'transformer_layer.onnx'), '--no-kernels']);
  assert.match(text, /2  LayerNormalization/);
  assert.doesNotMatch(text, /kernels after fusion/);
});

/** Checks an output .npy against PyTorch's output, or its leading `rows` (of the batch dim). */
function assertMatchesReference(gotFile: string, wantFile: string, rows?: number): void {
  const got = readNpy(gotFile);
  const want = readNpy(wantFile);
  const n = rows === undefined ? want.size : (want.size / want.shape[0]!) * rows;
  assert.deepEqual(got.shape, rows === undefined ? want.shape : [rows, ...want.shape.slice(1)]);
  const g = got.toTypedArraySync() as Float32Array;
  const w = want.toTypedArraySync() as Float32Array;
  for (let i = 0; i < n; i++) assert.ok(Math.abs(g[i]! - w[i]!) <= 1e-5 + 1e-4 * Math.abs(w[i]!), `${gotFile} element ${i}: ${g[i]} vs ${w[i]}`);
}

/** The first `rows` of an .npy's batch dim, as a new .npy (a batch size the reference output covers). */
async function leadingRows(file: string, rows: number, out: string): Promise<string> {
  const a = readNpy(file);
  const per = a.size / a.shape[0]!;
  await writeNpy(out, NDArray.from((a.toTypedArraySync() as Float32Array).slice(0, per * rows), [rows, ...a.shape.slice(1)]));
  return out;
}

/** The symbolic-dims tests' own cache directory: their graphs (mlp_dynamic at [4,16] is mlp.onnx's graph) keep the shared cache's labels as the cache tests expect. */
function dynJson<T>(args: string[], env: Record<string, string> = {}): T {
  return json<T>(args.includes('--cache-dir') ? args : [...args, '--cache-dir', path.join(tmp, 'dynamic-cache')], env);
}

test('symbolic dims: run, compile, inspect and bench take the shape from the -i file; results match PyTorch at two batch sizes', async () => {
  for (const name of ['mlp_dynamic', 'attention_dynamic']) {
    const model = path.join(FIX, `${name}.onnx`);
    const input = path.join(FIX, `${name}.input.npy`);
    const want = path.join(FIX, `${name}.output.npy`);
    const full = readNpy(input).shape;
    // The file's shape, as given: no --shape needed.
    const out = path.join(tmp, `${name}-out`);
    const r = dynJson<{ inputs: { shape: number[]; source: string }[]; outputs: { name: string; file: string }[] }>(['run', model, '-i', `x=${input}`, '-o', out]);
    assert.deepEqual(r.inputs[0]!.shape, full);
    assert.equal(r.inputs[0]!.source, input);
    assertMatchesReference(r.outputs[0]!.file, want);
    // Another batch size from another file: a different specialization, still right.
    const one = await leadingRows(input, 1, path.join(tmp, `${name}-1.npy`));
    const out1 = path.join(tmp, `${name}-out1`);
    const r1 = dynJson<{ outputs: { file: string }[] }>(['run', model, '-i', `x=${one}`, '-o', out1]);
    assertMatchesReference(r1.outputs[0]!.file, want, 1);
    // compile from the file's shape warms the cache for exactly that run.
    const dir = path.join(tmp, `${name}-warm-cache`);
    const c = dynJson<{ graphCache: string; kernels: number }>(['compile', model, '-i', `x=${input}`, '--cache-dir', dir]);
    assert.equal(c.graphCache, 'miss');
    assert.ok(c.kernels > 0);
    const warm = dynJson<{ graphCache: string }>(['run', model, '-i', `x=${input}`, '--cache-dir', dir], { KILN_ASSERT_NO_COMPILE: '1' });
    assert.equal(warm.graphCache, 'hit');
    const ins = dynJson<{ inputs: { name: string; shape: number[] }[]; kernels: unknown[] }>(['inspect', model, '-i', `x=${input}`]);
    assert.deepEqual(ins.inputs.map((i) => [i.name, i.shape]), [['x', full]]);
    assert.ok(ins.kernels.length > 0);
  }
  const b = dynJson<{ runMs: { median: number; runs: number } }>([
    'bench', path.join(FIX, 'mlp_dynamic.onnx'), '-i', `x=${path.join(FIX, 'mlp_dynamic.input.npy')}`, '--runs', '2', '--warmup', '0',
  ]);
  assert.equal(b.runMs.runs, 2);
  assert.ok(b.runMs.median > 0);
});

test('symbolic dims: --shape picks the shape when no file gives it (random data of that shape)', () => {
  const model = path.join(FIX, 'attention_dynamic.onnx');
  const r = dynJson<{ inputs: { shape: number[]; source: string }[]; outputs: { shape: number[] }[] }>(['run', model, '--shape', 'x=3,5,16']);
  assert.deepEqual(r.inputs[0], { name: 'x', shape: [3, 5, 16], dtype: 'float32', source: 'random' });
  assert.deepEqual(r.outputs[0]!.shape, [3, 5, 16]);
  const ins = dynJson<{ inputs: { shape: number[] }[] }>(['inspect', model, '--shape', 'x=7,6,16', '--no-kernels']);
  assert.deepEqual(ins.inputs[0]!.shape, [7, 6, 16]);
});

test('symbolic dims shared by two inputs: an -i file or --shape for one sizes the other (random data); files and --shape that disagree are a usage error; inspect --no-kernels lists a dynamic model unsized', async () => {
  const file = path.join(tmp, 'pair_dynamic.onnx');
  fs.writeFileSync(
    file,
    model({
      nodes: [{ op: 'Add', inputs: ['a', 'b'], outputs: ['y'] }],
      inputs: [vi('a', F, ['batch', 'seq']), vi('b', F, ['batch', 'seq'])],
      outputs: [vi('y', F, ['batch', 'seq'])],
    }),
  );
  const a = path.join(tmp, 'pair_a.npy');
  await writeNpy(a, NDArray.from(Float32Array.from({ length: 6 }, (_, i) => i), [2, 3]));
  type Run = { inputs: { name: string; shape: number[]; source: string }[]; outputs: { shape: number[] }[]; counters: Record<string, number> };
  const r = dynJson<Run>(['run', file, '-i', `a=${a}`]);
  assert.deepEqual(r.inputs.map((i) => [i.name, i.shape, i.source]), [['a', [2, 3], a], ['b', [2, 3], 'random']]);
  assert.deepEqual(r.outputs[0]!.shape, [2, 3]);
  assert.equal(r.counters.shape_variant_builds, 1);
  assert.equal(r.counters.onnx_graph_builds, 1);
  const s = dynJson<Run>(['run', file, '--shape', 'b=4,5']);
  assert.deepEqual(s.inputs.map((i) => i.shape), [[4, 5], [4, 5]]);
  const bad = spawnSync(process.execPath, [MAIN, 'run', file, '-i', `a=${a}`, '--shape', 'b=2,4'], { encoding: 'utf8', env: { ...process.env, KILN_CACHE_DIR: cache } });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /input 'b' dim 1 is 'seq' = 4, but input 'a' dim 1 gave 'seq' = 3 .*-i files and --shape must agree/);
  const ins = dynJson<{ inputs: { name: string; dims: (number | string)[] }[]; symbolicDims: string[] }>(['inspect', file, '--no-kernels']);
  assert.deepEqual(ins.inputs.map((i) => [i.name, i.dims]), [['a', ['batch', 'seq']], ['b', ['batch', 'seq']]]);
  assert.deepEqual(ins.symbolicDims, ['batch', 'seq']);
});

test('bench reports cold, warm and steady-state times', () => {
  const r = json<{ coldCompileMs: number; warmCompileMs: number; runMs: { median: number; runs: number } }>([
    'bench', path.join(REPO, 'examples/mlp.onnx'), '--runs', '3', '--warmup', '1',
  ]);
  assert.ok(r.coldCompileMs > 0 && r.warmCompileMs > 0 && r.runMs.median > 0);
  assert.equal(r.runMs.runs, 3);
  assert.ok(r.warmCompileMs < r.coldCompileMs, `warm ${r.warmCompileMs} ms should beat cold ${r.coldCompileMs} ms`);
});

test('demo compiles and runs the bundled model, warm the second time', () => {
  const first = json<{ kernels: number; output: { shape: number[] } }>(['demo']);
  assert.deepEqual(first.output.shape, [4, 16]);
  const second = json<{ cache: string }>(['demo'], { KILN_ASSERT_NO_COMPILE: '1' });
  assert.equal(second.cache, 'warm');
  assert.match(kiln(['demo']), /compile .*warm cache/);
});

test('cache stats, export, clear and import round trip', () => {
  kiln(['compile', path.join(REPO, 'examples/mlp.onnx')]);
  const before = json<{ kernels: number; graphs: number }>(['cache', 'stats']);
  assert.ok(before.kernels > 0 && before.graphs > 0);
  const file = path.join(tmp, 'mlp.kiln');
  const exp = json<{ kernels: number; graphs: number }>(['cache', 'export', file, '--label', 'mlp.onnx']);
  assert.ok(exp.graphs >= 1 && exp.kernels >= 1);
  const cleared = json<{ cleared: boolean }>(['cache', 'clear']);
  assert.equal(cleared.cleared, true);
  assert.deepEqual(json<{ kernels: number }>(['cache', 'stats']).kernels, 0);
  const imp = json<{ kernels: number; graphs: number; skipped: number }>(['cache', 'import', file]);
  assert.deepEqual([imp.kernels, imp.graphs, imp.skipped], [exp.kernels, exp.graphs, 0]);
  // The imported artifacts are a complete warm start for that model.
  json(['run', path.join(REPO, 'examples/mlp.onnx')], { KILN_ASSERT_NO_COMPILE: '1' });
});

// ---- issue 14 item 13: the rough edges ------------------------------------------------------

/** Runs kiln expecting any exit code (kiln() above insists on 0). */
function kilnAny(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, KILN_CACHE_DIR: cache, KILN_WORKERS: '2', ...env },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('cache export --label with no such label: says so, exits non-zero, writes nothing', () => {
  kiln(['compile', path.join(REPO, 'examples/mlp.onnx')]);
  const file = path.join(tmp, 'nosuch.kiln');
  const r = kilnAny(['cache', 'export', '--label', 'nosuch', file]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /no cached graph has the label 'nosuch'.*nothing written.*labels there: .*mlp\.onnx/);
  assert.equal(fs.existsSync(file), false, 'a file was written');
});

test('cache export under a regular file: a message naming the path, no ENOTDIR or temporary name', () => {
  const blocker = path.join(tmp, 'plain-file');
  fs.writeFileSync(blocker, 'x');
  for (const file of [path.join(blocker, 'a.kiln'), path.join(blocker, 'sub', 'a.kiln')]) {
    const r = kilnAny(['cache', 'export', file]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot write artifact file '${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}': '.*plain-file' is a file, not a directory`));
    assert.doesNotMatch(r.stderr, /ENOTDIR|\.tmp|tmp-/);
  }
  const missing = kilnAny(['cache', 'export', path.join(tmp, 'no-such-dir', 'a.kiln')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /directory '.*no-such-dir' does not exist/);
});

test('run -o onto an existing file fails before anything is compiled; a directory is reused', () => {
  const file = path.join(tmp, 'taken');
  fs.writeFileSync(file, 'keep me');
  const model = path.join(FIX, 'mlp.onnx');
  const r = kilnAny(['run', model, '-o', file], { KILN_ASSERT_NO_COMPILE: '1', KILN_NO_CACHE: '1' });
  // Exit 2 with the message, not 1 from the compile that KILN_ASSERT_NO_COMPILE forbids.
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--output '.*taken' is a file, not a directory/);
  assert.doesNotMatch(r.stderr, /EEXIST/);
  assert.equal(fs.readFileSync(file, 'utf8'), 'keep me');
  // An existing output directory: its files of the same names are replaced.
  const dir = path.join(tmp, 'outdir');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'y.npy'), 'old');
  kiln(['run', model, '-o', dir]);
  assert.notEqual(fs.readFileSync(path.join(dir, 'y.npy'), 'latin1').slice(0, 6), 'old');
  assert.match(fs.readFileSync(path.join(dir, 'y.npy'), 'latin1'), /^\x93NUMPY/);
});

test('inspect of a model with an unsupported op lists its ops, the unsupported one marked; exit 0 with --no-kernels, 1 with kernels', async () => {
  const { onnxNs } = await import('../src/onnx/proto.js');
  const ns = onnxNs();
  const m = ns.ModelProto.decode(fs.readFileSync(path.join(FIX, 'mlp.onnx')));
  const node = m.graph!.node![0]!;
  const original = node.opType;
  node.opType = 'NoSuchOp';
  const file = path.join(tmp, 'unsupported.onnx');
  fs.writeFileSync(file, ns.ModelProto.encode(m).finish());
  const r = kilnAny(['inspect', file, '--no-kernels']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /1  NoSuchOp  \(unsupported\)/);
  assert.match(r.stdout, /kiln cannot compile this model .*:\n    - operator NoSuchOp is not supported/);
  const others = m.graph!.node!.filter((n) => n !== node).map((n) => n.opType!);
  for (const op of others) assert.match(r.stdout, new RegExp(`  ${op}\\n`), `${op} listed`);
  assert.notEqual(original, 'NoSuchOp');
  const j = JSON.parse(kilnAny(['inspect', file, '--no-kernels', '--json']).stdout) as { supported: boolean; ops: Record<string, number>; unsupportedOps: string[] };
  assert.equal(j.supported, false);
  assert.deepEqual(j.unsupportedOps, ['NoSuchOp']);
  assert.equal(j.ops.NoSuchOp, 1);
  const k = kilnAny(['inspect', file]);
  assert.equal(k.code, 1);
  assert.match(k.stdout, /NoSuchOp  \(unsupported\)/);
  assert.match(k.stderr, /unsupported: operator NoSuchOp is not supported/);
});

test('KILN_DEBUG on a warm start says why stages print nothing; unknown stage names are warned about', () => {
  const model = path.join(FIX, 'rmsnorm_swiglu.onnx');
  kiln(['compile', model]);
  const warm = kilnAny(['run', model], { KILN_DEBUG: 'source,loops', KILN_ASSERT_NO_COMPILE: '1' });
  assert.equal(warm.code, 0, warm.stderr);
  assert.match(warm.stderr, /graph cache hit .*: no lowering\/codegen stages ran, so loops, source print nothing; KILN_DEBUG=plan shows the cached plan/);
  const plan = kilnAny(['run', model], { KILN_DEBUG: 'plan', KILN_ASSERT_NO_COMPILE: '1' });
  assert.match(plan.stderr, /--- kiln plan ---/);
  assert.doesNotMatch(plan.stderr, /no lowering/);
  const typo = kilnAny(['run', model], { KILN_DEBUG: 'sourec,plan', KILN_ASSERT_NO_COMPILE: '1' });
  assert.equal(typo.code, 0, typo.stderr);
  assert.equal(typo.stderr.match(/unknown stage/g)?.length, 1, typo.stderr);
  assert.match(typo.stderr, /kiln warning: KILN_DEBUG: unknown stage 'sourec' ignored \(stages: graph, loops, schedule, source, plan, or all\)/);
});
