// The CPU GEMM of many rows: kiln's float32 products `relu(x @ w + b)` on the wide MLP's and
// transformer-shaped layers (M = batch·seq = 128–512, K, N ∈ {768, 2304, 3072}, as in GPT-2 and
// BERT base; and per-head attention products, 12 heads), the tiled kernel (default) beside the
// earlier 4×32 kernel (KILN_CPU_TILED_GEMM=0).
//
// Each variant runs in its own child process (this script with --child), the variants
// alternating round by round, so both see the same machine; a child compiles every case, then
// per case times ≥ --calls calls (and ≥ 0.3 s) after 3 warm-up calls, `await f(x)` plus reading
// the output, and reports the median. The table gives the median over --rounds of those
// medians, and GFLOP/s = 2·M·K·N / that time. Outputs of the two variants are compared (max
// |diff|) to show they compute the same product.
//
//   npx tsc -p . && node dist/bench/cpu_gemm.js [--json] [--rounds 5] [--calls 20] [--only M,K,N]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchArgs, machineInfo, machineLine, median, parseArgs } from './common.js';
import { mulberry32 } from '../src/graph/random.js';

const THIS = fileURLToPath(import.meta.url);

interface Shape {
  /** Independent products (attention heads), one B each; absent: one product against a weight. */
  batch?: number;
  M: number;
  K: number;
  N: number;
  /** B read transposed (a Gemm transB weight, [N, K] in memory). */
  transB?: boolean;
  what: string;
}

const SHAPES: Shape[] = [
  { M: 256, K: 512, N: 1024, what: 'wide MLP layer 1' },
  { M: 256, K: 1024, N: 1024, what: 'wide MLP layer 2' },
  { M: 256, K: 1024, N: 512, what: 'wide MLP layer 3' },
  { M: 128, K: 768, N: 768, what: 'attention out-projection, 128 tokens' },
  { M: 128, K: 768, N: 3072, what: 'MLP up, 128 tokens' },
  { M: 128, K: 3072, N: 768, what: 'MLP down, 128 tokens' },
  { M: 512, K: 768, N: 2304, what: 'QKV projection, 512 tokens' },
  { M: 512, K: 768, N: 3072, what: 'MLP up, 512 tokens' },
  { M: 512, K: 3072, N: 768, what: 'MLP down, 512 tokens' },
  { M: 512, K: 768, N: 768, transB: true, what: 'out-projection, transposed weight, 512 tokens' },
  { batch: 12, M: 256, K: 64, N: 256, transB: true, what: 'attention scores Q·Kᵀ, 12 heads × 256 tokens' },
  { batch: 12, M: 256, K: 256, N: 64, what: 'attention probabilities × V, 12 heads × 256 tokens' },
];

const VARIANTS = [
  { name: 'tiled', env: {} },
  { name: 'earlier 4×32', env: { KILN_CPU_TILED_GEMM: '0' } },
];

const key = (s: Shape) => `${s.batch ? `${s.batch}×` : ''}${s.M}x${s.K}x${s.N}${s.transB ? 'T' : ''}`;

function randomF32(n: number, seed: number, scale: number): Float32Array {
  const r = mulberry32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

interface ChildCfg {
  shapes: Shape[];
  calls: number;
  outDir: string;
}

/** In the child: compile every shape, then time each; writes each output to outDir. */
async function child(cfg: ChildCfg): Promise<Record<string, number>> {
  const { compile, NDArray } = await import('../src/index.js');
  const { Tensor } = await import('../src/frontend/tensor.js');
  const ms: Record<string, number> = {};
  for (const s of cfg.shapes) {
    const lead = s.batch ? [s.batch] : [];
    const bs = s.batch ?? 1;
    const w = NDArray.from(randomF32(bs * s.K * s.N, 11, 1 / Math.sqrt(s.K)), [...lead, ...(s.transB ? [s.N, s.K] : [s.K, s.N])]);
    const b = NDArray.from(randomF32(s.N, 12, 0.1), [s.N]);
    const x = NDArray.from(randomF32(bs * s.M * s.K, 13, 1), [...lead, s.M, s.K]);
    // A transposed weight is captured as a traced parameter, so the function can transpose it.
    const f = compile((xt) => xt.matmul(s.transB ? new Tensor(xt.tracer, xt.tracer.param(w)).transpose(-2, -1) : w).add(b).relu());
    let out = await (await f(x)).toTypedArray();
    for (let i = 0; i < 2; i++) out = await (await f(x)).toTypedArray();
    const ts: number[] = [];
    const t0 = performance.now();
    while (ts.length < cfg.calls || performance.now() - t0 < 300) {
      const t = performance.now();
      out = await (await f(x)).toTypedArray();
      ts.push(performance.now() - t);
    }
    ms[key(s)] = median(ts);
    writeFileSync(join(cfg.outDir, key(s)), Buffer.from((out as Float32Array).buffer));
  }
  return ms;
}

function runChild(cfg: ChildCfg, env: Record<string, string | undefined>): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [THIS, '--child', JSON.stringify(cfg)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Record<string, number>) : reject(new Error(`child exited with ${code}`))));
  });
}

