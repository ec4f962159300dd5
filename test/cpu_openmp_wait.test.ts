// libgomp's threads spin only briefly after a parallel region (src/backends/cpu/loader.ts sets
// GOMP_SPINCOUNT for the dlopen that loads libgomp) unless the user chose a policy. Seen in
// the CPU time a process spends while its kernels are idle: after each parallel call, libgomp's
// default spin (300,000 rounds) burns milliseconds of a core; kiln's (10,000) a few percent of
// that. Each case in a fresh process (libgomp reads its settings once, when loaded); the same
// calls, spaced out so every spin runs to its end.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const entry = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/index.js');
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-omp-wait-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

/** CPU ms per call of a parallel kernel called 40 times, 5 ms apart, in a fresh process with `env`. */
function cpuPerCall(env: Record<string, string>): number {
  const script = `
    import { compile, NDArray } from ${JSON.stringify(entry)};
    const a = NDArray.from(Float32Array.from({ length: 512 * 512 }, (_, i) => Math.sin(i)), [512, 512]);
    const f = compile((x) => x.exp().add(1).log(), { cacheDir: ${JSON.stringify(cacheDir)}, workers: 1 });
    await f(a);
    const c0 = process.cpuUsage();
    for (let i = 0; i < 40; i++) { await f(a); await new Promise((r) => setTimeout(r, 5)); }
    const c = process.cpuUsage(c0);
    console.log((c.user + c.system) / 1000 / 40);
  `;
  const clean = { ...process.env };
  delete clean.OMP_WAIT_POLICY;
  delete clean.GOMP_SPINCOUNT;
  delete clean.KILN_GOMP_SPINCOUNT;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000, env: { ...clean, ...env } });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.trim().split('\n').pop());
}

test("kernels' OpenMP threads stop spinning soon after a call, unless the user sets a policy", () => {
  cpuPerCall({}); // compiles
  const kiln = Math.min(cpuPerCall({}), cpuPerCall({}));
  const userSpin = Math.max(cpuPerCall({ GOMP_SPINCOUNT: '300000' }), cpuPerCall({ OMP_WAIT_POLICY: 'active', GOMP_SPINCOUNT: '300000' }));
  // Measured on the 2-core VM: ~3.5 ms of CPU per call with kiln's default (~3 ms of it the
  // kernel and the event loop, as with OMP_WAIT_POLICY=passive), ~11.5 ms spinning 300,000.
  const msg = `CPU per call: ${kiln.toFixed(2)} ms with kiln's default, ${userSpin.toFixed(2)} ms with the user's GOMP_SPINCOUNT=300000`;
  assert.ok(userSpin > 2 * kiln && userSpin - kiln > 2, msg);
});
