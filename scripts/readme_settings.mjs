// Writes README.md's table of options and variables from src/config/settings.ts (between the
// settings markers), or with --check exits 1 when README.md is out of date. Run after a build:
//   npm run build && node scripts/readme_settings.mjs [--check]
// test/config_settings.test.ts runs the same check, so a setting added without documentation
// fails the tests.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const readme = fileURLToPath(new URL('../README.md', import.meta.url));
const { withSettingsTable } = await import('../dist/src/config/readme_table.js');
const text = readFileSync(readme, 'utf8');
const next = withSettingsTable(text);
if (process.argv.includes('--check')) {
  if (next !== text) {
    console.error('README.md: the table of options and variables is out of date: run `npm run build && node scripts/readme_settings.mjs`');
    process.exit(1);
  }
} else if (next !== text) {
  writeFileSync(readme, next);
  console.log('README.md: table of options and variables rewritten');
}
