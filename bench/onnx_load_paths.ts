// What a stored conversion saves a warm loadOnnx, in one process so that the machine's noise
// hits both sides alike: per model, loadOnnx with its conversion stored (no conversion, no
// folding: `onnx_graph_builds` stays 0) alternating with loadOnnx with the cache off (the
// model converted and folded every time, as every warm start did before), median of --repeat
// each. Both read the weights and decode the protobuf; neither compiles or runs anything.
// Fresh-process timings (bench/real_models.ts) include this and swing by ±50% on a loaded VM.
//
//   node dist/bench/onnx_load_paths.js [--dir test/fixtures/models] [--only a,b] [--repeat 15] [--json]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { counters, loadOnnx, resetCounters } from '../src/index.js';
import { type BenchArgs, list, machineInfo, machineLine, median, parseArgs } from './common.js';
import { listSuite } from './model_suite.js';

const here = path.dirname(fileURLToPath(import.meta.url));

interface Args extends BenchArgs {
  dir: string;
  only: string[] | undefined;
  repeat: number;
}

function timedLoad(file: string, cacheDir: string, cacheOff: boolean): { ms: number; builds: number } {
  if (cacheOff) process.env.KILN_NO_CACHE = '1';
  else delete process.env.KILN_NO_CACHE;
  resetCounters();
  const t = performance.now();
  loadOnnx(file, { cacheDir });
  const ms = performance.now() - t;
  return { ms, builds: counters().onnx_graph_builds };
}

async function main(): Promise<void> {
  const a = parseArgs<Args>(process.argv.slice(2), { json: false, device: 'cpu', dir: path.join(here, '../../test/fixtures/models'), only: undefined, repeat: 15 }, {
    '--dir': (x, v) => (x.dir = v!),
    '--only': (x, v) => (x.only = list(v)),
    '--repeat': (x, v) => (x.repeat = Number(v)),
  });
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-load-paths-'));
  const rows: { model: string; convertMs: number; storedMs: number; storedBuilds: number }[] = [];
  try {
    for (const m of listSuite(a.dir).filter((s) => !a.only || a.only.some((o) => s.name.startsWith(o)))) {
      const file = path.join(m.dir, 'model.onnx');
      timedLoad(file, cacheDir, false); // stores the conversion (and warms up both paths' code)
      timedLoad(file, cacheDir, true);
      const convert: number[] = [];
      const stored: number[] = [];
      let builds = 0;
      for (let i = 0; i < a.repeat; i++) {
        convert.push(timedLoad(file, cacheDir, true).ms);
        const s = timedLoad(file, cacheDir, false);
        stored.push(s.ms);
        builds += s.builds;
      }
      rows.push({ model: m.name, convertMs: median(convert), storedMs: median(stored), storedBuilds: builds });
      if (!a.json) console.log(`${m.name.padEnd(28)} converted ${median(convert).toFixed(2).padStart(7)} ms   stored conversion ${median(stored).toFixed(2).padStart(7)} ms   (graphs built on the stored path: ${builds})`);
    }
  } finally {
    delete process.env.KILN_NO_CACHE;
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
  const info = machineInfo({ dir: a.dir, repeat: a.repeat });
  if (a.json) console.log(JSON.stringify({ machine: info, rows }));
  else console.log(`\n${machineLine(info)}`);
}

await main();
