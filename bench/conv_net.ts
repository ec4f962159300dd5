// A small conv net on the CPU (test/fixtures/conv_nets.ts smallConvNet: MobileNetV2-like
// blocks, a grouped conv, a 7×7 depthwise conv, max and global average pooling): kernel
// count, cold compile (empty cache, fresh process: load → first result) and time per call.
//
// node dist/bench/conv_net.js [--json] [--device cpu|cuda] [--calls 50] [--width 1] (channel multiplier) [--size 64] (input height and width)

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileGraph } from '../src/api/program.js';
import { NDArray } from '../src/graph/ndarray.js';
import { randnFloat32 } from '../src/graph/random.js';
import { numel } from '../src/graph/shape.js';
import { loadOnnx } from '../src/api/load_onnx.js';
import { smallConvNet } from '../test/fixtures/conv_nets.js';
import { type BenchArgs, machineInfo, machineLine, median, parseArgs } from './common.js';

interface Args extends BenchArgs {
  calls: number;
  width: number;
  size: number;
}

const args = parseArgs<Args>(process.argv.slice(2), { json: false, device: 'cpu', calls: 50, width: 1, size: 64 }, { '--calls': (a, v) => (a.calls = Number(v)), '--width': (a, v) => (a.width = Number(v)), '--size': (a, v) => (a.size = Number(v)) });
const cacheDir = mkdtempSync(join(tmpdir(), 'kiln-conv-bench-'));
try {
  const { bytes, inputShape } = smallConvNet(args.width, args.size);
  const x = NDArray.from(randnFloat32(numel(inputShape), 7), inputShape);
  const t0 = performance.now();
  const model = loadOnnx(bytes, { cacheDir, workers: 2, device: args.device });
  await model.run({ x });
  const coldMs = performance.now() - t0;
  const traced = model.graphFor({ x })!.traced;
  const program = await compileGraph(traced, { cacheDir, workers: 2, device: args.device });
  const times: number[] = [];
  for (let i = 0; i < args.calls; i++) {
    const s = performance.now();
    await model.run({ x });
    times.push(performance.now() - s);
  }
  const r = { graphNodes: traced.graph.nodes.length, kernels: program.kernelCount, coldMs, callMs: median(times), minCallMs: Math.min(...times) };
  const m = machineInfo({ device: args.device, calls: args.calls, width: args.width, size: args.size });
  if (args.json) console.log(JSON.stringify({ machine: m, result: r }));
  else {
    console.log(machineLine(m));
    console.log('| graph nodes | kernels | cold compile ms | ms per call (median) | min ms |');
    console.log('|--:|--:|--:|--:|--:|');
    console.log(`| ${r.graphNodes} | ${r.kernels} | ${r.coldMs.toFixed(0)} | ${r.callMs.toFixed(2)} | ${r.minCallMs.toFixed(2)} |`);
  }
} finally {
  rmSync(cacheDir, { recursive: true, force: true });
}
process.exit(0);
