// kiln's layering (docs/architecture.md, "Layers"), checked by dependency-cruiser: `npm test`
// runs `npm run lint:layers` first, so CI fails on an import that goes the wrong way.
// test/layering.test.ts plants such imports in a copy of src/ and checks each rule catches its own.
//
// Type-only imports count: a type is as much a dependency of the layering as a value.

/**
 * The bottom layers, which every other layer may import and which import nothing of kiln:
 * config/ (every KILN_* variable, read through setting()) and util/ (helpers of the process:
 * exit cleanups).
 */
const BOTTOM = ['config', 'util'];

/**
 * Each folder of src/, bottom first, and the folders it may import from besides its own and the
 * bottom layers. Every list names only folders listed before it, so the layers form no cycle; a
 * folder missing from a list (a sibling, or one listed after it) is forbidden.
 */
const LAYERS = [
  ...BOTTOM.map((f) => [f, []]),
  // Counters, trace, debug printing, progress: usable by every layer above.
  ['observe', []],
  // Stores of entries: knows nothing of compilers, tensors or backends.
  ['cache', ['observe']],
  // The future cache and the worker pool: knows nothing of tensors or backends (backends
  // register their compilers and loaders with it: compile/registry.ts).
  ['compile', ['cache', 'observe']],
  // The pipeline, each stage reading the IR of the one before: graph → lower → schedule → backends.
  ['graph', ['observe']],
  ['lower', ['graph', 'observe']],
  ['schedule', ['lower', 'graph', 'compile', 'cache', 'observe']],
  ['backends', ['schedule', 'lower', 'graph', 'compile', 'cache', 'observe']],
  // The front ends, which build graphs: traced Tensors, and the ONNX importer (on Tensor builders).
  ['frontend', ['graph', 'observe']],
  ['onnx', ['frontend', 'graph', 'observe']],
  // On top: compile(), compileGraph, loadOnnx and OnnxModel, which put it all together; then the CLI.
  ['api', ['onnx', 'frontend', 'backends', 'schedule', 'lower', 'graph', 'compile', 'cache', 'observe']],
  ['cli', ['api', 'onnx', 'frontend', 'backends', 'schedule', 'lower', 'graph', 'compile', 'cache', 'observe']],
].map(([folder, allowed]) => [folder, BOTTOM.includes(folder) ? allowed : [...allowed, ...BOTTOM]]);

const folders = LAYERS.map(([f]) => f);

/** Regex of the src/ folders `names`. */
const under = (names) => `^src/(${names.join('|')})/`;

const layerRules = LAYERS.map(([folder, allowed]) => ({
  name: `layer-${folder}`,
  comment: `src/${folder}/ imports only from ${allowed.length ? allowed.map((a) => `src/${a}/`).join(', ') : 'itself'} (docs/architecture.md, "Layers")`,
  severity: 'error',
  from: { path: under([folder]) },
  to: { path: '^src/', pathNot: under([folder, ...allowed]) },
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'layer-index',
      comment: 'src/index.ts (the package) exports the api, front ends and observation; nothing imports it back',
      severity: 'error',
      from: { path: '^src/index\\.ts$' },
      to: { path: '^src/', pathNot: under(['api', 'onnx', 'frontend', 'graph', 'observe', ...BOTTOM]) },
    },
    {
      name: 'no-folder-outside-layers',
      comment: `every folder of src/ is a layer of this table (${folders.join(', ')}): add a new one to LAYERS`,
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/[^/]+/', pathNot: under(folders) },
    },
    {
      name: 'src-not-to-tests',
      comment: 'the library never imports tests, benches or scripts',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts|examples)/' },
    },
    {
      name: 'no-circular',
      comment: 'modules import each other in one direction only',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'backends-apart',
      comment: 'the C and CUDA backends do not import each other: what both use lives in backends/ itself (c_expr.ts, half_c.ts, int_c.ts)',
      severity: 'error',
      from: { path: '^src/backends/(cpu|cuda)/' },
      to: { path: '^src/backends/(cpu|cuda)/', pathNot: '^src/backends/$1/' },
    },
    {
      name: 'cuda-lazy',
      comment:
        'the CUDA backend is imported lazily (a CPU-only run never loads it; docs/architecture.md): outside backends/cuda/, only dynamic imports (and types) reach it; toolchain.ts (file searches, in the library bundle) excepted',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/backends/cuda/' },
      to: { path: '^src/backends/cuda/', pathNot: '^src/backends/cuda/toolchain\\.ts$', dependencyTypesNot: ['dynamic-import', 'type-only'] },
    },
  ],
  options: {
    includeOnly: '^src/',
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    skipAnalysisNotInRules: true,
  },
};
