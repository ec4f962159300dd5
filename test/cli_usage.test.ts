// The kiln command's surface, run as a subprocess: --help on every command, --version,
// bad usage (exit 2 with a message), missing and invalid files (exit 2), unsupported models
// (exit 1 listing the problems), and --json errors that scripts can parse.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

const here = path.dirname(fileURLToPath(import.meta.url));
const MAIN = path.resolve(here, '../src/cli/main.js');
const REPO = path.resolve(here, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-cli-usage-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

export function kiln(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, KILN_CACHE_DIR: path.join(tmp, 'cache'), KILN_WORKERS: '2', ...env },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const MODEL = path.join(REPO, 'examples/mlp.onnx');

test('--help on every command exits 0 with usage', () => {
  for (const cmd of [[], ['run'], ['compile'], ['bench'], ['inspect'], ['demo'], ['cache'], ['cache', 'stats'], ['cache', 'clear'], ['cache', 'export'], ['cache', 'import']]) {
    const r = kiln([...cmd, '--help']);
    assert.equal(r.code, 0, `${cmd.join(' ')} --help: ${r.stderr}`);
    assert.match(r.stdout, /^Usage: kiln/, cmd.join(' '));
  }
  const top = kiln(['--help']).stdout;
  for (const c of ['run', 'compile', 'bench', 'inspect', 'demo', 'cache']) assert.match(top, new RegExp(`\\n  ${c} `));
  assert.match(kiln(['run', '--help']).stdout, /--input <name=file\.npy>[\s\S]*--output <dir>[\s\S]*--device/);
  assert.match(kiln(['compile', '--help']).stdout, /--arch/);
});

test('--version prints the package version', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
  const r = kiln(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), pkg.version);
});

test('bad usage exits 2 with a message', () => {
  const cases: [string[], RegExp][] = [
    [[], /Usage: kiln/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['run'], /missing required argument 'model'/],
    [['run', MODEL, '--bogus'], /unknown option '--bogus'/],
    [['run', MODEL, '--device', 'tpu'], /Allowed choices are cpu, cuda/],
    [['bench', MODEL, '--runs', 'zero'], /--runs must be an integer/],
    [['run', MODEL, '--input', 'x'], /--input expects name=value/],
    [['run', MODEL, '--input', 'nope=a.npy'], /not an input of the model \(inputs: x: float32\[4,16\]\)/],
    [['run', MODEL, '--shape', 'x=4,a'], /not a list of dims/],
    [['run', path.join(REPO, 'test/fixtures/onnx/mlp_dynamic.onnx')], /dim 0 is symbolic \('batch'\).*--shape/],
  ];
  for (const [args, re] of cases) {
    const r = kiln(args);
    assert.equal(r.code, 2, `kiln ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr + r.stdout, re, `kiln ${args.join(' ')}`);
  }
});

test('symbolic dims given no size, or a size the model contradicts: exit 2 naming the input, the dim and how to give it', () => {
  const fix = path.join(REPO, 'test/fixtures/onnx');
  const mlp = path.join(fix, 'mlp_dynamic.onnx');
  const attention = path.join(fix, 'attention_dynamic.onnx');
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const cases: [string[], RegExp][] = [
    // Every command that compiles, with neither -i nor --shape: each unsized dim named, and both ways to size it.
    ...['run', 'compile', 'bench', 'inspect'].map((cmd): [string[], RegExp] => [
      [cmd, attention],
      new RegExp(`${esc(attention)}: input 'x' dim 0 is symbolic \\('batch'\\); input 'x' dim 1 is symbolic \\('time'\\): give its data or shape with -i x=file\\.npy or --shape x=d0,d1,\\.\\.\\.${cmd === 'inspect' ? ', or --no-kernels to list the model without its kernels' : '$'}`, 'm'),
    ]),
    // A file whose rank or fixed dims the model contradicts.
    [['run', mlp, '-i', `x=${path.join(fix, 'attention_dynamic.input.npy')}`], /--input x: .*attention_dynamic\.input\.npy holds \[2,8,16\], but the model declares x\[batch,16\]/],
    [['run', mlp, '--shape', 'x=4,17'], /--shape x \[4,17\], but the model declares x\[batch,16\]/],
    // --shape pins the shape; a file of another shape is refused, not silently reshaped.
    [['run', mlp, '--shape', 'x=2,16', '-i', `x=${path.join(fix, 'mlp_dynamic.input.npy')}`], /--input x: .* holds float32\[4,16\], the model expects float32\[2,16\]/],
    [['run', mlp, '--shape', 'nope=1,16'], /--shape names 'nope', which is not an input of the model \(inputs: x\[batch,16\]\)/],
    [['compile', mlp, '--shape', 'x=1,16', '-i', 'nope=a.npy'], /--input names 'nope', which is not an input of the model/],
    [['run', mlp, '-i', `x=${path.join(tmp, 'absent.npy')}`], /--input x '.*absent\.npy' does not exist/],
  ];
  for (const [args, re] of cases) {
    const r = kiln(args);
    assert.equal(r.code, 2, `kiln ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr + r.stdout, re, `kiln ${args.join(' ')}`);
  }
});

test('missing or invalid files exit 2 with a clear message', () => {
  const missing = path.join(tmp, 'missing.onnx');
  for (const cmd of ['run', 'compile', 'bench', 'inspect']) {
    const r = kiln([cmd, missing]);
    assert.equal(r.code, 2, `${cmd}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`model file '${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}' does not exist`));
  }
  const junk = path.join(tmp, 'junk.onnx');
  fs.writeFileSync(junk, 'not a model');
  const r = kiln(['inspect', junk]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /junk\.onnx: not a valid ONNX model/);
  const npy = kiln(['run', MODEL, '--input', `x=${path.join(tmp, 'none.npy')}`]);
  assert.equal(npy.code, 2);
  assert.match(npy.stderr, /--input x '.*none\.npy' does not exist/);
  const imp = kiln(['cache', 'import', path.join(tmp, 'none.kiln')]);
  assert.equal(imp.code, 2);
  assert.match(imp.stderr, /artifact file '.*none\.kiln' does not exist/);
});

test('an unsupported model exits 1 listing what is unsupported', () => {
  const r = kiln(['run', path.join(REPO, 'test/conformance/onnx-node/test_identity_sequence/model.onnx')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /unsupported features:\n  - graph input 'x': sequence type \(only tensors are supported\)\n  - graph output 'y': sequence type/);
});

test('--json errors are one parseable object on stdout', () => {
  const r = kiln(['inspect', path.join(tmp, 'missing.onnx'), '--json']);
  assert.equal(r.code, 2);
  const j = JSON.parse(r.stdout) as { error: { name: string; message: string; exitCode: number } };
  assert.equal(j.error.exitCode, 2);
  assert.match(j.error.message, /does not exist/);
});

test('the kiln command runs as a program: `npx kiln` in a fresh clone needs the executable bit and the shebang', () => {
  assert.ok((fs.statSync(MAIN).mode & 0o111) !== 0, `${MAIN} is not executable (npm run build marks it)`);
  assert.match(fs.readFileSync(MAIN, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  // Run it directly, as a shell would, not through `node main.js`.
  const r = spawnSync(MAIN, ['--version'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\d+\.\d+\.\d+/);
});
