// kiln compile model.onnx: generate and compile every kernel into the cache, run nothing.
// With --device cuda this needs no GPU (the compile runs on NVRTC/nvcc alone), so a build
// machine can warm the cache that GPU machines then start from.

import type { Command } from 'commander';
import { type CommonOpts, addCommonOptions, readInputFiles, collect, fmtMs, makeFeeds, ms, openModel, printJson, status } from './common.js';
import { setting } from '../config/read.js';
import { counters } from '../observe/counters.js';

interface CompileOpts extends CommonOpts {
  arch?: string;
  input?: string[];
  load?: boolean;
}

export function registerCompile(program: Command): void {
  const cmd = program
    .command('compile')
    .description('compile a model into the cache without running it (warms the cache)')
    .argument('<model>', 'ONNX model file')
    .option('--arch <sm_XX>', 'CUDA architecture to compile for, e.g. sm_90 (with --device cuda)')
    .option('--load', 'also load the kernels on the device, as a first run would (needs the device)')
    .option('-i, --input <name=file.npy>', 'input from a .npy file: its shape sizes symbolic dims, its value feeds an input that sets shapes in the model (repeatable)', collect);
  addCommonOptions(cmd);
  cmd.action(async (file: string, o: CompileOpts) => {
    const files = readInputFiles(o.input);
    const t0 = process.hrtime.bigint();
    const model = openModel(file, o, files);
    // Only inputs that set shapes matter for compiling; the others get placeholders.
    const feeds = model.valueInputs.length ? makeFeeds(model, files).feeds : undefined;
    status.show(`compiling ${file}…`);
    const program = await model.compile(feeds, { ...(o.device ? { device: o.device } : {}), ...(o.arch ? { arch: o.arch } : {}), compileOnly: !o.load });
    status.clear();
    const total = ms(t0);
    const device = o.device ?? setting('KILN_DEVICE');
    if (o.json) {
      printJson({ model: file, device, ...(o.arch ? { arch: o.arch } : {}), kernels: program.kernelCount, graphKey: program.graphKey, graphCache: program.graphCache, timeMs: total, counters: counters() });
      return;
    }
    const how = program.graphCache === 'hit' ? 'already cached' : 'compiled';
    console.log(`${file}: ${how}: ${program.kernelCount} kernels for ${device}${o.arch ? ` (${o.arch})` : ''} in ${fmtMs(total)}`);
  });
}
