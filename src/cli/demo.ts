// kiln demo: compiles and runs the bundled example model (examples/mlp.onnx, a PyTorch MLP
// with GELU and LayerNorm), showing cold or warm compile time and run time.

import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { counters } from '../observe/counters.js';
import { StringTensor } from '../onnx/string_tensor.js';
import { type CommonOpts, addCommonOptions, fmtMs, fmtValues, makeFeeds, median, ms, openModel, preview, printJson } from './common.js';

/** examples/ sits at the package root: three levels above dist/src/cli, two above src/cli. */
export function exampleModel(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const found = [path.resolve(here, '../../../examples/mlp.onnx'), path.resolve(here, '../../examples/mlp.onnx')].find((p) => existsSync(p));
  if (!found) throw new Error(`the example model examples/mlp.onnx is missing from the kiln package (looked near ${here})`);
  return found;
}

export function registerDemo(program: Command): void {
  const cmd = program.command('demo').description('compile and run the bundled example model (an MLP exported from PyTorch)');
  addCommonOptions(cmd);
  cmd.action(async (o: CommonOpts) => {
    const file = exampleModel();
    const model = openModel(file, o);
    const { feeds } = makeFeeds(model, new Map());
    const before = counters();
    const t0 = process.hrtime.bigint();
    const program = await model.compile(feeds);
    const compileMs = ms(t0);
    const after = counters();
    const hit = after.graph_cache_hits > before.graph_cache_hits;
    const times: number[] = [];
    let outs: Awaited<ReturnType<typeof model.runValues>> = {};
    for (let i = 0; i < 10; i++) {
      const t = process.hrtime.bigint();
      outs = await model.runValues(feeds);
      for (const a of Object.values(outs)) if (!(a instanceof StringTensor)) await a.toTypedArray();
      times.push(ms(t));
    }
    const [name, y] = Object.entries(outs)[0]!;
    const values = await preview(y);
    const result = {
      model: file,
      kernels: program.kernelCount,
      cache: hit ? 'warm' : 'cold',
      compileMs,
      runMs: median(times),
      output: { name, shape: [...y.shape], dtype: y.dtype, values },
    };
    if (o.json) return printJson(result);
    console.log(`kiln demo: ${path.basename(file)} (${Object.keys(model.inspect().ops).join(', ')})`);
    console.log(`  compile  ${fmtMs(compileMs)} (${result.cache} cache, ${program.kernelCount} kernels)`);
    console.log(`  run      ${fmtMs(result.runMs)} (median of 10)`);
    console.log(`  ${name}: ${y.dtype}[${y.shape.join(',')}] ${fmtValues(values, y.size)}`);
    if (!hit) console.log('  run `kiln demo` again to see a warm start: no compiler runs.');
  });
}
