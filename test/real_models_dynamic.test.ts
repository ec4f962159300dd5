// The real-model suite exported again with symbolic batch and sequence (scripts/real_models_dynamic.py,
// run where PyTorch is installed, writes test/fixtures/models_dynamic/): each model is loaded once,
// without inputShapes, and run on its three cases of different shapes in this one process, every
// output held to the static suite's tolerance against PyTorch's (test/real_models.test.ts). Each
// model's graph builds, shape variants and compiles are reported as test diagnostics, with the
// path it took (inspect().symbolic): one symbolic program, compiled once, serving every case its
// guards admit, or, where the symbolic build is refused, a variant per shape with the refusal as
// the reason; a fourth run of the first case's shape must reuse its variant (no build, no
// compile). On the CPU every model must take the symbolic path (the issue's target: three shapes
// in one process, no compile after the first): the vision models (convolutions, pools, BatchNorm,
// SE blocks over a symbolic batch) and the transformers (position ids from Range, masks built
// from the sequence length, buffers sliced to it, grouped-query heads by Expand and Reshape,
// T5's relative-position buckets, ViT's class token expanded to the batch).
//
// The fixtures: the library's models exported by PyTorch 2.11's dynamo exporter where transformers
// is installed (<model>_dynamic), and scripts/transformer_modules.py's plain-PyTorch transformers
// exported by PyTorch 1.13's TorchScript exporter with dynamic_axes (<model>_like_torchscript_dynamic).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

import { type DynamicSuiteMeta, caseInputs, caseOutputs, listSuite, maxRelError } from '../bench/model_suite.js';
import { NDArray } from '../src/graph/ndarray.js';
import { loadOnnx } from '../src/api/load_onnx.js';
import { counters } from '../src/observe/counters.js';
import { testDevice } from './helpers.js';
import { optional } from './prereq.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = [path.join(here, 'fixtures/models_dynamic'), path.join(here, '../../test/fixtures/models_dynamic')].find((p) => fs.existsSync(p));
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-real-models-dynamic-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

const TOL = 1e-4;
const skip = optional('the dynamic real-model suite', ROOT !== undefined, 'test/fixtures/models_dynamic/ is not there (scripts/real_models_dynamic.py writes it where PyTorch is installed)');
const models = ROOT ? listSuite<DynamicSuiteMeta>(ROOT) : [];

test('every dynamic export the script attempted exists, with symbolic dims and three cases', { skip }, (t) => {
  // suite.json (the script's record of failed exports) is optional: the fixtures may be a selection.
  const record = path.join(ROOT!, 'suite.json');
  const suite = (fs.existsSync(record) ? JSON.parse(fs.readFileSync(record, 'utf8')) : { models: {} }) as { models: Record<string, { error?: string }> };
  // As the static suite's rule: an architecture whose static dynamo export exists must export
  // with symbolic dims too (T5's encoder excepted there as here); other failures are reported.
  const staticRoot = path.join(ROOT!, '..', 'models');
  for (const [k, v] of Object.entries(suite.models)) {
    if (v.error === undefined) continue;
    const arch = k.replace(/_dynamic$/, '');
    if (fs.existsSync(path.join(staticRoot, `${arch}_dynamo`)) && !arch.startsWith('t5_')) assert.fail(`${k}: ${v.error}`);
    t.diagnostic(`${k}: not exported: ${v.error}`);
  }
  assert.ok(models.length > 0, `no export in ${ROOT}`);
  for (const m of models) {
    assert.ok(m.meta.inputs.some((i) => i.dims.some((d) => typeof d === 'string')), `${m.name}: no symbolic dim in ${JSON.stringify(m.meta.inputs)}`);
    assert.equal(m.meta.cases.length, 3, `${m.name}: cases`);
  }
});

