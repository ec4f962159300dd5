// Where a cold compile of N distinct kernels spends its wall time, from a KILN_TRACE of the
// child that bench/compile.ts runs (compile only, warm pool, no cache). Prints the timeline:
// trace/schedule spans of the main process, when codegen ended, how long the compiles took
// (per worker and overall), and the idle time between a worker's jobs.
//
//   node scripts/compile_trace_summary.mjs [--device cuda|cpu] [--kernels 128] [--workers 16,1]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const device = arg('--device', 'cuda');
const kernels = Number(arg('--kernels', '128'));
const workerCounts = arg('--workers', '16,1').split(',').map(Number);

for (const workers of workerCounts) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-compile-trace-'));
  const file = join(dir, 'trace.json');
  const cfg = {
    programs: [{ kind: 'distinct', n: kernels }],
    workers,
    device,
    compileOnly: device === 'cuda',
    check: false,
    warmup: { kind: 'layers', indices: [9001, 9002] },
    settleMs: 2000,
  };
  const r = spawnSync(process.execPath, [join(root, 'test/fixtures/child.mjs'), JSON.stringify(cfg)], {
    env: { ...process.env, KILN_NO_CACHE: '1', KILN_TRACE: file },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1));
  const start = out.mainStartUs;
  const events = JSON.parse(readFileSync(file, 'utf8')).traceEvents.filter((e) => e.ph === 'X' && e.ts >= start - 1);
  rmSync(dir, { recursive: true, force: true });
  const rel = (us) => ((us - start) / 1000).toFixed(1);
  const main = events.filter((e) => e.pid === out.pid);
  const compiles = events.filter((e) => e.cat === 'compile');
  const codegen = main.filter((e) => e.cat === 'codegen');
  const end = Math.max(...events.map((e) => e.ts + e.dur));
  console.log(`\n## ${kernels} kernels, ${workers} workers (${device}): first result ${out.programs[0].firstResultMs.toFixed(1)} ms`);
  for (const e of main.filter((e) => ['trace', 'lower', 'schedule', 'run'].includes(e.cat) || e.name === 'graph key')) console.log(`  main ${e.cat}/${e.name}: ${rel(e.ts)} → ${rel(e.ts + e.dur)} ms`);
  if (codegen.length) {
    const cg = codegen.reduce((a, e) => a + e.dur, 0) / 1000;
    console.log(`  codegen: ${codegen.length} kernels, ${rel(Math.min(...codegen.map((e) => e.ts)))} → ${rel(Math.max(...codegen.map((e) => e.ts + e.dur)))} ms, ${cg.toFixed(1)} ms in all (${(cg / codegen.length).toFixed(2)} ms each)`);
  }
  const durs = compiles.map((e) => e.dur / 1000).sort((a, b) => a - b);
  const sum = durs.reduce((a, b) => a + b, 0);
  console.log(`  compiles: ${compiles.length}, first starts ${rel(Math.min(...compiles.map((e) => e.ts)))} ms, last ends ${rel(Math.max(...compiles.map((e) => e.ts + e.dur)))} ms; per compile median ${durs[durs.length >> 1]?.toFixed(1)} ms, p90 ${durs[Math.floor(durs.length * 0.9)]?.toFixed(1)} ms, sum ${sum.toFixed(0)} ms`);
  const byPid = new Map();
  for (const e of compiles) byPid.set(e.pid, [...(byPid.get(e.pid) ?? []), e]);
  let idle = 0;
  for (const es of byPid.values()) {
    es.sort((a, b) => a.ts - b.ts);
    for (let i = 1; i < es.length; i++) idle += es[i].ts - (es[i - 1].ts + es[i - 1].dur);
  }
  console.log(`  ${byPid.size} workers used; idle between a worker's jobs ${(idle / 1000).toFixed(1)} ms in all (${(idle / 1000 / Math.max(1, compiles.length - byPid.size)).toFixed(2)} ms per hand-off); trace end ${rel(end)} ms`);
}
