// Issue 14 item 3: index operations never touch memory outside their buffer, and an index out
// of range (after one wrap of a negative index, as ONNX defines) is an error naming the ONNX
// node or the graph op, the index, where it is and the dim's size, raised when the run's
// results come back. Used to read other memory (NaN, 4.59e-41) or segfault; scatters dropped
// such updates silently.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import onnxProto from 'onnx-proto';

import { IndexRangeError, compile } from '../src/index.js';
import { NDArray } from '../src/graph/ndarray.js';
import { onnxDType } from '../src/onnx/dtypes.js';
import { loadOnnx } from '../src/api/load_onnx.js';
import { readBack, testDevice } from './helpers.js';

const { onnx } = onnxProto;
const AT = onnx.AttributeProto.AttributeType;
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-index-checks-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
// On the CPU by default; on CUDA under KILN_TEST_DEVICE=cuda (npm run test:gpu), where the
// error is raised when a result is first read back.
const opts = { cacheDir, workers: 2, device: testDevice };

const i64 = (v: number[], shape = [v.length]) => NDArray.from(BigInt64Array.from(v.map(BigInt)), shape);
const table = NDArray.from(Float32Array.from({ length: 20 }, (_, i) => i), [5, 4]);

test('Tensor.gather: in-range and wrapped indices read their rows; past the end or below -n is an error naming the op, index and size', async () => {
  const f = compile((x, i) => x.gather(0, i).mul(2), opts);
  assert.deepEqual(await (await f(table, i64([4, -5]))).toArray(), [32, 34, 36, 38, 0, 2, 4, 6]);
  await assert.rejects(readBack(f(table, i64([1, 5]))), (e: Error) => {
    assert.ok(e instanceof IndexRangeError, String(e));
    assert.match(e.message, /^gather \(graph node \d+\): index 5 at indices\[1\] is out of range for dim 0 of data \[5, ?4\]: size 5, valid -5 to 4/);
    return true;
  });
  await assert.rejects(readBack(f(table, i64([-6, 0]))), /index -6 at indices\[0\]/);
  await assert.rejects(readBack(f(table, i64([0, 1, 2, 1 << 30, 2 ** 40], [5]))), /index 1073741824 at indices\[3\]/);
  // The program still runs good indices afterwards.
  assert.deepEqual(await (await f(table, i64([0]))).toArray(), [0, 2, 4, 6]);
});

/** A one-node model: `inputs` are graph inputs (their NDArrays give dtype and shape), `table` an initializer. */
function oneNode(opType: string, inputs: [string, NDArray][], attrs: { name: string; i: number }[] = [], withTable = true): Uint8Array {
  const m = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      node: [{ opType, name: 'embed', input: [...(withTable ? ['table'] : []), ...inputs.map(([n]) => n)], output: ['out'], attribute: attrs.map((a) => ({ ...a, type: AT.INT })) }],
      input: inputs.map(([name, a]) => ({ name, type: { tensorType: { elemType: onnxDType(a.dtype), shape: { dim: a.shape.map((d) => ({ dimValue: d })) } } } })),
      output: [{ name: 'out', type: { tensorType: { elemType: 0 } } }],
      initializer: withTable ? [{ name: 'table', dims: [...table.shape], dataType: onnxDType('float32'), floatData: [...(table.toTypedArraySync() as Float32Array)] }] : [],
    },
  });
  return onnx.ModelProto.encode(m).finish();
}

const rejectsWith = (p: Promise<unknown>, re: RegExp) =>
  assert.rejects(p, (e: Error) => {
    assert.ok(e instanceof IndexRangeError, String(e));
    assert.match(e.message, re);
    return true;
  });

test('ONNX Gather (an embedding) with a bad token id is an error naming the node', async () => {
  const ids = i64([0, 4, -1], [1, 3]);
  const model = loadOnnx(oneNode('Gather', [['ids', ids]]), opts);
  const ok = await model.run({ ids });
  assert.deepEqual(await (ok.out as NDArray).toArray(), [0, 1, 2, 3, 16, 17, 18, 19, 16, 17, 18, 19]);
  await rejectsWith(readBack(model.run({ ids: i64([0, 50257, 2], [1, 3]) })), /^Gather 'embed': index 50257 at indices\[0,1\] is out of range for dim 0 of data \[5, ?4\]: size 5, valid -5 to 4/);
});

