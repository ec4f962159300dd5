// compile/ reaches the backends only through what they registered (compile/registry.ts,
// backends/register.ts): each backend's compiler module (imported by URL in the workers), its
// loader and its binary check. A backend nobody registered is a clear error on every path, in
// the main process and in a worker, never a crash or a silent default.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import '../src/backends/register.js';
import { binaryFormatProblem } from '../src/backends/binary_format.js';
import type { BackendName } from '../src/cache/compiled_kernel.js';
import { AsyncCompile } from '../src/compile/async_compile.js';
import { makeCompileRequest } from '../src/compile/key.js';
import type { CompileRequest } from '../src/compile/types.js';
import { binaryProblem, compilerModules, importCompiler, loaderFor } from '../src/compile/registry.js';
import { checkScale, scaleRequest } from './compile_fixtures.test.js';

const unknown = 'fpga' as BackendName;

test('each backend registers a compiler module that exists and exports compileKernel (CUDA also warmCompiler), and a loader', async () => {
  const modules = compilerModules();
  assert.deepEqual(Object.keys(modules).sort(), ['c', 'cuda']);
  for (const [backend, url] of Object.entries(modules)) {
    assert.ok(existsSync(fileURLToPath(url)), `${backend}: ${url}`);
    const m = await importCompiler(backend as BackendName);
    assert.equal(typeof m.compileKernel, 'function', backend);
  }
  assert.equal(typeof (await importCompiler('cuda')).warmCompiler, 'function');
  // The C loader loads a real compiled kernel, which computes right (workers: 0 uses the registered compiler).
  const ac = new AsyncCompile({ workers: 0 });
  const req = scaleRequest(3, 'registry');
  checkScale(await ac.submit(req), 3);
  assert.equal(typeof (await loaderFor('c')), 'function');
});

test("binaryProblem is the backend's own ELF check; an unregistered backend's binary is refused", () => {
  const notElf = new Uint8Array(128);
  assert.equal(binaryProblem('c', notElf), binaryFormatProblem('c', notElf));
  assert.match(binaryProblem('c', notElf) ?? '', /no ELF header/);
  assert.match(binaryProblem('cuda', new Uint8Array(8)) ?? '', /too short/);
  assert.match(binaryProblem(unknown, notElf) ?? '', /no backend 'fpga' is registered/);
});

test('a kernel of an unregistered backend fails clearly: inline, in a worker, and at load', async () => {
  // A request as hostile input could carry it: a C kernel relabelled with a backend nobody registered.
  const c = makeCompileRequest({ backend: 'c', meta: { params: 0 }, kernelName: 'k_fpga', source: 'void k_fpga(void){}', compilerIdentity: 'test' });
  const req = { ...c, backend: unknown } as CompileRequest;
  await assert.rejects(new AsyncCompile({ workers: 0 }).submit(req), /no compiler registered for backend 'fpga'/);
  const pooled = new AsyncCompile({ workers: 1 });
  try {
    await assert.rejects(pooled.submit(req), /no compiler registered for backend 'fpga'/);
    // The worker reported the error and goes on serving registered backends.
    checkScale(await pooled.submit(scaleRequest(5, 'registry_after')), 5);
  } finally {
    pooled.shutdown();
  }
  await assert.rejects(importCompiler(unknown), /no compiler registered for backend 'fpga'/);
  await assert.rejects(loaderFor(unknown), /no backend 'fpga' is registered/);
});
