// Build step after tsc: kiln's compiled modules become two ES modules.
//
// Why: Node's ES module loader costs ~0.5 ms per module on top of compiling the code.
// - `import kiln` loaded ~100 modules (~55 ms on the CI VM).
// - A CUDA warm start imports the backend's runtime inside the timed path (CPU users never
//   load it): five modules, 3.8-5.6 ms of an 11 ms warm start on an H100.
//
// How: esbuild bundles each set of compiled files into one file. Every import that leaves the
// set stays an import (its path rewritten for the bundle's folder), so a module outside keeps
// a single instance (NDArray, the driver, the cache...), and dynamic imports stay lazy. Then
// each member file is rewritten to re-export its own names from the bundle, so whoever imports
// a member directly (tests, benches, workers, the CLI) gets the bundle's one instance: nothing
// exists twice. Source maps chain back to the TypeScript sources.
//
// The library bundle sits one folder below dist/src (dist/src/bundle/), like every module that
// finds a file through import.meta.url ('../build_id.json', '../compile/worker_main.js'), so
// those paths hold from either place.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'dist', 'src');
const SHIM_MARK = '// re-exports from a bundle (scripts/bundle_modules.mjs)';
const cudaDir = join(src, 'backends', 'cuda');

const SETS = [
  {
    name: 'CUDA warm path',
    // The modules a CUDA warm start imports; driver.js is loaded before them, and toolchain.js
    // stays out: compile workers import it and must not load the runtime.
    out: join(cudaDir, 'warm_path.bundle.js'),
    members: ['backend.js', 'loader.js', 'runtime.js', 'allocator.js', 'launch.js'].map((m) => join(cudaDir, m)),
  },
  {
    name: 'library',
    // Everything `import kiln` loads: index.js and what it imports statically.
    out: join(src, 'bundle', 'kiln.bundle.js'),
    entry: join(src, 'index.js'),
  },
];

/** `path` as an import specifier from a file in `fromDir`. */
function specifier(fromDir, path) {
  const r = relative(fromDir, path).split('\\').join('/');
  return r.startsWith('.') ? r : `./${r}`;
}

function isShim(path) {
  return readFileSync(path, 'utf8').startsWith(SHIM_MARK);
}

/** Local static imports are bundled when `isMember` says so; everything else stays an import. */
function membersPlugin(isMember, outDir) {
  return {
    name: 'kiln-members',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (a) => {
        if (a.kind === 'entry-point') return undefined;
        if (!a.path.startsWith('.')) return { path: a.path, external: true };
        const target = resolve(a.resolveDir, a.path);
        if (a.kind === 'import-statement' && isMember(target)) return undefined;
        return { path: specifier(outDir, target), external: true };
      });
    },
  };
}

const common = { bundle: true, format: 'esm', platform: 'node', target: 'node20', absWorkingDir: root };

/** The set's members: given, or the entry and every local module it imports statically (not shims of another set). */
async function membersOf(set) {
  if (set.members) return set.members;
  mkdirSync(dirname(set.out), { recursive: true });
  const r = await build({ ...common, entryPoints: [set.entry], write: false, metafile: true, outdir: dirname(set.out), logLevel: 'silent', plugins: [membersPlugin((t) => !isShim(t), dirname(set.out))] });
  return Object.keys(r.metafile.inputs).map((p) => resolve(root, p));
}

/** A module's export names, from esbuild's metafile of that file alone. */
async function exportNames(file) {
  const r = await build({ entryPoints: [file], bundle: false, format: 'esm', platform: 'node', write: false, metafile: true, outdir: dirname(file), logLevel: 'silent' });
  return Object.values(r.metafile.outputs).find((o) => o.entryPoint !== undefined).exports;
}

async function bundleSet(set) {
  const members = await membersOf(set);
  for (const m of members) {
    if (isShim(m)) throw new Error(`${relative(root, m)} is already a shim: run tsc before scripts/bundle_modules.mjs`);
  }
  const outDir = dirname(set.out);
  mkdirSync(outDir, { recursive: true }); // esbuild resolves the entry's imports from it
  const memberSet = new Set(members);
  // One namespace per member: two members may export one name (a re-export), and each shim
  // takes its own member's namespace.
  const contents = members.map((m, i) => `export * as m${i} from '${specifier(outDir, m)}';`).join('\n');
  const names = await Promise.all(members.map(exportNames));
  await build({
    ...common,
    stdin: { contents, resolveDir: outDir, sourcefile: 'bundle.entry.js', loader: 'js' },
    outfile: set.out,
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [membersPlugin((t) => memberSet.has(t), outDir)],
  });
  members.forEach((m, i) => {
    const from = specifier(dirname(m), set.out);
    if (names[i].includes('default')) throw new Error(`${relative(root, m)} has a default export: the shims do not handle one`);
    const body = names[i].length > 0 ? `import { m${i} } from '${from}';\nexport const { ${names[i].join(', ')} } = m${i};` : `import '${from}';`;
    writeFileSync(m, `${SHIM_MARK}\n${body}\n`);
  });
  console.log(`bundled ${members.length} modules (${set.name}) into ${relative(root, set.out)}`);
}

for (const set of SETS) await bundleSet(set);
