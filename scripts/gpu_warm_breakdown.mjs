// Where a CUDA warm start spends its time. For each program: one process compiles and fills
// a fresh cache directory, a second one starts warm with KILN_TRACE on; the warm trace's
// main-process spans are summed by category and name (kernel names folded together).
//
//   node scripts/gpu_warm_breakdown.mjs [distinct100] [block] [mlp]
//
// distinct100: 100 distinct small layers (test/fixtures/programs.ts), the "100 kernels" of
// issue 4's target; block: bench/gpu_block.ts's 24-layer block (cuBLAS products, 200 MB of
// weights to upload); mlp: the bundled example.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const which = process.argv.slice(2).length ? process.argv.slice(2) : ['distinct100', 'block'];

function command(program, cacheDir) {
  if (program === 'block') return [join(root, 'dist/bench/gpu_block.js'), cacheDir];
  const spec = program === 'mlp' ? { kind: 'mlp' } : { kind: 'distinct', n: Number(program.replace('distinct', '')) };
  return [join(root, 'test/fixtures/child.mjs'), JSON.stringify({ programs: [spec], device: 'cuda', cacheDir })];
}

function run(program, cacheDir, env) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, command(program, cacheDir), { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 26 });
  const processMs = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${program}: exit ${r.status}\n${r.stderr}`);
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
  const out = JSON.parse(line);
  const firstMs = out.firstMs ?? out.programs?.[0]?.firstResultMs;
  return { processMs, firstMs, importMs: out.importMs, counters: out.counters };
}

for (const program of which) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-warm-breakdown-'));
  const traceFile = join(dir, 'warm.trace.json');
  try {
    const cold = run(program, join(dir, 'cache'), {});
    const warm = run(program, join(dir, 'cache'), { KILN_TRACE: traceFile, KILN_ASSERT_NO_COMPILE: '1' });
    const events = JSON.parse(readFileSync(traceFile, 'utf8')).traceEvents.filter((e) => e.ph === 'X');
    const groups = new Map();
    for (const e of events) {
      const name = `${e.cat}: ${e.name.replace(/kiln_[0-9a-f]{16}/, 'kiln_<kernel>').replace(/kernel \d+/, 'kernel <i>')}`;
      const g = groups.get(name) ?? { ms: 0, n: 0 };
      g.ms += e.dur / 1000;
      g.n++;
      groups.set(name, g);
    }
    const t0 = Math.min(...events.map((e) => e.ts));
    const t1 = Math.max(...events.map((e) => e.ts + e.dur));
    console.log(`\n## ${program}: cold first result ${cold.firstMs.toFixed(1)} ms (process ${cold.processMs.toFixed(0)} ms); warm ${warm.firstMs.toFixed(1)} ms (process ${warm.processMs.toFixed(0)} ms, import ${warm.importMs?.toFixed(1) ?? '?'} ms)`);
    console.log(`warm counters: ${JSON.stringify(warm.counters)}`);
    console.log(`traced span of the warm process: ${((t1 - t0) / 1000).toFixed(1)} ms`);
    console.log('| span (warm process) | count | total ms |\n|---|--:|--:|');
    for (const [name, g] of [...groups].sort((a, b) => b[1].ms - a[1].ms)) console.log(`| ${name} | ${g.n} | ${g.ms.toFixed(2)} |`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
