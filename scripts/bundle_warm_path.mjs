// Build step after tsc: the CUDA backend's warm-path modules become one ES module.
//
// Why: a CUDA warm start imports the backend's runtime modules inside the timed path (CPU
// users never load them), and Node's ES module loader costs ~0.5 ms per module on top of
// compiling the code: the six modules took 3.8-5.6 ms of an 11 ms warm start on an H100.
// (toolchain.js, the sixth, is left out: the compile workers import it too.)
// One module of the same code loads in about half that.
//
// How: esbuild bundles the five compiled files into warm_path.bundle.js in the same folder,
// leaving every other import external (so relative paths still resolve, and modules outside
// the bundle keep a single instance: NDArray, the driver, the cache...). Each of the five
// files is then rewritten to re-export its own names from the bundle, so whoever imports
// runtime.js or launch.js directly (tests, benches) gets the bundle's one instance too:
// nothing exists twice. Source maps chain back to the TypeScript sources.
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'dist', 'src', 'backends', 'cuda');
const BUNDLE = 'warm_path.bundle.js';
/**
 * The modules a CUDA warm start imports (see docs/architecture.md); driver.js is loaded before
 * them. toolchain.js stays out: compile workers import it, and must not load the runtime.
 */
const MEMBERS = ['backend.js', 'loader.js', 'runtime.js', 'allocator.js', 'launch.js'];
const memberPaths = new Set(MEMBERS.map((m) => join(dir, m)));

const SHIM_MARK = '// re-exports from warm_path.bundle.js (scripts/bundle_warm_path.mjs)';

// Idempotent: a second run (npm run build twice without tsc emitting) must not bundle shims.
for (const m of MEMBERS) {
  if (readFileSync(join(dir, m), 'utf8').startsWith(SHIM_MARK)) {
    throw new Error(`${m} is already a shim: run tsc before scripts/bundle_warm_path.mjs`);
  }
}

/** Everything but the members stays an import, with its path as written. */
const externals = {
  name: 'warm-path-externals',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (a) => {
      if (a.kind === 'entry-point') return undefined;
      if (a.path.startsWith('.') && memberPaths.has(resolve(a.resolveDir, a.path))) return undefined;
      return { path: a.path, external: true };
    });
  },
};

/** Each member's export names, read from esbuild's metafile of that file alone. */
async function exportsOf(file) {
  const r = await build({ entryPoints: [join(dir, file)], bundle: false, format: 'esm', platform: 'node', write: false, metafile: true, outdir: dir, logLevel: 'silent' });
  return Object.values(r.metafile.outputs).find((o) => o.entryPoint !== undefined).exports;
}

const exportsByMember = Object.fromEntries(await Promise.all(MEMBERS.map(async (m) => [m, await exportsOf(m)])));
const owner = new Map();
for (const [m, names] of Object.entries(exportsByMember)) {
  for (const n of names) {
    if (owner.has(n)) throw new Error(`${n} is exported by both ${owner.get(n)} and ${m}: the bundle needs distinct names`);
    owner.set(n, m);
  }
}

await build({
  stdin: { contents: MEMBERS.map((m) => `export * from './${m}';`).join('\n'), resolveDir: dir, sourcefile: 'warm_path.entry.js', loader: 'js' },
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outfile: join(dir, BUNDLE),
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [externals],
});

for (const m of MEMBERS) {
  const names = exportsByMember[m];
  const body = names.length > 0 ? `export { ${names.join(', ')} } from './${BUNDLE}';` : `import './${BUNDLE}';`;
  writeFileSync(join(dir, m), `${SHIM_MARK}\n${body}\n`);
}
console.log(`bundled ${MEMBERS.length} CUDA warm-path modules into dist/src/backends/cuda/${BUNDLE}`);