for (const m of models) {
  test(`${m.name}: three shapes in one load, each matching PyTorch on ${testDevice}`, async (t) => {
    const c0 = counters();
    const model = loadOnnx(path.join(m.dir, 'model.onnx'), { cacheDir, device: testDevice });
    let afterFirst: ReturnType<typeof counters> | undefined;
    for (const [c, kase] of m.meta.cases.entries()) {
      const outs = await model.run(caseInputs(m, c));
      if (c === 0) afterFirst = counters();
      for (const { name, want } of caseOutputs(m, c)) {
        const got = outs[name];
        const at = `${m.name} case ${c} (inputs ${JSON.stringify(kase.shapes)})`;
        assert.ok(got instanceof NDArray, `${at}: no output '${name}'`);
        assert.deepEqual(got.shape, want.shape, `${at}: output '${name}' shape`);
        const err = maxRelError((await got.toArray()) as number[], want.toArraySync() as number[]);
        assert.ok(err <= TOL, `${at}: output '${name}': max |kiln − PyTorch| = ${err.toExponential(2)} × max |PyTorch| (limit ${TOL})`);
      }
    }
    const c1 = counters();
    const shapes = new Set(m.meta.cases.map((k) => JSON.stringify(k.shapes))).size;
    const built = c1.onnx_graph_builds - c0.onnx_graph_builds;
    const variants = c1.shape_variant_builds - c0.shape_variant_builds;
    const compiles = c1.graph_cache_misses - c0.graph_cache_misses;
    const status = model.inspect().symbolic!;
    const refusals = c1.onnx_symbolic_refusals - c0.onnx_symbolic_refusals;
    t.diagnostic(`${m.name}: ${m.meta.cases.length} cases, ${shapes} shapes: ${status.path}${status.reason ? ` (${status.reason})` : ''}, ${built} graph builds, ${variants} shape variants, ${compiles} graph compiles (graph-cache misses), ${c1.kernels_generated - c0.kernels_generated} kernels generated`);
    // Held on the CPU; on CUDA (KILN_TEST_DEVICE=cuda) the path is reported, not required.
    if (testDevice === 'cpu') {
      assert.equal(status.path, 'symbolic', `${m.name}: ${status.reason ?? ''}`);
      assert.equal(status.guardFailures, 0, `${m.name}: ${status.lastGuardFailure ?? ''}`);
      const after = counters();
      assert.deepEqual(
        [after.graph_cache_misses - afterFirst!.graph_cache_misses, after.graph_cache_hits - afterFirst!.graph_cache_hits, after.onnx_graph_builds - afterFirst!.onnx_graph_builds, after.kernels_generated - afterFirst!.kernels_generated],
        [0, 0, 0, 0],
        `${m.name}: no build, compile or codegen after the first case`,
      );
      assert.equal(compiles, 1, `${m.name}: one compile`);
    }
    if (status.path === 'symbolic') {
      // One program (built at its hints and once more at other sizes) for every shape its guards admit; each they refuse gets its own variant.
      assert.equal(c1.symbolic_programs - c0.symbolic_programs, 1);
      assert.equal(variants, 1 + status.guardFailures, 'the symbolic program and one variant per shape its guards refuse');
      assert.ok(built <= 2 + status.guardFailures, `${built} graph builds`);
    } else {
      // Refused once (its reason reported), then one variant per shape; the refused attempt may have built its graph once.
      assert.equal(status.path, 'per-shape');
      assert.equal(refusals, 1, 'the symbolic program is tried once');
      assert.ok(status.reason && status.reason.length > 0, 'the refusal says why');
      assert.equal(variants, shapes, 'one shape variant per distinct shape');
      assert.ok(built <= shapes + 2, `${built} graph builds for ${shapes} shapes`);
    }
    // The first shape again: its variant serves it.
    await model.run(caseInputs(m, 0));
    const c2 = counters();
    assert.deepEqual([c2.onnx_graph_builds - c1.onnx_graph_builds, c2.graph_cache_misses - c1.graph_cache_misses, c2.shape_variant_hits - c1.shape_variant_hits], [0, 0, 1]);
    model.dispose();
    if (status.path === 'symbolic') await warmStart(m);
  });
}

/** Max relative error of each of case `c`'s outputs against PyTorch's, held to TOL. */
async function assertCase(m: (typeof models)[number], c: number, outs: Record<string, NDArray>, how: string): Promise<void> {
  for (const { name, want } of caseOutputs(m, c)) {
    const err = maxRelError((await outs[name]!.toArray()) as number[], want.toArraySync() as number[]);
    assert.ok(err <= TOL, `${m.name} ${how}, case ${c}: output '${name}': ${err.toExponential(2)} × max |PyTorch|`);
  }
}

/**
 * A second load of a model whose first took the symbolic path (a new process would do the same:
 * the program and its conversion come from the cache): no graph built, nothing compiled, another
 * case's shape right at once; token ids out of the vocabulary are an IndexRangeError from the
 * warm program's index checks (read back from the stored conversion), never a read outside a table.
 */
async function warmStart(m: (typeof models)[number]): Promise<void> {
  const c0 = counters();
  const warm = loadOnnx(path.join(m.dir, 'model.onnx'), { cacheDir, device: testDevice });
  await assertCase(m, 1, await warm.run(caseInputs(m, 1)), 'warm start');
  const c1 = counters();
  assert.deepEqual(
    [c1.onnx_graph_builds - c0.onnx_graph_builds, c1.graph_cache_misses - c0.graph_cache_misses, c1.compile_submitted - c0.compile_submitted, c1.onnx_conversion_hits - c0.onnx_conversion_hits],
    [0, 0, 0, 1],
    `${m.name}: a warm start builds no graph and compiles nothing`,
  );
  assert.equal(warm.inspect().symbolic!.path, 'symbolic');
  const feeds = caseInputs(m, 2);
  const ids = Object.keys(feeds).find((n) => /input_ids/.test(n));
  if (ids !== undefined) {
    const bad = feeds[ids]!.toTypedArraySync() as BigInt64Array;
    bad[bad.length - 1] = 1_000_000_007n;
    await assert.rejects(
      warm.run({ ...feeds, [ids]: NDArray.from(bad, feeds[ids]!.shape) }).then((outs) => Promise.all(Object.values(outs).map((o) => o.toArray()))),
      (e: Error) => e.name === 'IndexRangeError' && /index 1000000007 .* out of range/.test(e.message),
    );
  }
  warm.dispose();
}
