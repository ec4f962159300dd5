// The published types compile for a user who checks library declarations (`skipLibCheck:
// false`): a small consumer (fixtures/package_consumer/consumer.mts) imports kiln as a package
// (`import ... from 'kiln'` through package.json's exports, so dist/src/index.d.ts) and uses
// compile() and model.run() results without casts; its `@ts-expect-error` lines are misuses
// the types must reject. Needs the built dist/ (npm test builds first) and TypeScript.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { needs } from './prereq.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
const dir = mkdtempSync(join(tmpdir(), 'kiln-package-types-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function consumerProject(source: string): string {
  const root = mkdtempSync(join(dir, 'p-'));
  mkdirSync(join(root, 'node_modules'));
  symlinkSync(repo, join(root, 'node_modules', 'kiln'), 'dir');
  copyFileSync(source, join(root, 'consumer.mts'));
  const compilerOptions = {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    types: ['node'],
    typeRoots: [join(repo, 'node_modules', '@types')],
  };
  writeFileSync(join(root, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['consumer.mts'] }));
  return root;
}

function compileProject(root: string): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const fixture = join(repo, 'test', 'fixtures', 'package_consumer', 'consumer.mts');

test('a consumer of the published types compiles under skipLibCheck: false, using run() and compile() results without casts', { skip: needs('typescript', existsSync(tsc), 'npm install') }, () => {
  assert.ok(existsSync(join(repo, 'dist', 'src', 'index.d.ts')), 'dist/src/index.d.ts: build first (npm test does)');
  const r = compileProject(consumerProject(fixture));
  assert.equal(r.status, 0, r.output);
});

test('the same consumer with a misuse left unmarked fails to compile (the check can fail)', { skip: needs('typescript', existsSync(tsc), 'npm install') }, async () => {
  const { readFileSync } = await import('node:fs');
  const broken = join(dir, 'broken.mts');
  // Drops the first @ts-expect-error: its misuse (.length of one NDArray) must now be an error.
  writeFileSync(broken, readFileSync(fixture, 'utf8').replace('// @ts-expect-error one output is an NDArray', '// (unmarked)'));
  const r = compileProject(consumerProject(broken));
  assert.notEqual(r.status, 0);
  assert.match(r.output, /consumer\.mts\(\d+,\d+\): error TS2339: Property 'length' does not exist on type 'NDArray'/);
});
