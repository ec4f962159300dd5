// Models exported from PyTorch (scripts/make_onnx_models.py, TorchScript exporter, opset 17;
// scripts/make_onnx_models_dynamo.py, dynamo exporter, opset 20):
// each is loaded, run on its saved input and compared with PyTorch's saved output. Also the
// load paths around them: symbolic dims, external data, bytes, and the shape-chain folding
// that makes exporters' dynamic reshapes static.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

import type { NDArray } from '../src/graph/ndarray.js';
import { loadOnnx } from '../src/api/load_onnx.js';
import { OnnxUnsupportedError } from '../src/onnx/errors.js';
import { readNpy } from '../src/onnx/npy.js';
import { onnxNs } from '../src/onnx/proto.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIX = [path.join(here, 'fixtures/onnx'), path.join(here, '../../test/fixtures/onnx')].find((p) => fs.existsSync(p))!;
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-onnx-models-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

const RTOL = 1e-4;
const ATOL = 1e-5;

async function checkModel(name: string, opts: { inputShapes?: Record<string, number[]> } = {}) {
  const x = readNpy(path.join(FIX, `${name}.input.npy`));
  const want = readNpy(path.join(FIX, `${name}.output.npy`));
  const model = loadOnnx(path.join(FIX, `${name}.onnx`), { cacheDir, workers: 2, ...opts });
  assert.deepEqual(model.inputNames, ['x']);
  assert.deepEqual(model.outputNames, ['y']);
  const { y } = await model.run({ x });
  assert.deepEqual(y!.shape, want.shape);
  const got = (await (y as NDArray).toTypedArray()) as Float32Array;
  const ref = want.toTypedArraySync() as Float32Array;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const err = Math.abs(got[i]! - ref[i]!) - RTOL * Math.abs(ref[i]!);
    worst = Math.max(worst, err);
    assert.ok(err <= ATOL, `${name}: element ${i}: ${got[i]} vs PyTorch ${ref[i]}`);
  }
  return model;
}

for (const name of ['mlp', 'attention', 'transformer_layer', 'rmsnorm_swiglu', 'mlp_external']) {
  test(`PyTorch model ${name} matches PyTorch`, async () => {
    await checkModel(name);
  });
}

// The same models through PyTorch 2.11's dynamo exporter (torch.onnx.export(..., dynamo=True),
// opset 20; scripts/make_onnx_models_dynamo.py, run on the GPU machine where PyTorch 2.11,
// onnx and onnxscript are installed).
for (const name of ['mlp', 'attention', 'transformer_layer', 'rmsnorm_swiglu']) {
  test(`PyTorch model ${name}, dynamo exporter (opset 20), matches PyTorch`, async () => {
    const model = await checkModel(`${name}_dynamo`);
    const { opset } = model.inspect();
    assert.ok(opset >= 18, `opset ${opset}`);
  });
}

test('symbolic dims: loaded as they are (sized by the feeds), or pinned by inputShapes, which must fit the declared dims', async () => {
  await checkModel('mlp_dynamic');
  await checkModel('mlp_dynamic', { inputShapes: { x: [4, 16] } });
  assert.throws(() => loadOnnx(path.join(FIX, 'mlp_dynamic.onnx'), { inputShapes: { x: [4, 15] } }), (e: Error) => e instanceof OnnxUnsupportedError && /declares \[batch,16\]/.test(e.message));
});

test('Shape → Gather → Concat → Reshape chains fold at load time', async () => {
  const model = await checkModel('attention_dynamic', { inputShapes: { x: [2, 8, 16] } });
  const ops = model.inspect().ops;
  assert.ok(ops.Shape! > 0 && ops.Gather! > 0 && ops.Concat! > 0, 'the export computes shapes at run time');
  const graph = model.graphFor()!.traced.graph;
  // Only the data path remains: no integer node survives import.
  const ints = graph.nodes.filter((n) => n.dtype === 'int64' || n.dtype === 'int32');
  assert.deepEqual(ints.map((n) => n.op), []);
});

test('external data: loads relative to the model file; from bytes it fails clearly', () => {
  const bytes = fs.readFileSync(path.join(FIX, 'mlp_external.onnx'));
  assert.throws(() => loadOnnx(bytes), /external data .* given as bytes/);
});

test('external data: a location outside the model folder, a truncated data file and a short region fail clearly', () => {
  const ns = onnxNs();
  const proto = ns.ModelProto.decode(fs.readFileSync(path.join(FIX, 'mlp_external.onnx')));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-external-'));
  try {
    const data = fs.readFileSync(path.join(FIX, 'mlp_external.onnx.data'));
    const write = (name: string, edit: (kv: Map<string, string>) => void) => {
      const m = ns.ModelProto.decode(ns.ModelProto.encode(proto).finish());
      const t = m.graph!.initializer!.find((i) => (i.externalData ?? []).length > 0)!;
      const kv = new Map(t.externalData!.map((e) => [e.key!, e.value!]));
      edit(kv);
      t.externalData = [...kv].map(([key, value]) => ns.StringStringEntryProto.create({ key, value }));
      fs.writeFileSync(path.join(dir, name), ns.ModelProto.encode(m).finish());
      return path.join(dir, name);
    };
    fs.writeFileSync(path.join(dir, 'mlp_external.onnx.data'), data);
    fs.writeFileSync(path.join(dir, 'short.data'), data.subarray(0, 100));
    assert.throws(() => loadOnnx(write('escape.onnx', (kv) => kv.set('location', '../../etc/passwd'))), /outside the model's directory/);
    assert.throws(() => loadOnnx(write('abs.onnx', (kv) => kv.set('location', '/etc/passwd'))), /outside the model's directory/);
    assert.throws(() => loadOnnx(write('short.onnx', (kv) => kv.set('location', 'short.data'))), /is shorter than offset/);
    assert.throws(() => loadOnnx(write('len.onnx', (kv) => kv.set('length', '8'))), /external data holds 8 bytes, expected/);
    // The untampered model from the same folder still loads.
    loadOnnx(write('ok.onnx', () => {}));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a model given as bytes loads and runs', async () => {
  const model = loadOnnx(fs.readFileSync(path.join(FIX, 'mlp.onnx')), { cacheDir, workers: 2 });
  const { y } = await model.run({ x: readNpy(path.join(FIX, 'mlp.input.npy')) });
  assert.deepEqual(y!.shape, [4, 16]);
});
