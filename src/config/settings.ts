// Every KILN_* variable kiln reads, and every option of compile() / loadOnnx(), in one table:
// what a value may be, its default, how a bad value is reported, whether it changes the
// generated code (then it is part of the graph cache key: config/read.ts codeSettings), and
// the documentation README.md's table is generated from (scripts/readme_settings.mjs; a test
// fails when the README is out of date). Values are read through config/read.ts `setting()`,
// each parsed when first read, so a warm start pays only for what it uses.
//
// The bottom layer: imports nothing of kiln, and any stage may import it.

import { BadValue, cudaArch, flag, integerAtLeast, json, oneOf, path, pathList, positiveNumber, regex, words } from './parsers.js';

/** Where the README lists a setting. */
export type Section = 'options' | 'tuning' | 'toolchain' | 'debugging' | 'testing' | 'internal';

export interface SettingSpec<T> {
  section: Section;
  /** The compile() / loadOnnx() option that takes precedence over the variable, if any. */
  option?: string;
  /** What a value may be, as the README shows it ('cpu or cuda', 'integer ≥ 0', 'path'). */
  values: string;
  /** The value when the variable is unset or blank. */
  default: T;
  /** The default as the README says it, when `default` alone does not (computed, or unset). */
  defaultDoc?: string;
  /**
   * The variable's text (never blank) to its value; throws BadValue for a bad one. `note`
   * reports a part it ignores (an unknown KILN_DEBUG stage) as a one-line warning.
   */
  parse(raw: string, note: (msg: string) => void): T;
  /** A bad value: 'error' throws an error naming the variable; 'warn' warns once and uses the default. */
  invalid: 'error' | 'warn';
  /**
   * Changes the code generated for this backend ('c' or 'cuda'): which kernels a plan has,
   * their source or their binaries. Its value is then part of that backend's graph keys.
   */
  changesCode?: 'c' | 'cuda';
  doc: string;
}

function spec<T>(s: SettingSpec<T>): SettingSpec<T> {
  return s;
}

export type DebugStage = 'graph' | 'loops' | 'schedule' | 'source' | 'plan';

/** Every stage KILN_DEBUG may name, in pipeline order (`all` or `1` enables them all). */
export const DEBUG_STAGES: readonly DebugStage[] = ['graph', 'loops', 'schedule', 'source', 'plan'];

function debugStages(raw: string, note: (msg: string) => void): readonly DebugStage[] {
  const items = raw
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0);
  const unknown = items.filter((s) => s !== 'all' && s !== '1' && !(DEBUG_STAGES as readonly string[]).includes(s));
  if (unknown.length > 0) note(`unknown stage${unknown.length > 1 ? 's' : ''} ${unknown.map((s) => `'${s}'`).join(', ')} ignored (stages: ${DEBUG_STAGES.join(', ')}, or all)`);
  if (items.includes('all') || items.includes('1')) return DEBUG_STAGES;
  return DEBUG_STAGES.filter((s) => items.includes(s));
}

/** What a compile worker does to one job, for the tests of crash recovery and deadlines. */
export interface WorkerTestHook {
  /** Sleep this long before compiling. */
  sleepMs?: number;
  /** Die on the job: 'exit' = process.exit(1), 'sigkill' = SIGKILL itself. */
  crash?: 'exit' | 'sigkill';
  /** How many attempts the crash takes (default 1, so the retry succeeds; 2 makes it crash too). */
  crashAttempts?: number;
}

function workerTestHooks(v: unknown): Readonly<Record<string, WorkerTestHook>> {
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isObject(v)) throw new BadValue('expected an object of kernel name → hook');
  const out: Record<string, WorkerTestHook> = {};
  for (const [name, h] of Object.entries(v)) {
    if (!isObject(h)) throw new BadValue(`the hook of ${name} is not an object`);
    const hook: WorkerTestHook = {};
    for (const [k, x] of Object.entries(h)) {
      if (k === 'sleepMs' && typeof x === 'number' && x >= 0) hook.sleepMs = x;
      else if (k === 'crash' && (x === 'exit' || x === 'sigkill')) hook.crash = x;
      else if (k === 'crashAttempts' && Number.isInteger(x) && (x as number) >= 1) hook.crashAttempts = x as number;
      else throw new BadValue(`the hook of ${name} has a bad field ${k}: ${JSON.stringify(x)} (fields: sleepMs ≥ 0, crash 'exit' or 'sigkill', crashAttempts ≥ 1)`);
    }
    out[name] = hook;
  }
  return out;
}

