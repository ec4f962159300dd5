// The big generated model of the load and warm-start benches: an MLP of `layers`
// MatMul+Add+Relu layers of d × d float32 weights and d biases, every initializer in one
// external data file (12 × 2048² × 4 B = 201 MB), input 'x' of [4, d]. Written by
// bench/load_throughput.ts (load throughput) and bench/mlp_suite.ts (the same model as a
// real-model-suite folder, for bench/real_models.ts's cold and warm starts).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExternalDataWriter } from '../test/fixtures/external_data.js';

/** The cheap LCG the weights come from: the values do not matter, only that they are not all equal. */
export function mlpWeights(seed: number, n: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) | 0;
    a[i] = ((s >>> 8) / 16777216 - 0.5) * scale;
  }
  return a;
}

export interface MlpModel {
  file: string;
  /** The weights' byte count. */
  bytes: number;
  /** Each layer's weight [d, d] and bias [d]. */
  layers: { w: Float32Array; b: Float32Array }[];
}

/** Writes the model and its data file (`inline`: every initializer's raw data in the model file instead). */
export async function writeMlpModel(dir: string, layers: number, d: number, inline = false): Promise<MlpModel> {
  const { default: onnxProto } = await import('onnx-proto');
  const { onnx } = onnxProto;
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const data = new ExternalDataWriter(dir, 'mlp.onnx.data');
  let seed = 1;
  const initializer: InstanceType<typeof onnx.TensorProto>[] = [];
  const node: InstanceType<typeof onnx.NodeProto>[] = [];
  const weights: MlpModel['layers'] = [];
  let bytes = 0;
  const ext = (name: string, dims: number[], scale: number) => {
    const a = mlpWeights(seed++, dims.reduce((x, y) => x * y, 1), scale);
    bytes += a.byteLength;
    initializer.push(inline ? onnx.TensorProto.create({ name, dims, dataType: FLOAT, rawData: new Uint8Array(a.buffer) }) : data.add(name, dims, a));
    return a;
  };
  let x = 'x';
  for (let l = 0; l < layers; l++) {
    weights.push({ w: ext(`w${l}`, [d, d], 2 / Math.sqrt(d)), b: ext(`b${l}`, [d], 0.1) });
    node.push(onnx.NodeProto.create({ opType: 'MatMul', input: [x, `w${l}`], output: [`m${l}`] }));
    node.push(onnx.NodeProto.create({ opType: 'Add', input: [`m${l}`, `b${l}`], output: [`a${l}`] }));
    node.push(onnx.NodeProto.create({ opType: 'Relu', input: [`a${l}`], output: [`h${l}`] }));
    x = `h${l}`;
  }
  data.close();
  const io = (name: string) => ({ name, type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 4 }, { dimValue: d }] } } } });
  const m = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'kiln bench/mlp_model.ts',
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'big_mlp', node, initializer, input: [io('x')], output: [io(x)] },
  });
  const file = join(dir, 'mlp.onnx');
  writeFileSync(file, onnx.ModelProto.encode(m).finish());
  return { file, bytes, layers: weights };
}
