// kiln inspect model.onnx: what the model holds (operators, inputs, outputs, weights) and
// what kiln makes of it: the kernels after fusion, each with the graph ops it computes.
// A model kiln cannot convert (an unsupported operator, attribute or type) is still listed,
// from its protobuf, with the unsupported operators marked and every issue named: with
// --no-kernels that report is the whole answer (exit 0); asking for kernels then exits 1.

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { onnxTypeName } from '../onnx/dtypes.js';
import { OnnxUnsupportedError } from '../onnx/errors.js';
import { MissingSizesError } from './errors.js';
import { declaredType, decodeModel, num, tensorDims } from '../onnx/proto.js';
import { type CommonOpts, addCommonOptions, readInputFiles, collect, makeFeeds, openModel, printJson } from './common.js';

interface InspectOpts extends CommonOpts {
  kernels: boolean;
  input?: string[];
}

interface RawInfo {
  opset: number;
  producer: string;
  nodes: number;
  ops: Record<string, number>;
  initializers: { count: number; elements: number };
  inputs: { name: string; type: string }[];
  outputs: string[];
  /** Operators kiln has no converter for. */
  unsupportedOps: string[];
  /** Every issue the loader found (operators, attributes, element types). */
  unsupported: string[];
}

/** The model as its file says, for a model kiln cannot convert (nothing is imported). */
function rawInfo(file: string, err: OnnxUnsupportedError): RawInfo {
  const proto = decodeModel(readFileSync(file), file);
  const graph = proto.graph!;
  const opsetEntry = (proto.opsetImport ?? []).find((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx');
  const ops: Record<string, number> = {};
  for (const n of graph.node ?? []) {
    const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType ?? ''}` : (n.opType ?? '');
    ops[key] = (ops[key] ?? 0) + 1;
  }
  const inits = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  let elements = 0;
  for (const t of graph.initializer ?? []) elements += tensorDims(t).reduce((a, d) => a * d, 1);
  const inputs = (graph.input ?? [])
    .filter((v) => !inits.has(v.name ?? ''))
    .map((v) => {
      const t = declaredType(v);
      return { name: v.name ?? '', type: t.kind !== 'tensor' ? t.kind : `${onnxTypeName(t.elemType)}${t.dims ? `[${t.dims.join(',')}]` : ''}` };
    });
  const unsupportedOps = err.issues.flatMap((i) => /^operator (\S+) is not supported/.exec(i)?.[1] ?? []);
  return {
    opset: opsetEntry ? num(opsetEntry.version) : 0,
    producer: [proto.producerName, proto.producerVersion].filter(Boolean).join(' '),
    nodes: (graph.node ?? []).length,
    ops,
    initializers: { count: inits.size, elements },
    inputs,
    outputs: (graph.output ?? []).map((v) => v.name ?? ''),
    unsupportedOps,
    unsupported: [...err.issues],
  };
}

function printOps(ops: Record<string, number>, unsupported: ReadonlySet<string> = new Set()): void {
  for (const [op, n] of Object.entries(ops).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) {
    console.log(`    ${String(n).padStart(5)}  ${op}${unsupported.has(op) ? '  (unsupported)' : ''}`);
  }
}

export function registerInspect(program: Command): void {
  const cmd = program
    .command('inspect')
    .description('list the model\'s operators and the kernels kiln fuses them into')
    .argument('<model>', 'ONNX model file')
    .option('--no-kernels', 'skip compiling: report the model only (also for a model kiln cannot compile: exit 0, unsupported ops marked)')
    .option('-i, --input <name=file.npy>', 'input from a .npy file: its shape sizes symbolic dims, its value feeds an input that sets shapes in the model (repeatable)', collect);
  addCommonOptions(cmd);
  cmd.action(async (file: string, o: InspectOpts) => {
    const files = readInputFiles(o.input);
    let model;
    try {
      // Listing a model needs no sizes for its symbolic dims; its kernels do.
      model = openModel(file, o, files, {}, o.kernels);
    } catch (e) {
      // The kernels need sizes; the listing does not: say so beside the ways to give them.
      if (e instanceof MissingSizesError) throw new MissingSizesError(`${e.message}, or --no-kernels to list the model without its kernels`);
      if (!(e instanceof OnnxUnsupportedError)) throw e;
      // --json with kernels asked for: the error object alone, so stdout stays one object.
      if (o.json && o.kernels) throw e;
      const info = rawInfo(file, e);
      if (o.json) printJson({ model: file, supported: false, ...info });
      else {
        console.log(`${file}: opset ${info.opset}${info.producer ? `, from ${info.producer}` : ''}`);
        console.log(`  inputs:  ${info.inputs.map((i) => `${i.name}: ${i.type}`).join(', ')}`);
        console.log(`  outputs: ${info.outputs.join(', ')}`);
        console.log(`  weights: ${info.initializers.count} initializers, ${info.initializers.elements} elements`);
        console.log(`  ${info.nodes} nodes:`);
        printOps(info.ops, new Set(info.unsupportedOps));
        console.log(`  kiln cannot compile this model (${info.unsupported.length} unsupported feature${info.unsupported.length === 1 ? '' : 's'}):`);
        for (const i of info.unsupported) console.log(`    - ${i}`);
      }
      // The listing was the request: done. Kernels were asked for: they cannot exist.
      if (!o.kernels) return;
      throw e;
    }
    // Feeds only for kernels: a model listed unsized (--no-kernels) has no shapes to make them with.
    const feeds = o.kernels && model.valueInputs.length ? makeFeeds(model, files).feeds : undefined;
    const kernels = o.kernels ? (await model.compile(feeds)).inspect().kernels : undefined;
    const info = model.inspect();
    if (o.json) return printJson({ model: file, supported: true, ...info, ...(kernels ? { kernels } : {}) });
    console.log(`${file}: opset ${info.opset}${info.producer ? `, from ${info.producer}` : ''}`);
    console.log(`  inputs:  ${info.inputs.map((i) => `${i.name}: ${i.dtype}[${i.dims.join(',')}]`).join(', ')}`);
    console.log(`  outputs: ${info.outputs.join(', ')}`);
    console.log(`  weights: ${info.initializers.count} initializers, ${info.initializers.elements} elements`);
    console.log(`  ${info.nodes} nodes:`);
    printOps(info.ops);
    if (kernels) {
      console.log(`  ${kernels.length} kernels after fusion:`);
      for (const k of kernels) console.log(`    ${k.name}  ${k.kind.padEnd(10)} ${k.ops.join(' ')}`);
    }
  });
}
