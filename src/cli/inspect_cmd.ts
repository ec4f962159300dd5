// kiln inspect model.onnx: what the model holds (operators, inputs, outputs, weights) and
// what kiln makes of it: the kernels after fusion, each with the graph ops it computes.

import type { Command } from 'commander';
import { fmtShape } from '../graph/shape.js';
import { type CommonOpts, addCommonOptions, collect, makeFeeds, openModel, printJson } from './common.js';

interface InspectOpts extends CommonOpts {
  kernels: boolean;
  input?: string[];
}

export function registerInspect(program: Command): void {
  const cmd = program
    .command('inspect')
    .description('list the model\'s operators and the kernels kiln fuses them into')
    .argument('<model>', 'ONNX model file')
    .option('--no-kernels', 'skip compiling: report the model only')
    .option('-i, --input <name=file.npy>', 'value of an input that sets shapes in the model (repeatable)', collect);
  addCommonOptions(cmd);
  cmd.action(async (file: string, o: InspectOpts) => {
    const model = openModel(file, o);
    const feeds = model.valueInputs.length ? makeFeeds(model, o.input ?? []).feeds : undefined;
    const kernels = o.kernels ? (await model.compile(feeds)).inspect().kernels : undefined;
    const info = model.inspect();
    if (o.json) return printJson({ model: file, ...info, ...(kernels ? { kernels } : {}) });
    console.log(`${file}: opset ${info.opset}${info.producer ? `, from ${info.producer}` : ''}`);
    console.log(`  inputs:  ${info.inputs.map((i) => `${i.name}: ${i.dtype}${fmtShape(i.shape)}`).join(', ')}`);
    console.log(`  outputs: ${info.outputs.join(', ')}`);
    console.log(`  weights: ${info.initializers.count} initializers, ${info.initializers.elements} elements`);
    console.log(`  ${info.nodes} nodes:`);
    for (const [op, n] of Object.entries(info.ops).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) console.log(`    ${String(n).padStart(5)}  ${op}`);
    if (kernels) {
      console.log(`  ${kernels.length} kernels after fusion:`);
      for (const k of kernels) console.log(`    ${k.name}  ${k.kind.padEnd(10)} ${k.ops.join(' ')}`);
    }
  });
}
