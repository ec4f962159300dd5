// Build step after tsc: kiln's compiled modules become two ES modules.
//
// Why: Node's ES module loader costs ~0.5 ms per module on top of compiling the code.
// - `import kiln` loaded ~100 modules (~55 ms on the CI VM).
// - A CUDA warm start imports the backend's runtime inside the timed path (CPU users never
//   load it): five modules then, 3.8-5.6 ms of an 11 ms warm start on an H100 (step_profile.js and
//   weights.js make seven).
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
    name: 'library',
    // Everything `import kiln` loads: index.js and what it imports statically; and the CUDA
    // toolchain search (node built-ins only), which a CUDA warm start and every compile
    // worker need and which is too small to load as a module of its own.
    out: join(src, 'bundle', 'kiln.bundle.js'),
    entry: join(src, 'index.js'),
    extra: [join(cudaDir, 'toolchain.js')],
  },
  {
    name: 'CUDA warm path',
    // The runtime modules a CUDA warm start imports, the driver API's bindings included (alone,
    // driver.js was a module of its own, and each library module it imports one more shim).
    // Compile workers never load this bundle. host_copy.js: the weights' staging copies;
    // sym_launch.js: the launches of kernels over symbolic sizes, which the runtime evaluates
    // per binding (the code generator imports it too).
    out: join(cudaDir, 'warm_path.bundle.js'),
    members: ['backend.js', 'loader.js', 'runtime.js', 'allocator.js', 'launch.js', 'step_profile.js', 'driver.js', 'weights.js', 'host_copy.js', 'sym_launch.js'].map((m) => join(cudaDir, m)),
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

/**
 * Local static imports are bundled when `isMember` says so. An import of a module another
 * bundle already holds (`bundled`: path → its bundle, namespace and names) takes the names
 * from that bundle's namespace: importing the member's shim instead would load one more
 * module per import (~0.5 ms each, on a warm start). Everything else stays an import.
 */
function membersPlugin(isMember, outDir, bundled = new Map()) {
  return {
    name: 'kiln-members',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (a) => {
        if (a.kind === 'entry-point') return undefined;
        if (!a.path.startsWith('.')) return { path: a.path, external: true };
        const target = resolve(a.resolveDir, a.path);
        if (a.kind === 'import-statement' && isMember(target)) return undefined;
        if (bundled.has(target)) return { path: target, namespace: 'kiln-bundled' };
        return { path: specifier(outDir, target), external: true };
      });
      b.onLoad({ filter: /.*/, namespace: 'kiln-bundled' }, (a) => {
        const { out, ns, names } = bundled.get(a.path);
        return { contents: `import { ${ns} } from '${specifier(outDir, out)}';\nexport const { ${names.join(', ')} } = ${ns};\n`, resolveDir: outDir, loader: 'js' };
      });
    },
  };
}

const common = { bundle: true, format: 'esm', platform: 'node', target: 'node20', absWorkingDir: root };

/** The set's members: given, or the entry and every local module it imports statically. */
async function membersOf(set) {
  if (set.members) return set.members;
  const r = await build({ ...common, entryPoints: [set.entry, ...(set.extra ?? [])], write: false, metafile: true, outdir: dirname(set.out), logLevel: 'silent', plugins: [membersPlugin(() => true, dirname(set.out))] });
  return Object.keys(r.metafile.inputs).map((p) => resolve(root, p));
}

/** A module's export names, from esbuild's metafile of that file alone. */
async function exportNames(file) {
  const r = await build({ entryPoints: [file], bundle: false, format: 'esm', platform: 'node', write: false, metafile: true, outdir: dirname(file), logLevel: 'silent' });
  return Object.values(r.metafile.outputs).find((o) => o.entryPoint !== undefined).exports;
}

/** Modules already in a bundle: path → { out, ns, names }, for the sets built after it. */
const bundled = new Map();

async function bundleSet(set) {
  const outDir = dirname(set.out);
  mkdirSync(outDir, { recursive: true }); // esbuild resolves imports from it
  const members = await membersOf(set);
  for (const m of members) {
    if (isShim(m)) throw new Error(`${relative(root, m)} is already a shim: run tsc before scripts/bundle_modules.mjs`);
  }
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
    plugins: [membersPlugin((t) => memberSet.has(t), outDir, bundled)],
  });
  members.forEach((m, i) => {
    const from = specifier(dirname(m), set.out);
    if (names[i].includes('default')) throw new Error(`${relative(root, m)} has a default export: the shims do not handle one`);
    const body = names[i].length > 0 ? `import { m${i} } from '${from}';\nexport const { ${names[i].join(', ')} } = m${i};` : `import '${from}';`;
    writeFileSync(m, `${SHIM_MARK}\n${body}\n`);
    bundled.set(m, { out: set.out, ns: `m${i}`, names: names[i] });
  });
  console.log(`bundled ${members.length} modules (${set.name}) into ${relative(root, set.out)}`);
}

for (const set of SETS) await bundleSet(set);
