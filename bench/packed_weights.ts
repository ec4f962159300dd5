// What packing an ONNX model's CPU weights once costs (src/backends/cpu/packed_weights.ts): the
// first run (which packs) against the next ones, and the memory the panels hold, for each model
// of a real-model suite folder (onnx_peer.ts --dir's layout), packed once and per call
// (KILN_CPU_PACK_WEIGHTS=0), each in its own process, alternating for --rounds rounds. The graph
// cache is filled first, so a first run is a warm start's: loading the kernels, then the run.
//
//   npx tsc -p . && node dist/bench/packed_weights.js --dir /tmp/gpt2cpu [--runs 5] [--rounds 3]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineInfo, machineLine, median } from './common.js';
import { listSuite, suiteInputs } from './model_suite.js';

interface ChildOut {
  firstRunMs: number;
  laterMs: number[];
  packedBytes: number;
  packs: number;
  rssMB: number;
  externalMB: number;
}

function flagValue(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

async function child(modelDir: string, cacheDir: string, runs: number): Promise<void> {
  const { loadOnnx } = await import('../src/api/load_onnx.js');
  const { packedWeightStats } = await import('../src/backends/cpu/packed_weights.js');
  const m = listSuite(join(modelDir, '..')).find((s) => s.dir === modelDir)!;
  const feeds = suiteInputs(m);
  const model = loadOnnx(join(modelDir, 'model.onnx'), { cacheDir });
  const time = async () => {
    const t0 = performance.now();
    const outs = await model.run(feeds);
    for (const o of Object.values(outs)) o.toTypedArraySync();
    return performance.now() - t0;
  };
  const firstRunMs = await time();
  const laterMs: number[] = [];
  for (let i = 0; i < runs; i++) laterMs.push(await time());
  const s = packedWeightStats();
  const mem = process.memoryUsage();
  const out: ChildOut = { firstRunMs, laterMs, packedBytes: s.bytes, packs: s.packs, rssMB: mem.rss / 2 ** 20, externalMB: mem.arrayBuffers / 2 ** 20 };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function runChild(modelDir: string, cacheDir: string, runs: number, pack: boolean): Promise<ChildOut> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', modelDir, '--cache', cacheDir, '--runs', String(runs)], {
      env: { ...process.env, KILN_CPU_PACK_WEIGHTS: pack ? '1' : '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    p.stdout.on('data', (d: Buffer) => (text += d.toString()));
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(text.trim().split('\n').pop()!) as ChildOut) : reject(new Error(`child exited ${code}`))));
  });
}

async function main(): Promise<void> {
  if (process.argv.includes('--child')) return child(flagValue('--child', ''), flagValue('--cache', ''), Number(flagValue('--runs', '5')));
  const runs = Number(flagValue('--runs', '5'));
  const rounds = Number(flagValue('--rounds', '3'));
  const root = flagValue('--dir', '/tmp/gpt2cpu');
  for (const m of listSuite(root)) {
    const cacheDir = mkdtempSync(join(tmpdir(), 'kiln-packed-bench-'));
    try {
      await runChild(m.dir, cacheDir, 1, true); // fills the graph and kernel caches
      const sides: Record<'packed once' | 'per call', ChildOut[]> = { 'packed once': [], 'per call': [] };
      for (let r = 0; r < rounds; r++) {
        sides['packed once'].push(await runChild(m.dir, cacheDir, runs, true));
        sides['per call'].push(await runChild(m.dir, cacheDir, runs, false));
      }
      console.log(`\n${m.name}: ${rounds} rounds × (first run + ${runs} runs), graph cache warm`);
      console.log('| side | first run | later runs (median) | first − later | packed panels | packings | RSS | ArrayBuffers |');
      console.log('|:--|--:|--:|--:|--:|--:|--:|--:|');
      for (const [side, outs] of Object.entries(sides)) {
        const first = median(outs.map((o) => o.firstRunMs));
        const later = median(outs.flatMap((o) => o.laterMs));
        const o = outs[0]!;
        console.log(`| ${side} | ${first.toFixed(0)} ms | ${later.toFixed(1)} ms | ${(first - later).toFixed(0)} ms | ${(o.packedBytes / 2 ** 20).toFixed(0)} MiB | ${o.packs} | ${median(outs.map((x) => x.rssMB)).toFixed(0)} MiB | ${median(outs.map((x) => x.externalMB)).toFixed(0)} MiB |`);
      }
      console.log(`${new Date().toISOString()}: ${machineLine(machineInfo({}))}`);
      console.log(`first runs: ${Object.entries(sides).map(([s, outs]) => `${s} ${outs.map((o) => o.firstRunMs.toFixed(0)).join(' ')}`).join('; ')}`);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  }
}

await main();
