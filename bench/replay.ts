// Process replay (tinygrad's habit): generates every kernel source and plan of a fixed corpus,
// for the CPU and the CUDA backend, without compiling anything, and writes them to a folder (one
// file per program and backend), or compares them with a folder an earlier build wrote. A
// refactor that keeps behaviour leaves every file identical; each difference is named in the
// commit that makes it. scripts/replay.sh REF runs REF's build and this one and diffs the two.
//
// Corpus: the traced programs of test/fixtures/programs.ts, the ONNX fixtures of
// test/fixtures/onnx, the real-model suite (test/fixtures/models), the conv nets of
// test/fixtures/conv_nets.ts and the ONNX conformance models (test/conformance/onnx-node).
//
//   node dist/bench/replay.js --out DIR [--only substring] [--devices cpu,cuda]
//   node dist/bench/replay.js --out DIR --against OLD_DIR      (exit 1 when anything differs)

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Backend } from '../src/backends/backend.js';
import { CpuBackend } from '../src/backends/cpu/backend.js';
import type { CompileRequest } from '../src/compile/types.js';
import { NDArray } from '../src/frontend/ndarray.js';
import { type Traced, trace } from '../src/frontend/trace.js';
import { withIndexChecks } from '../src/api/index_checks.js';
import { schedule } from '../src/api/program.js';
import { loadOnnx } from '../src/onnx/load.js';
import { readNpy } from '../src/onnx/npy.js';
import { readTensorPb } from '../src/onnx/tensor_file.js';
import type { OnnxValue } from '../src/onnx/string_tensor.js';
import { listSuite, suiteInputs } from './model_suite.js';
import { distinctLayers, layersProgram, mlpExample } from '../test/fixtures/programs.js';
import { smallConvNet } from '../test/fixtures/conv_nets.js';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Item {
  name: string;
  /** The graph as compileGraph sees it (index checks added), for any device. */
  traced(): Traced | undefined;
}

function tracedItem(name: string, p: { fn: Parameters<typeof trace>[0]; inputs(): NDArray[] }): Item {
  return { name, traced: () => trace(p.fn, p.inputs().map((x) => ({ shape: x.shape, dtype: x.dtype }))) };
}

function onnxItem(name: string, file: string | Uint8Array, feeds: () => Record<string, OnnxValue>, inputShapes?: Record<string, number[]>): Item {
  return {
    name,
    traced: () => {
      const model = loadOnnx(file, { workers: 0, ...(inputShapes ? { inputShapes } : {}) });
      return model.graphFor(feeds())?.traced;
    },
  };
}

function corpus(): Item[] {
  const items: Item[] = [
    tracedItem('programs/mlp', mlpExample()),
    tracedItem('programs/distinct12', distinctLayers(12)),
    tracedItem('programs/layers-repeat', layersProgram([0, 1, 0, 2, 1])),
  ];
  const onnxDir = path.join(root, 'test/fixtures/onnx');
  for (const f of fs.readdirSync(onnxDir).filter((f) => f.endsWith('.onnx')).sort()) {
    const base = f.slice(0, -'.onnx'.length);
    const npy = path.join(onnxDir, `${base}.input.npy`);
    // One input each; the dynamic fixtures get their symbolic dims pinned to the saved input's
    // (the Proxy answers that shape for whichever input name is asked, to learn the name).
    const x = readNpy(npy);
    const input = loadOnnx(path.join(onnxDir, f), { workers: 0, inputShapes: new Proxy({}, { get: () => [...x.shape] }) }).inputNames[0]!;
    items.push(onnxItem(`onnx/${base}`, path.join(onnxDir, f), () => ({ [input]: x }), { [input]: [...x.shape] }));
  }
  for (const m of listSuite(path.join(root, 'test/fixtures/models'))) items.push(onnxItem(`models/${m.name}`, path.join(m.dir, 'model.onnx'), () => suiteInputs(m)));
  for (const width of [1, 2]) {
    const net = smallConvNet(width, 32);
    const x = NDArray.from(Float32Array.from({ length: net.inputShape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i)), net.inputShape);
    items.push(onnxItem(`convnets/width${width}`, net.bytes, () => ({ [loadOnnx(net.bytes, { workers: 0 }).inputNames[0]!]: x })));
  }
  const conf = path.join(root, 'test/conformance/onnx-node');
  if (fs.existsSync(conf)) {
    for (const t of fs.readdirSync(conf).sort()) {
      const dir = path.join(conf, t);
      const data = path.join(dir, 'test_data_set_0');
      if (!fs.existsSync(path.join(dir, 'model.onnx')) || !fs.existsSync(data)) continue;
      items.push(
        onnxItem(`conformance/${t}`, path.join(dir, 'model.onnx'), () => {
          const model = loadOnnx(path.join(dir, 'model.onnx'), { workers: 0 });
          const feeds: Record<string, OnnxValue> = {};
          model.inputNames.forEach((n, k) => (feeds[n] = readTensorPb(path.join(data, `input_${k}.pb`))));
          return feeds;
        }),
      );
    }
  }
  return items;
}

