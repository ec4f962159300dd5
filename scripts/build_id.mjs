// Writes dist/src/build_id.json: a hash of kiln's own sources. The graph cache key includes it,
// so a plan cached by one version of the scheduler or code generators is never loaded by
// another (Inductor keys its caches on a hash of its source files the same way). Run by
// `npm run build` after tsc.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function files(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []))
    .sort();
}

const h = createHash('sha256');
for (const f of files(join(root, 'src'))) h.update(relative(root, f)).update('\0').update(readFileSync(f)).update('\0');
const out = join(root, 'dist', 'src', 'build_id.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ buildId: h.digest('hex').slice(0, 32) }) + '\n');
