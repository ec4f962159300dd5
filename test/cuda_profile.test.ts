// KILN_PROFILE's step timing (src/backends/cuda/step_profile.ts; the table every backend shares is
// src/observe/step_profile.ts) without a GPU: events go through
// the stand-in libcuda (test/fixtures/fake_libcuda.c, whose events complete only when waited for
// and hold a clock that advances 1 ms per record). Checks what a user reads at exit: one row per
// distinct kernel, slowest first, launches per run, the run count, each step timed from its own
// start (not from the previous step's end: the gap, the GPU waiting for the host, is summed
// apart), and that events are waited for before they are read (a finish() that read them early
// would hang or fail on the stand-in's queue).

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { needs } from './prereq.js';

const cc = ['/usr/bin/cc', '/usr/bin/gcc'].find((p) => fs.existsSync(p));
const skip = needs('cc', cc !== undefined, 'builds the stand-in libcuda');
const here = path.dirname(fileURLToPath(import.meta.url));
const source = [path.join(here, 'fixtures/fake_libcuda.c'), path.join(here, '../../test/fixtures/fake_libcuda.c')].find((p) => fs.existsSync(p))!;
const profileModule = path.join(here, '../src/backends/cuda/step_profile.js');
// The setting and the table every backend's profile shares.
const tableModule = path.join(here, '../src/observe/step_profile.js');
const driverModule = path.join(here, '../src/backends/cuda/driver.js');

test('KILN_PROFILE prints each kernel once, with its launches per run, after the runs', { skip }, () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-cuda-profile-'));
  try {
    const lib = path.join(work, 'libcuda.so');
    execFileSync(cc!, ['-shared', '-fPIC', '-O1', '-o', lib, source]);
    const script = `
      const { initCuda } = await import(${JSON.stringify(driverModule)});
      const { RunProfile } = await import(${JSON.stringify(profileModule)});
      const { profilingEnabled } = await import(${JSON.stringify(tableModule)});
      if (!profilingEnabled()) throw new Error('KILN_PROFILE=1 not seen');
      initCuda();
      for (let run = 0; run < 3; run++) {
        const p = new RunProfile();
        p.begin();
        p.step({ kernel: 'kiln_aaaa', kind: 'matmul', what: 'matmul,binary cublas 1x64x64x64' });
        p.begin();
        p.step({ kernel: 'kiln_bbbb', kind: 'loops', what: 'reduce,binary' });
        p.begin();
        p.step({ kernel: 'kiln_aaaa', kind: 'matmul', what: 'matmul,binary cublas 1x64x64x64' });
        p.finish();
      }
      process.stdout.write('runs done\\n');
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, KILN_LIBCUDA: lib, KILN_PROFILE: '1' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /runs done/);
    const lines = r.stderr.split('\n');
    // Each step 1 ms (begin to end), each of the two gaps between them 1 ms: 3 ms a run in steps, 2 idle.
    assert.match(lines[0]!, /^kiln profile: 3 CUDA plan run\(s\), 9\.000 ms of GPU time in steps \(3\.000 ms a run\); the GPU idle between steps, waiting for the host: 2\.000 ms a run$/, r.stderr);
    const rows = lines.filter((l) => /kiln_(aaaa|bbbb)/.test(l));
    assert.equal(rows.length, 2, `one row per distinct kernel:\n${r.stderr}`);
    const a = rows.find((l) => l.includes('kiln_aaaa'))!;
    const b = rows.find((l) => l.includes('kiln_bbbb'))!;
    // Launches per run: kiln_aaaa runs twice in each run, kiln_bbbb once.
    assert.match(a, /^\s+2\.0000\s+66\.7%\s+2\.0\s+matmul\s+kiln_aaaa\s+matmul,binary cublas 1x64x64x64$/);
    assert.match(b, /^\s+1\.0000\s+33\.3%\s+1\.0\s+loops\s+kiln_bbbb\s+reduce,binary$/);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test('without KILN_PROFILE nothing is printed and no event is made', { skip }, () => {
  const script = `
    const { profilingEnabled } = await import(${JSON.stringify(tableModule)});
    process.stdout.write(String(profilingEnabled()));
  `;
  const env = { ...process.env };
  delete env.KILN_PROFILE;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'false');
  assert.equal(r.stderr, '');
});
