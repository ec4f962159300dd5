// The configuration module (src/config/): every KILN_* variable is declared there with its
// documentation, and read only through it; README.md's table is generated from it and must be
// current; a bad value is an error or a warning naming the variable, never silently ignored;
// settings that change generated code are part of the graph key, so two settings in one cache
// directory are two graph entries, each with its own (correct) kernels.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { LoadOptions } from '../src/api/load_onnx.js';
import { compileGraph } from '../src/api/program.js';
import { listEntryFiles } from '../src/cache/layout.js';
import { SettingError, codeSettings, setting, settingNames } from '../src/config/read.js';
import { withSettingsTable } from '../src/config/readme_table.js';
import { OPTION_ONLY_DOCS, SETTINGS, type SettingName, type SettingSpec } from '../src/config/settings.js';
import { trace } from '../src/frontend/trace.js';
import { interpret } from '../src/graph/interpret.js';
import { assertMatches, randn } from './helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'kiln-config-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const spec = (name: SettingName) => SETTINGS[name] as SettingSpec<unknown>;

/** What `f` writes to stderr, and its result. */
function stderrOf<T>(f: () => T): { value: T; stderr: string } {
  const write = process.stderr.write;
  let stderr = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    return { value: f(), stderr };
  } finally {
    process.stderr.write = write;
  }
}

