// Time of realize + formKernels (the fusion plan) on the real-model suite's graphs, medians of
// repeated runs: node dist/bench/schedule_time.js [repeats]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withIndexChecks } from '../src/api/index_checks.js';
import { loadOnnx } from '../src/onnx/load.js';
import { formKernels } from '../src/schedule/fuse.js';
import { realize } from '../src/schedule/realize.js';
import { listSuite, suiteInputs } from './model_suite.js';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const repeats = Number(process.argv[2] ?? 15);
let total = 0;
for (const m of listSuite(path.join(root, 'test/fixtures/models'))) {
  const model = loadOnnx(path.join(m.dir, 'model.onnx'), { workers: 0 });
  const traced = model.graphFor(suiteInputs(m))?.traced;
  if (!traced) continue;
  const g = withIndexChecks(traced).traced.graph;
  const times: number[] = [];
  let kernels = 0;
  for (let i = 0; i < repeats; i++) {
    const t0 = process.hrtime.bigint();
    kernels = formKernels(g, realize(g)).kernels.length;
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const med = times[times.length >> 1]!;
  total += med;
  console.log(`${m.name.padEnd(30)} ${String(g.nodes.length).padStart(5)} nodes ${String(kernels).padStart(4)} kernels ${med.toFixed(2).padStart(8)} ms`);
}
console.log(`total of medians ${total.toFixed(1)} ms`);
