// External data is read once: a model of many tensors in one data file reads about the file's
// size, not tensors × size (readExternal once read the whole file per tensor). Counted with
// the kernel's per-process read counter (/proc/self/io rchar), so Linux only.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { loadOnnx } from '../src/api/load_onnx.js';
import { onnxNs } from '../src/onnx/proto.js';
import { ExternalDataWriter } from './fixtures/external_data.js';
import { needs } from './prereq.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-ext-read-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const rchar = (): number => Number(/rchar:\s*(\d+)/.exec(fs.readFileSync('/proc/self/io', 'utf8'))![1]);

/** A chain of `layers` Add nodes, each adding its own [rows, 256] float32 external tensor. */
function writeModel(name: string, layers: number, rows: number): { file: string; dataBytes: number } {
  const onnx = onnxNs();
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const data = new ExternalDataWriter(tmp, `${name}.data`);
  const initializer = [];
  const node = [];
  let x = 'x';
  for (let l = 0; l < layers; l++) {
    initializer.push(data.add(`w${l}`, [rows, 256], new Float32Array(rows * 256).map((_, i) => ((i * 7 + l) % 13) / 13)));
    node.push(onnx.NodeProto.create({ opType: 'Add', input: [x, `w${l}`], output: [`h${l}`] }));
    x = `h${l}`;
  }
  data.close();
  const io = (n: string) => ({ name: n, type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: rows }, { dimValue: 256 }] } } } });
  const m = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: { name, node, initializer, input: [io('x')], output: [io(x)] } });
  const file = path.join(tmp, `${name}.onnx`);
  fs.writeFileSync(file, onnx.ModelProto.encode(m).finish());
  return { file, dataBytes: data.bytes };
}

test('a model of 48 tensors in one external data file reads each byte once', { skip: needs('/proc/self/io', fs.existsSync('/proc/self/io'), 'Linux with per-process I/O accounting') }, () => {
  // Everything loaded on first use (onnx-proto, the importer's modules) is loaded first.
  loadOnnx(writeModel('warmup', 2, 4).file);
  const { file, dataBytes } = writeModel('many', 48, 128);
  assert.equal(dataBytes, 48 * 128 * 256 * 4); // 6.3 MB
  const before = rchar();
  const model = loadOnnx(file);
  const read = rchar() - before;
  assert.equal(model.inputNames[0], 'x');
  // The data once, plus the model file and slack for whatever else the process reads; reading
  // the whole file per tensor would be 48 × 6.3 MB.
  assert.ok(read >= dataBytes, `read ${read} bytes, fewer than the data's ${dataBytes}`);
  assert.ok(read < dataBytes * 1.1 + (1 << 20), `read ${read} bytes for ${dataBytes} bytes of external data`);
});
