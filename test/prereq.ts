// What a test needs from the machine, and what a missing need means. Locally, a test whose
// tool is missing (nvcc, g++) skips, saying which. In CI (CI set, as every CI service does),
// which has cc and nvcc, a missing tool is a failure: the tests that need it run (and fail)
// instead of skipping, and one more test fails naming the tool, so a broken CI image can
// never report green with those tests skipped. Only a GPU and NVRTC are optional everywhere
// (`optional`): CI machines have neither.

import { test } from 'node:test';

/** CI is set, and not to a false value (GitHub Actions, GitLab and most others set CI=true). */
export function inCI(): boolean {
  const v = (process.env.CI ?? '').trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false';
}

const reported = new Set<string>();

/**
 * The `skip` option of a test that needs `tool` (present or not). Missing outside CI: a skip
 * naming the tool. Missing in CI: false (the test runs), and a failing test names the tool.
 */
export function needs(tool: string, present: boolean, hint = ''): string | false {
  if (present) return false;
  if (!inCI()) return `${tool} not found${hint ? ` (${hint})` : ''}`;
  if (!reported.has(tool)) {
    reported.add(tool);
    test(`prerequisite: ${tool} (CI=${process.env.CI})`, () => {
      throw new Error(`${tool} is missing, and CI has it: the tests that need it cannot be skipped in CI${hint ? ` (${hint})` : ''}`);
    });
  }
  return false;
}

/** The `skip` option of a test that needs something CI may lack (a GPU, NVRTC): skips everywhere. */
export function optional(what: string, present: boolean, reason = `${what} not available`): string | false {
  return present ? false : reason;
}
