// The layering rules (.dependency-cruiser.cjs, which `npm test` runs first as `npm run
// lint:layers`) catch what they are for: in a copy of src/, each planted import that breaks a
// rule (an upward import, a type-only one, a cycle, one backend importing the other, a static
// import of the CUDA backend, a folder outside the layers) is reported under that rule, and
// nothing else is: so the tree as it is passes, and CI fails on any of these.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const depcruise = join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

const dir = mkdtempSync(join(tmpdir(), 'kiln-layering-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs the project's rules over `cwd`'s src/ as `npm run lint:layers` does: its exit status
 * (what fails CI) and the violations it prints, `rule: from → to` (a cycle as its rule and modules).
 */
function cruise(cwd: string): { status: number | null; violations: string[]; output: string } {
  const r = spawnSync(process.execPath, [depcruise, 'src', '--config', '.dependency-cruiser.cjs'], { cwd, encoding: 'utf8' });
  const output = `${r.stdout}${r.stderr}`;
  // "  error layer-compile: src/compile/key.ts → src/graph/shape.ts"; a cycle's modules follow on lines of their own.
  const violations = output
    .split(/\n(?=\s*error )/)
    .map((v) => /^\s*error (\S+): ([\s\S]*)$/.exec(v))
    .filter((m) => m !== null)
    .map((m) => `${m[1]}: ${(m[2]!.split(/\n\s*\n/)[0]!.match(/src\/\S+\.ts/g) ?? []).join(' → ')}`);
  return { status: r.status, violations, output };
}

test('dependency-cruiser reports each planted layering violation under its rule, and nothing else', { timeout: 120_000 }, () => {
  assert.ok(existsSync(depcruise), `dependency-cruiser is not installed (${depcruise}): npm ci`);
  for (const f of ['src', '.dependency-cruiser.cjs', 'tsconfig.json']) cpSync(join(root, f), join(dir, f), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const plant = (file: string, text: string) => appendFileSync(join(dir, 'src', file), `\n${text}\n`);

  // compile/ knows nothing of tensors: an upward value import.
  plant('compile/key.ts', "import { numel } from '../graph/shape.js';\nexport const plantedNumel = numel;");
  // cache/ knows nothing of compilers, types included.
  plant('cache/layout.ts', "import type { CompileRequest } from '../compile/types.js';\nexport type PlantedRequest = CompileRequest;");
  // The graph below its front end (graph/interpret.ts once imported the front end's NDArray).
  // Each plant's target must not reach back to it: that would be a cycle too, reported as well.
  plant('graph/print.ts', "import type { Tensor } from '../frontend/tensor.js';\nexport type PlantedTensor = Tensor;");
  // The scheduler above the backends that implement its interface.
  plant('schedule/check_inputs.ts', "import { C_HALF_PRELUDE } from '../backends/half_c.js';\nexport const planted = C_HALF_PRELUDE;");
  // A cycle inside one layer.
  writeFileSync(join(dir, 'src/lower/planted_a.ts'), "import { b } from './planted_b.js';\nexport const a = () => b();\n");
  writeFileSync(join(dir, 'src/lower/planted_b.ts'), "import { a } from './planted_a.js';\nexport const b = (): unknown => a;\n");
  // api/ may use the backends, but the CUDA backend only through a dynamic import.
  plant('api/compile.ts', "import { CudaBackend } from '../backends/cuda/backend.js';\nexport const PlantedCuda = CudaBackend;");
  // One backend importing the other (cuda/ → cpu/; the reverse would also be a static CUDA import).
  plant('backends/cuda/partials.ts', "import { C_BASE_FLAGS } from '../cpu/compiler.js';\nexport const plantedFlags = C_BASE_FLAGS;");
  // A folder that is no layer of the table.
  mkdirSync(join(dir, 'src/planted'));
  writeFileSync(join(dir, 'src/planted/helper.ts'), 'export const helper = 1;\n');
  plant('observe/log.ts', "import { helper } from '../planted/helper.js';\nexport const plantedHelper = helper;");

  const r = cruise(dir);
  assert.notEqual(r.status, 0, `depcruise must exit non-zero on violations (CI fails):\n${r.output}`);
  assert.deepEqual(
    r.violations.sort(),
    [
      'backends-apart: src/backends/cuda/partials.ts → src/backends/cpu/compiler.ts',
      'cuda-lazy: src/api/compile.ts → src/backends/cuda/backend.ts',
      'layer-cache: src/cache/layout.ts → src/compile/types.ts',
      'layer-compile: src/compile/key.ts → src/graph/shape.ts',
      'layer-graph: src/graph/print.ts → src/frontend/tensor.ts',
      'layer-observe: src/observe/log.ts → src/planted/helper.ts',
      'layer-schedule: src/schedule/check_inputs.ts → src/backends/half_c.ts',
      'no-circular: src/lower/planted_a.ts → src/lower/planted_b.ts → src/lower/planted_a.ts',
      'no-folder-outside-layers: src/observe/log.ts → src/planted/helper.ts',
    ],
    r.output,
  );
});