test('ONNX GatherElements and GatherND with run-time indices out of range are errors naming the node', async () => {
  const ge = loadOnnx(oneNode('GatherElements', [['ids', i64([0, 3, 1, 2], [1, 4])]], [{ name: 'axis', i: 0 }]), opts);
  assert.deepEqual(await ((await ge.run({ ids: i64([0, 3, -1, 2], [1, 4]) })).out as NDArray).toArray(), [0, 13, 18, 11]);
  await rejectsWith(readBack(ge.run({ ids: i64([0, 3, 5, 2], [1, 4]) })), /^GatherElements 'embed': index 5 at indices\[0,2\] is out of range for dim 0/);
  const gnd = loadOnnx(oneNode('GatherND', [['ids', i64([4, 3, 0, 0], [2, 2])]]), opts);
  assert.deepEqual(await ((await gnd.run({ ids: i64([4, 3, -1, -4], [2, 2]) })).out as NDArray).toArray(), [19, 16]);
  await rejectsWith(readBack(gnd.run({ ids: i64([4, 3, 1, 4], [2, 2]) })), /^GatherND 'embed': index 4 at indices\[1,1\] \(coordinate 1 of 2\) is out of range for dims 0 to 1 of data \[5, ?4\]: size 4/);
});

test('ONNX ScatterND / ScatterElements updates out of range are errors (they were dropped silently)', async () => {
  const upd = NDArray.from(Float32Array.from([100, 200, 300, 400]), [1, 4]);
  const se = loadOnnx(oneNode('ScatterElements', [['ids', i64([0, 1, 2, 3], [1, 4])], ['upd', upd]], [{ name: 'axis', i: 0 }]), opts);
  const good = await se.run({ ids: i64([0, 1, -1, 3], [1, 4]), upd });
  assert.deepEqual((await (good.out as NDArray).toArray()).slice(0, 4), [100, 1, 2, 3]);
  await rejectsWith(readBack(se.run({ ids: i64([0, 1, 7, 3], [1, 4]), upd })), /^ScatterElements 'embed': index 7 at indices\[0,2\] is out of range for dim 0 of data \[5, ?4\]: size 5/);
  const rows = NDArray.from(new Float32Array(8).fill(-1), [2, 4]);
  const snd = loadOnnx(oneNode('ScatterND', [['ids', i64([1, 3], [2, 1])], ['upd', rows]]), opts);
  await rejectsWith(readBack(snd.run({ ids: i64([1, -9], [2, 1]), upd: rows })), /^ScatterND 'embed': index -9 at indices\[1,0\] is out of range for the first 1 dims of data \[5, ?4\]: size 5/);
});

test('a model whose import leaves dead nodes (a value only its Shape reads) keeps its gathers\' range checks: the pruned graph carries them', async () => {
  const { model: writeModel, vi, F, I64, AT: WAT } = await import('./onnx_writer.js');
  const bytes = writeModel({
    nodes: [
      { op: 'Gather', inputs: ['table', 'ids'], outputs: ['y'], attrs: [{ name: 'axis', i: 0, type: WAT.INT }] },
      { op: 'Relu', inputs: ['x'], outputs: ['r'] },
      { op: 'Shape', inputs: ['r'], outputs: ['sh'] },
      { op: 'Cast', inputs: ['sh'], outputs: ['shf'], attrs: [{ name: 'to', i: F, type: WAT.INT }] },
      { op: 'Add', inputs: ['x', 'shf'], outputs: ['z'] },
    ],
    inputs: [vi('ids', I64, [2]), vi('x', F, [1])],
    outputs: [vi('y', F, [2, 4]), vi('z', F, [1])],
    initializers: [{ name: 'table', dims: [5, 4], dataType: F, floatData: Array.from({ length: 20 }, (_, i) => i) }],
  });
  const m = loadOnnx(bytes, opts);
  const x = NDArray.from(Float32Array.from([0.5]), [1]);
  const ok = await m.run({ ids: i64([4, 0]), x });
  assert.deepEqual(await ok.y!.toArray(), [16, 17, 18, 19, 0, 1, 2, 3]);
  assert.deepEqual(await ok.z!.toArray(), [1.5]);
  assert.ok(m.graphFor()!.traced.graph.nodes.every((n) => !(n.op === 'unary' && n.fn === 'relu')), 'the Relu was pruned');
  await assert.rejects(readBack(m.run({ ids: i64([1, 7]), x }).then((o) => o.y!)), (e: Error) => e instanceof IndexRangeError && /index 7 at indices\[1\] is out of range for dim 0 of data \[5, ?4\]/.test(e.message));
  m.dispose();
});
