// Writes the 50M-parameter MLP of bench/mlp_model.ts (12 × 2048² by default) as a folder of the
// real-model suite's form (model.onnx + its data file, input_0.npy, output_0.npy, meta.json),
// so bench/real_models.ts times its cold and warm starts like any real model:
//
//   node dist/bench/mlp_suite.js --out /tmp/mlpsuite [--layers 12] [--d 2048]
//   node dist/bench/real_models.js --dir /tmp/mlpsuite --warm-repeat 5
//
// The expected output is computed here in float64 from the weights written (batch 4).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NDArray } from '../src/graph/ndarray.js';
import { writeNpy } from '../src/onnx/npy.js';
import { list, parseArgs, type BenchArgs } from './common.js';
import { mlpWeights, writeMlpModel } from './mlp_model.js';

interface Args extends BenchArgs {
  out: string;
  layers: number;
  d: number;
}

const BATCH = 4;

async function main(): Promise<void> {
  const a = parseArgs<Args>(process.argv.slice(2), { json: false, device: 'cpu', out: '', layers: 12, d: 2048 }, {
    '--out': (x, v) => (x.out = list(v)[0]!),
    '--layers': (x, v) => (x.layers = Number(v)),
    '--d': (x, v) => (x.d = Number(v)),
  });
  if (!a.out) throw new Error('--out DIR');
  const dir = join(a.out, `mlp_${a.layers}x${a.d}`);
  mkdirSync(dir, { recursive: true });
  const { file, layers } = await writeMlpModel(dir, a.layers, a.d);
  const d = a.d;
  const x = mlpWeights(1000, BATCH * d, 2);
  let h = Float64Array.from(x);
  for (const { w, b } of layers) {
    const next = new Float64Array(BATCH * d);
    for (let r = 0; r < BATCH; r++) {
      const row = next.subarray(r * d, (r + 1) * d);
      for (let k = 0; k < d; k++) {
        const v = h[r * d + k]!;
        const wk = w.subarray(k * d, (k + 1) * d);
        for (let j = 0; j < d; j++) row[j]! += v * wk[j]!;
      }
      for (let j = 0; j < d; j++) row[j] = Math.max(0, row[j]! + b[j]!);
    }
    h = next;
  }
  await writeNpy(join(dir, 'input_0.npy'), NDArray.from(x, [BATCH, d]));
  await writeNpy(join(dir, 'output_0.npy'), NDArray.from(Float32Array.from(h), [BATCH, d]));
  const meta = {
    model: `mlp ${a.layers} x ${d}^2`,
    exporter: 'kiln bench/mlp_model.ts',
    size: 'generated',
    opset: 17,
    parameters: a.layers * (d * d + d),
    inputs: [{ name: 'x', file: 'input_0.npy' }],
    outputs: [{ name: `h${a.layers - 1}`, file: 'output_0.npy' }],
    ops: ['Add', 'MatMul', 'Relu'],
    ort_max_rel_error: null,
  };
  writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta, null, 1));
  // The suite's name for the model (its data file keeps the name the model points at).
  renameSync(file, join(dir, 'model.onnx'));
  console.log(`wrote ${join(dir, 'model.onnx')}`);
}

await main();