/** Every kernel's source and the plan of one graph on one backend, as one text. */
async function replayOne(traced: Traced, backend: Backend): Promise<string> {
  const checked = withIndexChecks(traced).traced;
  const sources: string[] = [];
  const seen = new Set<string>();
  const capture = (req: CompileRequest) => {
    if (seen.has(req.key)) return;
    seen.add(req.key);
    sources.push(`// ---- ${req.kernelName}\n${req.source}`);
  };
  const { plan } = await schedule(checked.graph, backend, capture, checked.returnsArray);
  return `${JSON.stringify(plan, null, 1)}\n${sources.join('\n')}\n`;
}

async function backends(devices: string[]): Promise<Backend[]> {
  const out: Backend[] = [];
  for (const d of devices) {
    if (d === 'cpu') out.push(new CpuBackend());
    else if (d === 'cuda') {
      // Code generation only: no GPU, no toolkit needed (the arch is fixed so the output is too).
      const { CudaBackend } = await import('../src/backends/cuda/backend.js');
      out.push(new CudaBackend({ device: 'cuda', arch: 'sm_90' }));
    } else throw new Error(`replay: unknown device ${d}`);
  }
  for (const b of out) await b.prepareCodegen?.();
  return out;
}

function fileName(item: string, device: string): string {
  return `${item.replace(/[^A-Za-z0-9_.-]+/g, '__')}.${device}.txt`;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const out = opt('--out');
  if (!out) {
    process.stderr.write('usage: node dist/bench/replay.js --out DIR [--against OLD_DIR] [--only SUBSTRING] [--devices cpu,cuda]\n');
    return 2;
  }
  const only = opt('--only');
  const devices = (opt('--devices') ?? 'cpu,cuda').split(',');
  fs.mkdirSync(out, { recursive: true });
  const bs = await backends(devices);
  let written = 0;
  const writtenNow = new Set<string>();
  let failed = 0;
  for (const item of corpus()) {
    if (only && !item.name.includes(only)) continue;
    let traced: Traced | undefined;
    try {
      traced = item.traced();
    } catch (e) {
      // Models kiln refuses are part of the corpus too: the refusal is their output.
      for (const i of bs.keys()) fs.writeFileSync(path.join(out, fileName(item.name, devices[i]!)), `error: ${(e as Error).message.split(root).join('<root>')}\n`);
      for (const d of devices) writtenNow.add(fileName(item.name, d));
      failed++;
      continue;
    }
    for (const [i, b] of bs.entries()) {
      let text: string;
      try {
        text = traced ? await replayOne(traced, b) : 'no graph without input values\n';
      } catch (e) {
        text = `error: ${(e as Error).message}\n`;
        failed++;
      }
      // Paths differ between checkouts (replay.sh builds the other commit elsewhere).
      fs.writeFileSync(path.join(out, fileName(item.name, devices[i]!)), text.split(root).join('<root>'));
      writtenNow.add(fileName(item.name, devices[i]!));
      written++;
    }
  }
  process.stdout.write(`replay: ${written} files in ${out} (${failed} refused or failed)\n`);
  const against = opt('--against');
  if (!against) return 0;
  // With --only, only what this run wrote is compared.
  const mine = new Set(fs.readdirSync(out).filter((f) => !only || writtenNow.has(f)));
  const theirs = new Set(fs.readdirSync(against).filter((f) => !only || writtenNow.has(f)));
  const differ: string[] = [];
  for (const f of [...new Set([...mine, ...theirs])].sort()) {
    if (!mine.has(f) || !theirs.has(f)) differ.push(`${f}: only in ${mine.has(f) ? out : against}`);
    else if (!fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(against, f)))) differ.push(`${f}: differs`);
  }
  process.stdout.write(differ.length === 0 ? `replay: identical to ${against}\n` : `replay: ${differ.length} differ from ${against}:\n${differ.join('\n')}\n`);
  return differ.length === 0 ? 0 : 1;
}

process.exitCode = await main();