describe('documentation', () => {
  it("README.md's table of options and variables is the one generated from src/config/settings.ts", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    assert.ok(withSettingsTable(readme) === readme, 'README.md is out of date: run `npm run build && node scripts/readme_settings.mjs`');
  });

  it('every setting has its documentation, and every compile() option is in the table once', () => {
    for (const name of settingNames()) {
      assert.match(name, /^KILN_[A-Z0-9_]+$/);
      const s = spec(name);
      assert.ok(s.doc.length > 20 && s.values.length > 0, `${name} is documented`);
    }
    // Listing LoadOptions' keys (CompileOptions' and loadOnnx's own) here: `satisfies` fails the build when an option is added or removed.
    const options = {
      device: 0, cacheDir: 0, workers: 0, arch: 0, allowTF32: 0, compileOnly: 0, label: 0, compileTimeoutMs: 0, inputShapes: 0, maxShapeVariants: 0, dynamic: 0,
    } satisfies Record<keyof LoadOptions, 0>;
    const documented = [...settingNames().flatMap((n) => spec(n).option ?? []), ...Object.keys(OPTION_ONLY_DOCS)];
    assert.deepEqual([...documented].sort(), Object.keys(options).sort());
  });

  it('no source file outside src/config reads a KILN_* variable itself', () => {
    const direct: string[] = [];
    const visit = (dir: string): void => {
      for (const f of readdirSync(dir)) {
        const p = join(dir, f);
        if (statSync(p).isDirectory()) {
          if (p !== join(root, 'src', 'config')) visit(p);
        } else if (f.endsWith('.ts')) {
          readFileSync(p, 'utf8')
            .split('\n')
            .forEach((line, i) => {
              // A read: env.KILN_X or env['KILN_X'] (deleting one from a child's environment is not).
              if (/(?<!delete )\benv(\.|\[['"`])KILN_/.test(line)) direct.push(`${p.slice(root.length)}:${i + 1}: ${line.trim()}`);
            });
        }
      }
    };
    visit(join(root, 'src'));
    assert.deepEqual(direct, []);
  });
});

describe('values', () => {
  it('unset or blank is the default; good values parse', () => {
    assert.equal(setting('KILN_WORKERS', {}), undefined);
    assert.equal(setting('KILN_WORKERS', { KILN_WORKERS: '  ' }), undefined);
    assert.equal(setting('KILN_WORKERS', { KILN_WORKERS: '3' }), 3);
    assert.equal(setting('KILN_COMPILE_TIMEOUT_MS', {}), 60_000);
    assert.equal(setting('KILN_DEVICE', { KILN_DEVICE: ' CUDA ' }), 'cuda');
    assert.equal(setting('KILN_NO_CACHE', { KILN_NO_CACHE: 'yes' }), true);
    assert.equal(setting('KILN_EARLY_COMPILE', { KILN_EARLY_COMPILE: 'off' }), false);
    assert.deepEqual(setting('KILN_CC', { KILN_CC: ' clang  -fcolor-diagnostics ' }), ['clang', '-fcolor-diagnostics']);
    assert.deepEqual(setting('KILN_TRUSTED_KEYS', { KILN_TRUSTED_KEYS: 'a.pub::b.pub ' }), ['a.pub', 'b.pub']);
    assert.equal(setting('KILN_TRACE', { KILN_TRACE: '0' }), undefined);
    assert.equal(setting('KILN_CACHE_MAX_MB', { KILN_CACHE_MAX_MB: '0.5' }), 0.5);
    assert.deepEqual(setting('KILN_DEBUG', { KILN_DEBUG: 'all' }), ['graph', 'loops', 'schedule', 'source', 'plan']);
    assert.deepEqual(setting('KILN_TEST_WORKER_HOOKS', { KILN_TEST_WORKER_HOOKS: '{"k": {"sleepMs": 5, "crash": "sigkill"}}' }), { k: { sleepMs: 5, crash: 'sigkill' } });
  });

  it('a bad value of an error setting throws a SettingError naming the variable and its value', () => {
    const bad: [SettingName, string, RegExp][] = [
      ['KILN_WORKERS', '-1', /^KILN_WORKERS="-1": expected an integer ≥ 0$/],
      ['KILN_WORKERS', '2.5', /^KILN_WORKERS="2.5": expected an integer ≥ 0$/],
      ['KILN_COMPILE_TIMEOUT_MS', '0', /^KILN_COMPILE_TIMEOUT_MS="0": expected an integer ≥ 1$/],
      ['KILN_DEVICE', 'gpu', /^KILN_DEVICE="gpu": expected cpu or cuda$/],
      ['KILN_CUDA_ARCH', 'compute_90', /^KILN_CUDA_ARCH="compute_90": expected a real architecture like sm_90$/],
      ['KILN_CUDA_DEVICE', 'first', /^KILN_CUDA_DEVICE="first": expected an integer ≥ 0$/],
      ['KILN_ASSERT_NO_COMPILE', 'sure', /^KILN_ASSERT_NO_COMPILE="sure": expected 1 or 0/],
      ['KILN_CUDA_GEMM', 'cublas', /^KILN_CUDA_GEMM="cublas": expected auto or generated$/],
      ['KILN_TEST_WORKER_HOOKS', '{"k": {"sleep": 5}}', /^KILN_TEST_WORKER_HOOKS=.*the hook of k has a bad field sleep/],
      ['KILN_TEST_WORKER_HOOKS', '{k: 1}', /^KILN_TEST_WORKER_HOOKS="\{k: 1\}": not JSON/],
      ['KILN_ONNX_ONLY', '(', /^KILN_ONNX_ONLY="\(": Invalid regular expression/],
    ];
    for (const [name, raw, message] of bad) {
      assert.equal(spec(name).invalid, 'error', name);
      assert.throws(
        () => setting(name, { [name]: raw }),
        (e: Error) => e instanceof SettingError && message.test(e.message),
        `${name}=${raw}`,
      );
    }
  });

  it('a bad value of a warning setting warns once, naming the variable, and gives the default', () => {
    for (const [name, raw] of [
      ['KILN_NO_CACHE', 'maybe'],
      ['KILN_CACHE_MAX_MB', '-3'],
      ['KILN_CPU_FEW_ROW_GEMM', 'fast'],
    ] as [SettingName, string][]) {
      assert.equal(spec(name).invalid, 'warn', name);
      const first = stderrOf(() => setting(name, { [name]: raw }));
      assert.deepEqual(first.value, spec(name).default, name);
      assert.match(first.stderr, new RegExp(`^kiln warning: ${name}="${raw}": expected .*; using the default \\(.+\\)\\n$`));
      const again = stderrOf(() => setting(name, { [name]: raw }));
      assert.deepEqual(again.value, spec(name).default);
      assert.equal(again.stderr, '', 'once');
    }
    // KILN_DEBUG keeps the stages it knows and warns about the others.
    const d = stderrOf(() => setting('KILN_DEBUG', { KILN_DEBUG: 'plan,sourec' }));
    assert.deepEqual(d.value, ['plan']);
    assert.equal(d.stderr, "kiln warning: KILN_DEBUG: unknown stage 'sourec' ignored (stages: graph, loops, schedule, source, plan, or all)\n");
  });
});

describe('cache keys', () => {
  // A value other than the default for every setting that changes generated code.
  const examples: Record<string, string> = {
    KILN_CUDA_ARCH: 'sm_80',
    KILN_CUBLAS_MIN_MACS: '0',
    KILN_IM2COL_MIN_MACS: '1000',
    KILN_CUDA_GEMM: 'generated',
    KILN_CPU_FEW_ROW_GEMM: '0',
    KILN_CPU_TILED_GEMM: '0',
    KILN_CC: 'clang',
    KILN_CUDA_COMPILER: 'nvcc',
    KILN_NVRTC: '/opt/cuda/lib64/libnvrtc.so.12',
    KILN_NVCC: '/opt/cuda/bin/nvcc',
    KILN_CUBLAS: '/opt/cuda/lib64/libcublas.so.12',
    KILN_CPUINFO_FILE: '/tmp/cpuinfo',
  };

  it("each setting that changes generated code is in its backend's key part, and only when not at its default", () => {
    const codeChanging = settingNames().filter((n) => spec(n).changesCode !== undefined);
    assert.deepEqual(codeChanging.sort(), Object.keys(examples).sort(), 'an example value for each');
    assert.deepEqual(codeSettings('c', {}), {});
    assert.deepEqual(codeSettings('cuda', {}), {});
    for (const name of codeChanging) {
      const backend = spec(name).changesCode!;
      const other = backend === 'c' ? 'cuda' : 'c';
      const env = { [name]: examples[name] };
      assert.deepEqual(Object.keys(codeSettings(backend, env)), [name], name);
      assert.deepEqual(codeSettings(other, env), {}, `${name} leaves the other backend's keys alone`);
    }
    // Spelled out at its default, a setting keys as unset.
    assert.deepEqual(codeSettings('c', { KILN_CPU_FEW_ROW_GEMM: '1' }), {});
    assert.deepEqual(codeSettings('cuda', { KILN_CUBLAS_MIN_MACS: String(1 << 22) }), {});
  });

  test('KILN_CPU_FEW_ROW_GEMM=0 and unset in one cache directory: two graph entries, each with its own kernels, both correct', async () => {
    const cacheDir = join(tmp, 'few-row');
    const w = randn([96, 80], 11);
    const fn = (x: import('../src/frontend/tensor.js').Tensor) => x.matmul(w).relu();
    const x = randn([3, 96], 12);
    const traced = () => trace(fn, [{ shape: x.shape, dtype: x.dtype }]);
    const [ref] = interpret(traced().graph, [x, ...traced().params]);
    const saved = process.env.KILN_CPU_FEW_ROW_GEMM;
    const compileWith = async (value: string | undefined) => {
      if (value === undefined) delete process.env.KILN_CPU_FEW_ROW_GEMM;
      else process.env.KILN_CPU_FEW_ROW_GEMM = value;
      const p = await compileGraph(traced(), { cacheDir, workers: 0 });
      await assertMatches((await p.run([x]))[0]!, ref!, { label: `KILN_CPU_FEW_ROW_GEMM=${value ?? 'unset'}` });
      return p;
    };
    try {
      const direct = await compileWith(undefined);
      const packed = await compileWith('0');
      assert.equal(direct.graphCache, 'miss');
      assert.equal(packed.graphCache, 'miss', 'the setting is part of the graph key');
      assert.notEqual(packed.graphKey, direct.graphKey);
      assert.notDeepEqual(packed.plan.kernels.map((k) => k.key), direct.plan.kernels.map((k) => k.key), 'different kernels');
      assert.equal(listEntryFiles(cacheDir).filter((e) => e.kind === 'graph').length, 2, 'two graph entries');
      // Each setting finds its own entry again.
      const again = [await compileWith(undefined), await compileWith('0'), await compileWith('1')];
      assert.deepEqual(again.map((p) => p.graphCache), ['hit', 'hit', 'hit']);
      assert.deepEqual(again.map((p) => p.graphKey), [direct.graphKey, packed.graphKey, direct.graphKey]);
    } finally {
      if (saved === undefined) delete process.env.KILN_CPU_FEW_ROW_GEMM;
      else process.env.KILN_CPU_FEW_ROW_GEMM = saved;
    }
  });
});
