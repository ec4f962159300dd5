// Regression: a process that exits right after multithreaded (OpenMP) kernels must exit
// cleanly. libgomp's idle workers spin in its code for a while after each parallel region;
// when the kernel libraries holding libgomp were closed at exit, that code was unmapped under
// them and about half of such exits ended in SIGSEGV. Kernels are now linked -z nodelete.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const entry = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/index.js');

test('exiting right after parallel kernels never crashes', () => {
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-exit-'));
  try {
    const script = `
      import { compile, NDArray } from ${JSON.stringify(entry)};
      const a = NDArray.from(Float32Array.from({ length: 256 * 512 }, (_, i) => Math.sin(i)), [256, 512]);
      const w = NDArray.from(Float32Array.from({ length: 512 * 512 }, (_, i) => Math.cos(i) * 0.05), [512, 512]);
      const f = compile((x) => x.matmul(w).softmax(-1).matmul(w), { cacheDir: ${JSON.stringify(cacheDir)}, workers: 2 });
      const y = await f(a);
      if (!(Math.abs(y.toTypedArraySync()[0]) >= 0)) process.exit(3);
    `;
    // The first run compiles; the rest start warm and exit within a millisecond of the kernels.
    for (let i = 0; i < 6; i++) {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.signal, null, `run ${i}: killed by ${r.signal}\n${r.stderr}`);
      assert.equal(r.status, 0, `run ${i}: exit ${r.status}\n${r.stderr}`);
    }
  } finally {
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
});
