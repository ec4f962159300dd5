// Item 1 of issue 14: kernels are loaded only from files kiln itself created in a private
// place. A library planted where the old loader wrote kernels (/tmp/kiln-<pid>/<key>.so,
// created with mkdir -p and loaded if already there) must never be loaded; malformed
// binaries are refused before dlopen; keys never become paths.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { loadCKernel, loadDir } from '../src/backends/cpu/loader.js';
import { binaryFormatProblem } from '../src/backends/binary_format.js';
import type { CompiledKernel } from '../src/cache/compiled_kernel.js';

const root = mkdtempSync(join(tmpdir(), 'kiln-sec-load-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A shared object exporting `int kiln_probe(void)` returning `value`. */
function buildLib(name: string, value: number): Uint8Array {
  const src = join(root, `${name}.c`);
  const out = join(root, `${name}.so`);
  writeFileSync(src, `int kiln_probe(void) { return ${value}; }\n`);
  execFileSync('cc', ['-shared', '-fPIC', '-O1', '-o', out, src]);
  return new Uint8Array(readFileSync(out));
}

function kernel(key: string, binary: Uint8Array): CompiledKernel {
  return { key, backend: 'c', kernelName: 'kiln_probe', binary, meta: { params: 1 }, log: '', compileMs: 0 };
}

test('a library planted at the old per-pid path is never loaded; the load directory is private', () => {
  const genuine = buildLib('genuine', 42);
  const planted = buildLib('planted', 666);
  const key = createHash('sha256').update('planted-test').digest('hex');
  // What another user could have prepared for this pid (here as the same user).
  const oldDir = join(tmpdir(), `kiln-${process.pid}`);
  mkdirSync(oldDir, { recursive: true, mode: 0o777 });
  writeFileSync(join(oldDir, `${key}.so`), planted);
  try {
    const loaded = loadCKernel(kernel(key, genuine));
    const probe = loaded.lib.func('kiln_probe', 'int', []) as () => number;
    assert.equal(probe(), 42, 'the planted library was loaded');
    assert.notEqual(dirname(loaded.path), oldDir);
    const st = lstatSync(dirname(loaded.path));
    assert.ok(st.isDirectory());
    assert.equal(st.mode & 0o777, 0o700);
    assert.equal(st.uid, process.getuid!());
    assert.equal(dirname(loaded.path), loadDir());
    assert.equal(lstatSync(loaded.path).mode & 0o077, 0);
  } finally {
    rmSync(oldDir, { recursive: true, force: true });
  }
});

test('a key never becomes a path: ../../x writes nothing outside the load directory', () => {
  const lib = buildLib('escape', 7);
  const outside = join(loadDir(), '..', '..', 'x.so');
  rmSync(outside, { force: true });
  const loaded = loadCKernel(kernel('../../x', lib));
  assert.equal((loaded.lib.func('kiln_probe', 'int', []) as () => number)(), 7);
  assert.equal(dirname(loaded.path), loadDir());
  assert.ok(!existsSync(outside));
});

test('binaries that are not shared objects for this machine are refused before dlopen, with a clear error', () => {
  const good = buildLib('format', 1);
  assert.equal(binaryFormatProblem('c', good), undefined);
  const random = new Uint8Array(4096).map((_, i) => (i * 131 + 7) & 255);
  assert.throws(() => loadCKernel(kernel('a'.repeat(64), random)), /not a loadable shared object: no ELF header/);
  const otherMachine = good.slice();
  new DataView(otherMachine.buffer).setUint16(18, process.arch === 'arm64' ? 62 : 183, true);
  assert.throws(() => loadCKernel(kernel('b'.repeat(64), otherMachine)), /built for ELF machine/);
  const truncated = good.slice(0, 200);
  assert.match(binaryFormatProblem('c', truncated) ?? '', /outside the file/);
  assert.throws(() => loadCKernel(kernel('c'.repeat(64), truncated)), /not a loadable shared object/);
  // A cubin is not a C kernel and vice versa.
  assert.match(binaryFormatProblem('cuda', good) ?? '', /not a CUDA cubin/);
});
