// kiln run model.onnx: compile (or load from cache) and run once on given or random inputs.

import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { writeNpy } from '../onnx/npy.js';
import { StringTensor } from '../onnx/string_tensor.js';
import { checkOutputDir } from './output_path.js';
import { type CommonOpts, addCommonOptions, readInputFiles, collect, fmtMs, fmtValues, makeFeeds, ms, openModel, preview, printJson, safeFileName, status } from './common.js';
import { setting } from '../config/read.js';
import { counters } from '../observe/counters.js';

interface RunOpts extends CommonOpts {
  input?: string[];
  output?: string;
}

export function registerRun(program: Command): void {
  const cmd = program
    .command('run')
    .description('compile a model (or load it from the cache) and run it once')
    .argument('<model>', 'ONNX model file')
    .option('-i, --input <name=file.npy>', 'input from a .npy file, which also sizes its symbolic dims (repeatable; other inputs get seeded random data)', collect)
    .option('-o, --output <dir>', 'write each output to <dir>/<name>.npy (a STRING output to <name>.json); <dir> is created if needed, files of the same names in it are replaced');
  addCommonOptions(cmd);
  cmd.action(async (file: string, o: RunOpts) => {
    const files = readInputFiles(o.input);
    // Checked before loading or compiling anything: a file in the way is a usage error now,
    // not an EEXIST after the whole run.
    if (o.output) checkOutputDir(o.output, '--output');
    const t0 = process.hrtime.bigint();
    const model = openModel(file, o, files);
    const loadMs = ms(t0);
    const { feeds, info } = makeFeeds(model, files);
    const t1 = process.hrtime.bigint();
    status.show(`compiling ${file}…`);
    const program = await model.compile(feeds).finally(() => status.clear());
    const compileMs = ms(t1);
    const t2 = process.hrtime.bigint();
    const outs = await model.runValues(feeds);
    const outputs = [];
    for (const [name, a] of Object.entries(outs)) {
      outputs.push({ name, shape: [...a.shape], dtype: a.dtype, values: await preview(a), size: a.size });
    }
    const runMs = ms(t2);
    const written: string[] = [];
    if (o.output) {
      mkdirSync(o.output, { recursive: true });
      for (const [name, a] of Object.entries(outs)) {
        // NumPy's fixed-width unicode arrays are no help to a Node reader: strings go to JSON.
        const f = path.join(o.output, `${safeFileName(name)}.${a instanceof StringTensor ? 'json' : 'npy'}`);
        if (a instanceof StringTensor) writeFileSync(f, JSON.stringify({ shape: a.shape, data: a.data }) + '\n');
        else await writeNpy(f, a);
        written.push(f);
      }
    }
    if (o.json) {
      printJson({
        model: file,
        device: o.device ?? setting('KILN_DEVICE'),
        kernels: program.kernelCount,
        graphCache: program.graphCache,
        inputs: info,
        outputs: outputs.map((x, i) => ({ ...x, ...(written[i] ? { file: written[i] } : {}) })),
        timesMs: { load: loadMs, compile: compileMs, run: runMs },
        // Graph builds, shape variants, cache hits and compiles of this run (observe/counters.ts).
        counters: counters(),
      });
      return;
    }
    console.log(`${file}: ${program.kernelCount} kernels (graph cache ${program.graphCache}); load ${fmtMs(loadMs)}, compile ${fmtMs(compileMs)}, run ${fmtMs(runMs)}`);
    for (const i of info) console.log(`  input  ${i.name}: ${i.dtype}[${i.shape.join(',')}] (${i.source})`);
    for (const [k, x] of outputs.entries()) {
      console.log(`  output ${x.name}: ${x.dtype}[${x.shape.join(',')}] ${fmtValues(x.values, x.size)}${written[k] ? ` → ${written[k]}` : ''}`);
    }
  });
}
