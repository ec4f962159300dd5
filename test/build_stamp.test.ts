// scripts/build_stamp.mjs: `prepare` (which npx runs when it installs kiln's own folder on the
// first `npx kiln`) rebuilds only when dist/ is not the build of the current inputs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const script = join(repo, 'scripts', 'build_stamp.mjs');
const dir = mkdtempSync(join(tmpdir(), 'kiln-build-stamp-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const stamp = (mode: string, root?: string) => spawnSync(process.execPath, [script, mode, ...(root ? ['--root', root] : [])], { encoding: 'utf8' }).status;

function write(root: string, file: string, text: string): void {
  mkdirSync(dirname(join(root, file)), { recursive: true });
  writeFileSync(join(root, file), text);
}

test('this checkout, as npm test built it, is fresh: prepare would not rebuild', () => {
  assert.equal(stamp('--fresh'), 0, 'dist/ is not the build of this checkout: npm run build (tsc alone writes no stamp)');
});

test('a changed input, a new input or a missing output makes a build stale; a build makes it fresh again', () => {
  const root = join(dir, 'pkg');
  write(root, 'src/a.ts', 'export const a = 1;\n');
  write(root, 'test/t.test.ts', 'export {};\n');
  write(root, 'tsconfig.json', '{}\n');
  write(root, 'package.json', '{"name":"x"}\n');
  assert.equal(stamp('--fresh', root), 1, 'never built');
  for (const o of ['dist/src/cli/main.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/build_id.json', 'dist/src/bundle/kiln.bundle.js']) write(root, o, '');
  assert.equal(stamp('--fresh', root), 1, 'outputs but no stamp');
  assert.equal(stamp('--write', root), 0);
  assert.equal(stamp('--fresh', root), 0);
  write(root, 'src/a.ts', 'export const a = 2;\n');
  assert.equal(stamp('--fresh', root), 1, 'a source changed');
  assert.equal(stamp('--write', root), 0);
  write(root, 'scripts/new.mjs', '\n');
  assert.equal(stamp('--fresh', root), 1, 'a build script added');
  assert.equal(stamp('--write', root), 0);
  rmSync(join(root, 'dist/src/index.d.ts'));
  assert.equal(stamp('--fresh', root), 1, 'an output missing');
  assert.equal(stamp('--bogus', root), 2);
});
