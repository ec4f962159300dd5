// The prerequisite rule itself (issue 14): in CI a test whose tool is missing fails instead
// of skipping; outside CI it skips; a test needing a GPU or NVRTC skips everywhere. Each case
// runs test/fixtures/prereq_fixture.ts in a child `node --test`.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'prereq_fixture.js');

function runFixture(mode: string, ci: string | undefined) {
  const env: Record<string, string | undefined> = { ...process.env, KILN_PREREQ_FIXTURE: mode };
  delete env.CI;
  if (ci !== undefined) env.CI = ci;
  delete env.NODE_TEST_CONTEXT; // a nested node --test reports as a top-level run
  const r = spawnSync(process.execPath, ['--test', FIXTURE], { encoding: 'utf8', env, timeout: 60_000 });
  const count = (what: string) => Number(new RegExp(`^# ${what} (\\d+)$`, 'm').exec(r.stdout)?.[1] ?? -1);
  return { code: r.status, out: r.stdout + r.stderr, pass: count('pass'), fail: count('fail'), skipped: count('skipped') };
}

test('CI=true: a test whose tool is missing fails (it runs, and a test names the tool), never skips', () => {
  const r = runFixture('needs', 'true');
  assert.notEqual(r.code, 0, r.out);
  assert.equal(r.skipped, 0, r.out);
  assert.equal(r.fail, 2, r.out);
  assert.match(r.out, /kiln-no-such-tool is missing, and CI has it/);
});

test('outside CI (CI unset, or CI=false): the same test skips, naming the tool, and the run passes', () => {
  for (const ci of [undefined, 'false']) {
    const r = runFixture('needs', ci);
    assert.equal(r.code, 0, r.out);
    assert.deepEqual([r.skipped, r.fail], [1, 0], r.out);
    assert.match(r.out, /# SKIP kiln-no-such-tool not found/);
  }
});

test('a test needing a GPU (or NVRTC) skips in CI too', () => {
  const r = runFixture('optional', 'true');
  assert.equal(r.code, 0, r.out);
  assert.deepEqual([r.skipped, r.fail], [1, 0], r.out);
});

// The rule, kept: every skip in the suite comes from needs() (fails in CI) or optional() (a
// GPU or NVRTC), or is a KILN_TEST_DEVICE condition; nothing skips on "not ready", and
// nothing skips from inside a test (t.skip), where these rules cannot see it.
test('every skip condition in test/ goes through needs() or optional()', () => {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test');
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory() && e.name !== 'conformance') walk(path.join(d, e.name));
      else if (e.isFile() && e.name.endsWith('.ts')) files.push(path.join(d, e.name));
    }
  };
  walk(root);
  const own = new Set(['prereq.ts', 'prereq.test.ts', 'prereq_fixture.ts']);
  const bad: string[] = [];
  const fromRule = /needs\(|optional\(/;
  for (const f of files.filter((f) => !own.has(path.basename(f)))) {
    const src = fs.readFileSync(f, 'utf8');
    const where = (i: number) => `${path.relative(root, f)}:${src.slice(0, i).split('\n').length}`;
    for (const m of src.matchAll(/\bt\.skip\(|\bcompilerReady\b|\bskipCompile\b/g)) bad.push(`${where(m.index!)}: ${m[0]}`);
    for (const m of src.matchAll(/\{\s*skip(?::\s*([^}]*?))?\s*\}/g)) {
      const expr = (m[1] ?? 'skip').trim();
      if (fromRule.test(expr) || /^testDevice === 'cuda' \?/.test(expr)) continue;
      const id = /^[A-Za-z_]\w*$/.exec(expr)?.[0];
      const def = id !== undefined ? new RegExp(`const ${id} = (.*)`).exec(src)?.[1] : undefined;
      // `for (const { kind, skip } of compilers)`: each entry's skip is set with the rule.
      const destructured = id === 'skip' && def === undefined && /skip: (needs|optional)\(/.test(src);
      if ((def !== undefined && fromRule.test(def)) || destructured) continue;
      bad.push(`${where(m.index!)}: { skip: ${expr} }`);
    }
  }
  assert.deepEqual(bad, [], `skips not through test/prereq.ts:\n${bad.join('\n')}`);
});