const nonNegative = integerAtLeast(0);
const positive = integerAtLeast(1);

export const SETTINGS = {
  // --- options and variables --------------------------------------------------------------
  KILN_DEVICE: spec({
    section: 'options',
    option: 'device',
    values: '`cpu` or `cuda`',
    default: 'cpu' as 'cpu' | 'cuda',
    parse: oneOf(['cpu', 'cuda'] as const),
    invalid: 'error',
    doc: 'the device programs compile for and run on (also the CLI\'s `--device`)',
  }),
  KILN_CACHE_DIR: spec({
    section: 'options',
    option: 'cacheDir',
    values: 'path',
    default: undefined as string | undefined,
    defaultDoc: '`~/.cache/kiln`',
    parse: path,
    invalid: 'error',
    doc: 'the compile cache directory (created 0700; one another user could write is never loaded from)',
  }),
  KILN_NO_CACHE: spec({
    section: 'options',
    values: '`1` or `0`',
    default: false,
    parse: flag,
    invalid: 'warn',
    doc: 'turns disk caching off: every run compiles, and nothing is written',
  }),
  KILN_CACHE_MAX_MB: spec({
    section: 'options',
    values: 'number > 0',
    default: undefined as number | undefined,
    defaultDoc: 'unbounded',
    parse: positiveNumber,
    invalid: 'warn',
    doc: 'bounds the cache directory: least recently used entries are removed past this many MiB',
  }),
  KILN_CACHE_READONLY: spec({
    section: 'options',
    values: '`1` or `0`',
    default: false,
    parse: flag,
    invalid: 'warn',
    doc: 'read the cache directory, never write it (a cache baked into a read-only image); new entries stay in memory',
  }),
  KILN_WORKERS: spec({
    section: 'options',
    option: 'workers',
    values: 'integer ≥ 0',
    default: undefined as number | undefined,
    defaultDoc: 'from cores and free memory',
    parse: nonNegative,
    invalid: 'error',
    doc: 'compile worker processes; 0 compiles inline, in the calling process',
  }),
  KILN_COMPILE_TIMEOUT_MS: spec({
    section: 'options',
    option: 'compileTimeoutMs',
    values: 'integer ≥ 1 (ms)',
    default: 60_000,
    parse: positive,
    invalid: 'error',
    doc:
      'per-kernel compile deadline, per call; it also sets how soon another process takes over the compile markers of a stopped or silent one ' +
      '(10 heartbeats of a tenth of it, at most 1 s each, + 2 s)',
  }),
  KILN_MAX_SHAPE_VARIANTS: spec({
    section: 'options',
    option: 'maxShapeVariants',
    values: 'integer ≥ 1',
    default: 8,
    parse: positive,
    invalid: 'error',
    doc:
      'programs a loaded ONNX model keeps, one per shape of its symbolic dims (and value of its shape-setting inputs): ' +
      'past this many the least recently used is disposed, its memory freed, and rebuilt if that shape comes back',
  }),
  KILN_CUDA_ARCH: spec({
    section: 'options',
    option: 'arch',
    values: '`sm_XY`',
    default: undefined as string | undefined,
    defaultDoc: "the device's, else `sm_90`",
    parse: cudaArch,
    invalid: 'error',
    changesCode: 'cuda',
    doc: 'the CUDA target when there is no device to ask (compile-only runs); a device present decides for itself',
  }),
  KILN_CUDA_DEVICE: spec({
    section: 'options',
    values: 'integer ≥ 0',
    default: 0,
    parse: nonNegative,
    invalid: 'error',
    doc: 'which GPU (the CUDA device ordinal) kiln runs on',
  }),
  KILN_SIGNING_KEY: spec({
    section: 'options',
    values: 'path',
    default: undefined as string | undefined,
    defaultDoc: '`~/.config/kiln/signing_key.pem`, generated on first use',
    parse: path,
    invalid: 'error',
    doc: 'the ed25519 private key file (PEM PKCS#8, mode 0600) that `kiln cache export` signs with',
  }),
  KILN_TRUSTED_KEYS: spec({
    section: 'options',
    values: '`:`-separated list',
    default: [] as readonly string[],
    defaultDoc: 'none',
    parse: pathList,
    invalid: 'error',
    doc:
      "more keys `kiln cache import` trusts, beyond the machine's own and `kiln cache trust`'s list (`~/.config/kiln/trusted_keys`): " +
      'public key files (PEM or `ed25519 <base64>` lines, as `kiln cache key` prints) or inline `ed25519:<base64>` keys',
  }),
  KILN_CONFIG_DIR: spec({
    section: 'options',
    values: 'path',
    default: undefined as string | undefined,
    defaultDoc: '`$XDG_CONFIG_HOME/kiln`, else `~/.config/kiln`',
    parse: path,
    invalid: 'error',
    doc: 'where the signing key and the trusted key list live',
  }),

  // --- tuning: A/B runs ---------------------------------------------------------------------
  KILN_CUBLAS_MIN_MACS: spec({
    section: 'tuning',
    values: 'integer ≥ 0',
    default: 1 << 22,
    parse: nonNegative,
    invalid: 'error',
    changesCode: 'cuda',
    doc: 'float32 products with at least this many multiply-adds go to cuBLAS, smaller ones to the generated GEMM with the epilogue fused (0 = cuBLAS whenever it can)',
  }),
  KILN_IM2COL_MIN_MACS: spec({
    section: 'tuning',
    values: 'integer ≥ 0',
    default: undefined as number | undefined,
    defaultDoc: 'by size and tiles',
    parse: nonNegative,
    invalid: 'error',
    changesCode: 'cuda',
    doc:
      'CUDA convolutions normally run as implicit GEMMs (the generated GEMM reads the input through the window\'s index expression), except those of at least 1M ' +
      'multiply-adds whose product has fewer than 128 output tiles, which materialise their im2col matrix in one kernel so cuBLAS takes the product; ' +
      'setting N takes every conv of N or more multiply-adds through im2col',
  }),
  KILN_CUDA_GEMM: spec({
    section: 'tuning',
    values: '`auto` or `generated`',
    default: 'auto' as 'auto' | 'generated',
    parse: oneOf(['auto', 'generated'] as const),
    invalid: 'error',
    changesCode: 'cuda',
    doc: '`generated` never uses cuBLAS: every product takes the generated GEMM (`auto`: cuBLAS when its library is found)',
  }),
  KILN_CPU_FEW_ROW_GEMM: spec({
    section: 'tuning',
    values: '`1` or `0`',
    default: true,
    parse: flag,
    invalid: 'warn',
    changesCode: 'c',
    doc: '`0`: CPU products of at most 8 rows pack their weight per call again (the earlier kernel), for A/B runs (bench/cpu_weights.ts)',
  }),
  KILN_CPU_TILED_GEMM: spec({
    section: 'tuning',
    values: '`1` or `0`',
    default: true,
    parse: flag,
    invalid: 'warn',
    changesCode: 'c',
    doc: '`0`: CPU products of more than 8 rows take the earlier 4×32 kernel (no FMA, B packed on one thread, a thread team per panel) instead of the register-blocked tile, for A/B runs (bench/cpu_gemm.ts)',
  }),
  KILN_CPU_PACK_WEIGHTS: spec({
    section: 'tuning',
    values: '`1` or `0`',
    default: true,
    parse: flag,
    invalid: 'warn',
    doc:
      "an ONNX model's weights read by CPU products of more than 8 rows are packed once, on the first run that reads them, into the panels the GEMM tile reads (a second host copy of those weights, about their size, kept while the model lives) instead of on every call; " +
      '`0` packs them per call (no second copy). Read when a program is made; not part of any cache key (the kernels are the same)',
  }),
  KILN_COMPILE_GROUP_MAX: spec({
    section: 'tuning',
    values: 'integer ≥ 1',
    default: undefined as number | undefined,
    defaultDoc: "the backend's (8)",
    parse: positive,
    invalid: 'error',
    doc: 'when a graph has more kernels than workers, each worker compiles a group of them as one program (one cc or NVRTC run), at most this many (1 = one kernel per program)',
  }),
  KILN_EARLY_COMPILE: spec({
    section: 'tuning',
    values: '`1` or `0`',
    default: true,
    parse: flag,
    invalid: 'warn',
    doc: '`0`: submit compiles only after all codegen (to measure early submission)',
  }),
  KILN_CUDA_PINNED: spec({
    section: 'tuning',
    values: '`1` or `0`',
    default: true,
    parse: flag,
    invalid: 'warn',
    doc: '`0`: upload CUDA weights through ordinary memory with synchronous copies instead of page-locked staging and async copies on an upload stream (for A/B runs)',
  }),
  KILN_EXTERNAL_DATA: spec({
    section: 'tuning',
    values: '`map`, `file` or `region`',
    default: undefined as 'map' | 'file' | 'region' | undefined,
    defaultDoc: '`map` on Linux, else `region`',
    parse: oneOf(['map', 'file', 'region'] as const),
    invalid: 'warn',
    doc:
      "how an ONNX model's weights are read: `map` (the model file and its external data files mapped, tensors views of them where aligned for their type, no copy; a file must not be changed in place while the model lives, as a run then fails naming it: replace it by renaming a new file over it; Linux only), " +
      '`file` (the model file and each data file read once into one buffer), `region` (the model file read, each external tensor\'s region read into its own buffer)',
  }),
  KILN_GOMP_SPINCOUNT: spec({
    section: 'tuning',
    values: 'integer ≥ 0, or `libgomp`',
    default: 10_000 as number | 'libgomp',
    parse: (raw: string) => (raw === 'libgomp' ? ('libgomp' as const) : integerAtLeast(0)(raw)),
    invalid: 'warn',
    doc:
      "CPU kernels' OpenMP threads spin this many rounds before sleeping (libgomp's `GOMP_SPINCOUNT`, set for the kernels' load only), unless `OMP_WAIT_POLICY` or `GOMP_SPINCOUNT` is set; " +
      "libgomp's own 300,000 cost a busy machine a core's time slice at every parallel region; `libgomp` leaves libgomp's default (for A/B runs)",
  }),
  KILN_WORKER_IDLE_MS: spec({
    section: 'tuning',
    values: 'integer ≥ 0 (ms)',
    default: 30_000,
    parse: nonNegative,
    invalid: 'error',
    doc: 'an idle compile worker exits after this long (and is forked again when needed)',
  }),

  // --- compilers and libraries --------------------------------------------------------------
  KILN_CC: spec({
    section: 'toolchain',
    values: 'command',
    default: ['cc'] as readonly string[],
    defaultDoc: '`cc`',
    parse: words,
    invalid: 'error',
    changesCode: 'c',
    doc: 'the C compiler, with any extra arguments (`clang -fcolor-diagnostics`); its path, size and mtime are part of every CPU kernel key',
  }),
  KILN_CUDA_COMPILER: spec({
    section: 'toolchain',
    values: '`auto`, `nvrtc` or `nvcc`',
    default: 'auto' as 'auto' | 'nvrtc' | 'nvcc',
    defaultDoc: '`auto`: NVRTC when libnvrtc is found, else nvcc',
    parse: oneOf(['auto', 'nvrtc', 'nvcc'] as const),
    invalid: 'error',
    changesCode: 'cuda',
    doc: 'which CUDA compiler the workers run',
  }),
  KILN_NVRTC: spec({
    section: 'toolchain',
    values: 'path',
    default: undefined as string | undefined,
    defaultDoc: '/usr/local/cuda*/lib64, `CUDA_HOME`, `CUDA_PATH`, ldconfig',
    parse: path,
    invalid: 'error',
    changesCode: 'cuda',
    doc: 'the libnvrtc file to use (an error when it is not there)',
  }),
  KILN_NVCC: spec({
    section: 'toolchain',
    values: 'path',
    default: undefined as string | undefined,
    defaultDoc: '`CUDA_HOME`/bin, `CUDA_PATH`/bin, /usr/local/cuda/bin, `PATH`',
    parse: path,
    invalid: 'error',
    changesCode: 'cuda',
    doc: 'the nvcc to run when kiln compiles with nvcc (`KILN_CUDA_COMPILER=nvcc`, or no libnvrtc found)',
  }),
  KILN_LIBCUDA: spec({
    section: 'toolchain',
    values: 'path or library name',
    default: undefined as string | undefined,
    defaultDoc: '`libcuda.so.1`, then `libcuda.so`',
    parse: path,
    invalid: 'error',
    doc: 'the CUDA driver library to load (tried before the default names)',
  }),
  KILN_CUBLAS: spec({
    section: 'toolchain',
    values: 'path',
    default: undefined as string | undefined,
    defaultDoc: 'the toolkit directories, then `libcublas.so.13` / `.12`',
    parse: path,
    invalid: 'error',
    changesCode: 'cuda',
    doc: 'the cuBLAS library file (when it does not exist, products take the generated GEMM)',
  }),

  // --- debugging ----------------------------------------------------------------------------
  KILN_TRACE: spec({
    section: 'debugging',
    values: 'path (`0`: off)',
    default: undefined as string | undefined,
    defaultDoc: 'off',
    parse: (raw: string) => (raw.trim() === '0' ? undefined : path(raw)),
    invalid: 'error',
    doc: "write a Chrome trace of trace/schedule/codegen/compile/load/run/cache spans to this file at exit, workers' compiles included (and each worker's start, `pool`)",
  }),
  KILN_DEBUG: spec({
    section: 'debugging',
    values: '`graph,loops,schedule,source,plan` or `all`',
    default: [] as readonly DebugStage[],
    defaultDoc: 'none',
    parse: debugStages,
    invalid: 'warn',
    doc:
      "print each named stage's IR on stderr (an unknown name is warned about); the CLI also prints an error's stack. On a graph-cache hit only `graph` and `plan` " +
      'have something to print: the other stages never ran, which one line says (an ONNX model\'s warm start does not even build its graph: one line says that too)',
  }),
  KILN_PROFILE: spec({
    section: 'debugging',
    values: '`1` or `0`',
    default: false,
    parse: flag,
    invalid: 'warn',
    doc:
      "time every step of every plan run and print, at exit, each kernel's time per run (slowest first, with its graph ops and, on CUDA, cuBLAS shape): " +
      'CUDA with events (GPU time; runs synchronise, so only the per-kernel figures mean anything), the CPU with the host clock around each kernel call',
  }),
  KILN_ASSERT_NO_COMPILE: spec({
    section: 'debugging',
    values: '`1` or `0`',
    default: false,
    parse: flag,
    invalid: 'error',
    doc: 'any compile is an error (proves a warm start)',
  }),

  // --- testing ------------------------------------------------------------------------------
  KILN_CPUINFO_FILE: spec({
    section: 'testing',
    values: 'path',
    default: undefined as string | undefined,
    defaultDoc: '/proc/cpuinfo',
    parse: path,
    invalid: 'error',
    changesCode: 'c',
    doc: "read the CPU's identity (which names the target `-march=native` builds for) from this file: for tests that play another CPU",
  }),
  KILN_POISON_OUTPUTS: spec({
    section: 'testing',
    values: '`1` or `0`',
    default: false,
    parse: flag,
    invalid: 'error',
    doc: 'CUDA outputs start filled with NaN instead of uninitialised, so a kernel that leaves an element unwritten fails its test',
  }),
  KILN_ONNX_ORACLE: spec({
    section: 'testing',
    values: '`compile` or `interpret`',
    default: 'compile' as 'compile' | 'interpret',
    parse: oneOf(['compile', 'interpret'] as const),
    invalid: 'error',
    doc: "`interpret`: an ONNX model's `run()` goes through the float64 reference interpreter instead of compiled kernels (checks the importer alone)",
  }),
  KILN_TEST_WORKER_HOOKS: spec({
    section: 'testing',
    values: 'JSON',
    default: {} as Readonly<Record<string, WorkerTestHook>>,
    defaultDoc: 'none',
    parse: json(workerTestHooks),
    invalid: 'error',
    doc:
      'what compile workers do to the jobs of the named kernels, for the tests of crash recovery and deadlines: ' +
      '`{"<kernel name>": {"sleepMs": N, "crash": "exit" or "sigkill", "crashAttempts": N}}`; read by each worker as it is forked',
  }),
  KILN_TEST_DEVICE: spec({
    section: 'testing',
    values: '`cpu` or `cuda`',
    default: 'cpu' as 'cpu' | 'cuda',
    parse: oneOf(['cpu', 'cuda'] as const),
    invalid: 'error',
    doc: 'test suite: the device the op, model and conformance tests run on (`npm run test:gpu` sets `cuda`)',
  }),
  KILN_ONNX_ONLY: spec({
    section: 'testing',
    values: 'regular expression',
    default: undefined as RegExp | undefined,
    defaultDoc: 'all',
    parse: regex,
    invalid: 'error',
    doc: 'test suite: runs only the ONNX conformance tests whose names match',
  }),
  KILN_ASSERT_OVERLAP: spec({
    section: 'testing',
    values: '`1` or `0`',
    default: false,
    parse: flag,
    invalid: 'error',
    doc: "test suite: test/partial_hits asserts that the first compile starts before codegen ends (timing-dependent, so off on a loaded machine)",
  }),
  KILN_PREREQ_FIXTURE: spec({
    section: 'testing',
    values: '`needs` or `optional`',
    default: undefined as 'needs' | 'optional' | undefined,
    defaultDoc: 'unset',
    parse: oneOf(['needs', 'optional'] as const),
    invalid: 'error',
    doc: "test suite: what test/fixtures/prereq_fixture.ts plays (a test needing a missing tool, or one where it is optional), for test/prereq's own checks",
  }),

  // --- internal: set by kiln for its compile workers ----------------------------------------
  KILN_WORKER_WARM: spec({
    section: 'internal',
    values: '`c` or `cuda`',
    default: undefined as 'c' | 'cuda' | undefined,
    defaultDoc: 'unset',
    parse: oneOf(['c', 'cuda'] as const),
    invalid: 'error',
    doc: "set by the pool: the backend the worker was forked for; the worker runs that backend's compiler warm-up while it waits for its first job (`cuda`: NVRTC's start-up)",
  }),
  KILN_WORKER_TMP: spec({
    section: 'internal',
    values: 'path',
    default: undefined as string | undefined,
    defaultDoc: 'unset',
    parse: path,
    invalid: 'error',
    doc: "set by the pool: the worker's temporary root, holding its jobs' directories (removed by the pool once the worker is gone)",
  }),
};

export type SettingName = keyof typeof SETTINGS;

export type SettingValue<K extends SettingName> = (typeof SETTINGS)[K] extends SettingSpec<infer T> ? T : never;

/** Options of compile() / loadOnnx() that no variable sets, for the README's table. */
export const OPTION_ONLY_DOCS: Readonly<Record<string, string>> = {
  allowTF32: 'let cuBLAS use TF32 for float32 matmuls (off by default; part of the CUDA graph key)',
  compileOnly: 'generate and compile every kernel, but load and run nothing (works without the device)',
  label: "a name for the program's cache entries (e.g. the model file), for `kiln cache export --label`",
  inputShapes: "`loadOnnx()` only: pins inputs with symbolic dims to these shapes, by input name (built and checked at load; other sizes refused); without it each run's feeds size them",
  dynamic: '`loadOnnx()` only: `true` (default) runs a model with symbolic dims on one program over their sizes where its ops and guards allow (`inspect().symbolic` says which path it took and why), `false` compiles a program per binding',
};
