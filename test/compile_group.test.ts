// Compile groups (src/compile/compile_group.ts): several kernels compiled as one program.
// What must hold: group sizes spread kernels over the workers; a group's members come back
// as themselves (own key, name, metadata) sharing one binary that holds every member; a bad
// member fails alone (its own error) while the others still compile; and a whole program
// compiled with groups (CUDA, compile-only, nvcc here) stores every kernel and a bundle that
// keeps each shared binary once.
import assert from 'node:assert/strict';
import { CpuBackend } from '../src/backends/cpu/backend.js';
import { CudaBackend } from '../src/backends/cuda/backend.js';
import type { Backend } from '../src/schedule/backend.js';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { findNvcc } from '../src/backends/cuda/toolchain.js';
import { needs } from './prereq.js';
import '../src/backends/register.js';
import { AsyncCompile } from '../src/compile/async_compile.js';
import { CompileGrouper, compiledKeys, groupRequest, groupSize, maxGroupSize, splitGroup } from '../src/compile/compile_group.js';
import type { CompiledKernel } from '../src/cache/compiled_kernel.js';
import type { CompileRequest } from '../src/compile/types.js';
import { compile } from '../src/index.js';
import { counters, resetCounters } from '../src/observe/counters.js';
import { distinctLayers } from './fixtures/programs.js';

const root = mkdtempSync(join(tmpdir(), 'kiln-compile-group-'));
after(() => rmSync(root, { recursive: true, force: true }));

function req(name: string, body: string, options: CompileRequest['options'] = { arch: 'sm_90' }, grid = 1): CompileRequest {
  // A real kiln-shaped source: a guarded prelude, then the kernel.
  const prelude = '#ifndef TEST_PRELUDE\n#define TEST_PRELUDE\nstatic __device__ __forceinline__ float twice(float x) { return 2.0f * x; }\n#endif\n';
  return { key: `${name}-key-0123456789abcdef0123456789abcdef`, backend: 'cuda', kernelName: name, source: `${prelude}extern "C" __global__ void ${name}(float* p) { ${body} }\n`, options, meta: { params: 1, launch: { grid: [grid, 1, 1], block: [32, 1, 1], shared: 0 } } };
}

describe('group sizes and requests', () => {
  it('one kernel per job until there are more kernels than workers, then one group per worker, at most max', () => {
    assert.equal(groupSize(4, 16, 8), 1);
    assert.equal(groupSize(16, 16, 8), 1);
    assert.equal(groupSize(32, 16, 8), 2);
    assert.equal(groupSize(100, 16, 8), 7);
    assert.equal(groupSize(1000, 16, 8), 8);
    assert.equal(groupSize(10, 0, 8), 1, 'inline compiles never group');
    assert.equal(maxGroupSize(undefined), 1, 'a backend without groups');
  });

  it('KILN_COMPILE_GROUP_MAX caps groups, and a bad value is a clear error', () => {
    const saved = process.env.KILN_COMPILE_GROUP_MAX;
    try {
      process.env.KILN_COMPILE_GROUP_MAX = '3';
      assert.equal(maxGroupSize(8), 3);
      process.env.KILN_COMPILE_GROUP_MAX = '0';
      assert.throws(() => maxGroupSize(8), /KILN_COMPILE_GROUP_MAX="0": expected an integer ≥ 1/);
    } finally {
      if (saved === undefined) delete process.env.KILN_COMPILE_GROUP_MAX;
      else process.env.KILN_COMPILE_GROUP_MAX = saved;
    }
  });

  it('a group request carries every source and a key of its own; members split back as themselves', () => {
    const a = req('ka', 'p[0] = twice(1.0f);', undefined, 3);
    const b = req('kb', 'p[1] = twice(2.0f);', undefined, 4);
    const g = groupRequest([a, b]);
    assert.deepEqual(g.groupMembers, [a.key, b.key]);
    assert.deepEqual(compiledKeys(g), [a.key, b.key]);
    assert.deepEqual(compiledKeys(a), [a.key]);
    assert.notEqual(g.key, a.key);
    assert.equal(groupRequest([a, b]).key, g.key);
    assert.notEqual(groupRequest([b, a]).key, g.key);
    assert.ok(g.source.includes(a.source) && g.source.includes(b.source));
    const binary = new Uint8Array([1, 2, 3]);
    const parts = splitGroup([a, b], { key: g.key, backend: 'cuda', kernelName: g.kernelName, binary, groupMembers: g.groupMembers, log: 'w', compileMs: 10 });
    assert.deepEqual(
      parts.map((p) => [p.key, p.kernelName, p.backend === 'cuda' ? p.meta.launch.grid[0] : -1, p.binary === binary, p.binaryOf, p.compileMs]),
      [
        [a.key, 'ka', 3, true, g.key, 5],
        [b.key, 'kb', 4, true, g.key, 5],
      ],
    );
  });

  it('the grouper hands on full groups, keeps kernels with other options apart, and flushes the rest', () => {
    const seen: string[][] = [];
    const g = new CompileGrouper(2, (members) => seen.push(members.map((m) => m.kernelName)));
    g.add(req('k1', ''));
    g.add(req('k2', ''));
    g.add(req('k3', ''));
    g.add(req('k4', '', { arch: 'sm_80' }));
    g.add(req('k5', '', { arch: 'sm_80' }));
    g.flush();
    g.flush();
    assert.deepEqual(seen, [['k1', 'k2'], ['k4', 'k5'], ['k3']]);
  });

  it('a group whose sources reach the backend\'s character budget is handed on before it is full (big kernels compile apart)', () => {
    const seen: string[][] = [];
    const small = (n: string) => req(n, '');
    const big = (n: string) => req(n, `/* ${'x'.repeat(600)} */`);
    const budget = small('s').source.length * 3;
    const g = new CompileGrouper(8, (members) => seen.push(members.map((m) => m.kernelName)), budget);
    for (const r of [small('s1'), small('s2'), big('b1'), big('b2'), small('s3'), small('s4'), small('s5')]) g.add(r);
    g.flush();
    // s1, s2 and b1 reach the budget; b2 alone does; three small ones reach it again.
    assert.deepEqual(seen, [['s1', 's2', 'b1'], ['b2'], ['s3', 's4', 's5']]);
    assert.equal(new CpuBackend().compileGroupChars, 48 * 1024, 'the C backend sets a budget');
    assert.equal((new CudaBackend({ compileOnly: true, arch: 'sm_90' }) as Backend).compileGroupChars, undefined, 'NVRTC groups by count alone (its fixed cost per program is most of a small kernel\'s)');
  });
});

