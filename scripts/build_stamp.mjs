// Whether dist/ is the build of the files it was built from. `npx kiln` run in kiln's own
// folder (the README's first command, `npm install && npx kiln demo`) installs that folder
// into npx's cache as a file: dependency, and npm runs a file: dependency's `prepare` script:
// a full rebuild (tsc and the bundles, 5-7 s) on the first `npx kiln` after every install,
// though `npm install` had just built it. So the build ends by writing a stamp (a hash of
// every input of the build), and `prepare` builds only when the stamp does not match.
//
//   node scripts/build_stamp.mjs --write   after a build (npm run build runs it)
//   node scripts/build_stamp.mjs --fresh   exit 0 when dist/ matches its inputs, else 1
//   [--root DIR]                           another checkout than this script's (tests)
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const rootAt = process.argv.indexOf('--root');
const root = rootAt > 0 ? process.argv[rootAt + 1] : join(dirname(fileURLToPath(import.meta.url)), '..');
const stampFile = join(root, 'dist', 'build_stamp.json');

/** What the build reads: the TypeScript it compiles, its scripts, and its configuration. */
function inputs() {
  const walk = (dir) =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const p = join(dir, e.name);
      if (e.isDirectory()) return e.name === 'node_modules' || e.name.startsWith('.') ? [] : walk(p);
      return /\.(ts|mts|mjs|json)$/.test(e.name) ? [p] : [];
    });
  const dirs = ['src', 'test', 'bench', 'scripts'].map((d) => join(root, d)).filter(existsSync);
  return [...dirs.flatMap(walk), join(root, 'tsconfig.json'), join(root, 'package.json')].filter(existsSync).sort();
}

function stamp() {
  const h = createHash('sha256');
  for (const f of inputs()) h.update(relative(root, f)).update('\0').update(readFileSync(f)).update('\0');
  return h.digest('hex');
}

/** The build's outputs a run needs: without them a matching stamp means nothing. */
const outputs = ['dist/src/cli/main.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/build_id.json', 'dist/src/bundle/kiln.bundle.js'];

const mode = process.argv[2];
if (mode === '--write') {
  writeFileSync(stampFile, JSON.stringify({ stamp: stamp() }) + '\n');
} else if (mode === '--fresh') {
  let fresh = false;
  try {
    fresh = outputs.every((o) => existsSync(join(root, o))) && JSON.parse(readFileSync(stampFile, 'utf8')).stamp === stamp();
  } catch {
    fresh = false;
  }
  if (fresh) process.stderr.write('kiln: dist/ is up to date with its sources; not rebuilding\n');
  process.exit(fresh ? 0 : 1);
} else {
  process.stderr.write('usage: node scripts/build_stamp.mjs --write | --fresh\n');
  process.exit(2);
}