interface Args extends BenchArgs {
  rounds: number;
  calls: number;
  only?: string;
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') {
    process.stdout.write(JSON.stringify(await child(JSON.parse(process.argv[3]!) as ChildCfg)));
    return;
  }
  const args = parseArgs<Args>(process.argv.slice(2), { json: false, device: 'cpu', rounds: 5, calls: 20 }, {
    '--rounds': (a, v) => (a.rounds = Number(v)),
    '--calls': (a, v) => (a.calls = Number(v)),
    '--only': (a, v) => (a.only = v),
  });
  const shapes = args.only ? SHAPES.filter((s) => key(s).startsWith(args.only!.replace(/,/g, 'x'))) : SHAPES;
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-gemm-'));
  try {
    const times = VARIANTS.map(() => new Map<string, number[]>());
    for (let r = 0; r < args.rounds; r++) {
      for (const [v, variant] of VARIANTS.entries()) {
        const outDir = mkdtempSync(join(tmp, `v${v}-`));
        const ms = await runChild({ shapes, calls: args.calls, outDir }, variant.env);
        for (const [k, t] of Object.entries(ms)) times[v]!.set(k, [...(times[v]!.get(k) ?? []), t]);
        if (r === 0) writeFileSync(join(tmp, `dir${v}`), outDir);
      }
    }
    const dirs = VARIANTS.map((_, v) => readFileSync(join(tmp, `dir${v}`), 'utf8'));
    const rows = shapes.map((s) => {
      const gflop = (2 * (s.batch ?? 1) * s.M * s.K * s.N) / 1e9;
      const med = times.map((t) => median(t.get(key(s))!));
      const outs = dirs.map((d) => new Float32Array(readFileSync(join(d, key(s))).buffer.slice(0)));
      let diff = 0;
      let scale = 0;
      for (let i = 0; i < outs[0]!.length; i++) {
        diff = Math.max(diff, Math.abs(outs[0]![i]! - outs[1]![i]!));
        scale = Math.max(scale, Math.abs(outs[1]![i]!));
      }
      return { shape: key(s), what: s.what, ms: med, gflops: med.map((m) => gflop / (m / 1e3)), speedup: med[1]! / med[0]!, maxDiff: diff, maxY: scale };
    });
    const machine = machineInfo({ rounds: args.rounds });
    if (args.json) {
      console.log(JSON.stringify({ machine, variants: VARIANTS.map((v) => v.name), rows }, null, 2));
      return;
    }
    console.log(`cpu_gemm: ${machineLine(machine)}; ${args.rounds} rounds, variants alternating, each in its own process`);
    console.log(`| M×K×N | layer | ${VARIANTS.map((v) => `${v.name} ms | GFLOP/s`).join(' | ')} | speed-up | max \\|diff\\| (max \\|y\\|) |`);
    console.log(`|:--|:--|${VARIANTS.map(() => '--:|--:|').join('')}--:|--:|`);
    for (const r of rows) {
      console.log(`| ${r.shape} | ${r.what} | ${r.ms.map((m, i) => `${m.toFixed(3)} | ${r.gflops[i]!.toFixed(0)}`).join(' | ')} | ${r.speedup.toFixed(2)}× | ${r.maxDiff.toExponential(1)} (${r.maxY.toFixed(2)}) |`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