const nvcc = findNvcc();
describe('compiling a group (nvcc)', { skip: needs('nvcc', nvcc !== undefined) }, () => {
  it('members share one cubin that holds each of them', async () => {
    const ac = new AsyncCompile({ workers: 1 });
    try {
      const members = [req('grp_a', 'p[0] = twice(1.0f);'), req('grp_b', 'p[1] = twice(3.0f);'), req('grp_c', 'p[2] = 4.0f;')];
      resetCounters();
      const kernels = await Promise.all(ac.compileBinaryGroup(members));
      assert.deepEqual(kernels.map((k) => k.kernelName), ['grp_a', 'grp_b', 'grp_c']);
      assert.ok(kernels.every((k) => k.binary === kernels[0]!.binary), 'one binary');
      for (const m of members) assert.ok(Buffer.from(kernels[0]!.binary).includes(m.kernelName), `the cubin holds ${m.kernelName}`);
      assert.equal(counters().compile_submitted, 3, 'counted per kernel');
      // Asked again: known, nothing compiled.
      resetCounters();
      await Promise.all(ac.compileBinaryGroup(members));
      assert.equal(counters().compile_submitted, 0);
    } finally {
      ac.shutdown();
    }
  });

  it('a member that does not compile fails alone, with its own name; the others still compile', async () => {
    const ac = new AsyncCompile({ workers: 1 });
    try {
      const members = [req('ok_one', 'p[0] = twice(1.0f);'), req('broken_one', 'p[0] = not_a_function(1.0f);'), req('ok_two', 'p[1] = 2.0f;')];
      const results = await Promise.allSettled(ac.compileBinaryGroup(members));
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
      assert.match(String((results[1] as PromiseRejectedResult).reason), /broken_one/);
      assert.match(String((results[1] as PromiseRejectedResult).reason), /not_a_function/);
      const ok = (results[0] as PromiseFulfilledResult<CompiledKernel>).value;
      assert.ok(Buffer.from(ok.binary).includes('ok_one'));
    } finally {
      ac.shutdown();
    }
  });

  it('a CUDA program with more kernels than workers compiles in groups: every kernel cached, each shared cubin stored once in the bundle', async () => {
    const cacheDir = join(root, 'program');
    // 1 worker: groups of up to 6 kernels, capped at 4 here.
    const saved = process.env.KILN_COMPILE_GROUP_MAX;
    process.env.KILN_COMPILE_GROUP_MAX = '4';
    try {
      // 6 distinct layers (a product with its epilogue each: one kernel per layer).
      const program = distinctLayers(6);
      resetCounters();
      const f = compile(program.fn, { device: 'cuda', arch: 'sm_90', workers: 1, cacheDir, compileOnly: true });
      await assert.rejects(f(...program.inputs()), /compileOnly/);
      const c = counters();
      assert.ok(c.kernels_generated >= 2, `kernels: ${c.kernels_generated}`);
      assert.equal(c.compile_submitted, c.kernels_generated);
      // One entry per kernel, and one per compile group holding the group's cubin once.
      const groups = Math.ceil(c.kernels_generated / 4);
      assert.equal(readdirSync(join(cacheDir, 'kernels')).flatMap((d) => readdirSync(join(cacheDir, 'kernels', d))).length, c.kernels_generated + groups, 'one entry per kernel and per group');
      const graphs = readdirSync(join(cacheDir, 'graphs'));
      assert.equal(graphs.length, 1);
      const payload = readFileSync(join(cacheDir, 'graphs', graphs[0]!)).subarray(20);
      const jsonLength = payload.readUInt32LE(0);
      const blobCount = payload.readUInt32LE(4 + jsonLength);
      assert.ok(blobCount < c.kernels_generated, `${blobCount} binaries stored for ${c.kernels_generated} kernels`);
    } finally {
      if (saved === undefined) delete process.env.KILN_COMPILE_GROUP_MAX;
      else process.env.KILN_COMPILE_GROUP_MAX = saved;
    }
  });
});
