// Operators whose ONNX node tests are float64-only (so the conformance suite reports them
// as out of kiln's dtypes) or missing, checked here in float32 against hand-computed
// values, through the compiled path: CumSum, Einsum, ReduceLogSumExp, Mod, Hardmax, Mish,
// Gelu, Pad modes, EyeLike, Xor.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import onnxProto from 'onnx-proto';

import { NDArray } from '../src/graph/ndarray.js';
import { onnxDType } from '../src/onnx/dtypes.js';
import { loadOnnx } from '../src/api/load_onnx.js';

const { onnx } = onnxProto;
const AT = onnx.AttributeProto.AttributeType;
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-onnx-ops-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

type Attr = { name: string; i?: number; f?: number; s?: string; ints?: number[] };

/** Runs one node over the given inputs (float32 unless an NDArray says otherwise). */
async function op(opType: string, inputs: NDArray[], attrs: Attr[] = [], opset = 17, consts: { name: string; data: number[] }[] = [], nOut = 1) {
  const names = inputs.map((_, i) => `in${i}`);
  const elem = (a: NDArray) => onnxDType(a.dtype);
  const m = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: 'g',
      node: [
        {
          opType,
          input: [...names, ...consts.map((c) => c.name)],
          output: Array.from({ length: nOut }, (_, i) => `out${i}`),
          attribute: attrs.map((a) => ({
            name: a.name,
            ...(a.i !== undefined ? { i: a.i, type: AT.INT } : {}),
            ...(a.f !== undefined ? { f: a.f, type: AT.FLOAT } : {}),
            ...(a.s !== undefined ? { s: new TextEncoder().encode(a.s), type: AT.STRING } : {}),
            ...(a.ints !== undefined ? { ints: a.ints, type: AT.INTS } : {}),
          })),
        },
      ],
      input: inputs.map((a, i) => ({ name: names[i], type: { tensorType: { elemType: elem(a), shape: { dim: a.shape.map((d) => ({ dimValue: d })) } } } })),
      output: Array.from({ length: nOut }, (_, i) => ({ name: `out${i}`, type: { tensorType: { elemType: 0 } } })),
      initializer: consts.map((c) => ({ name: c.name, dims: [c.data.length], dataType: 7, int64Data: c.data })),
    },
  });
  const model = loadOnnx(onnx.ModelProto.encode(m).finish(), { cacheDir, workers: 2 });
  const outs = await model.run(Object.fromEntries(names.map((n, i) => [n, inputs[i]!])));
  const res = [];
  for (let i = 0; i < nOut; i++) {
    const a = outs[`out${i}`] as NDArray;
    res.push({ shape: [...a.shape], data: [...(await a.toTypedArray())].map(Number) });
  }
  return res;
}

const f32 = (data: number[], shape: number[]) => NDArray.from(Float32Array.from(data), shape);
function near(got: number[], want: number[], msg = '') {
  assert.equal(got.length, want.length, msg);
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]!) <= 1e-5 + 1e-4 * Math.abs(want[i]!), `${msg} element ${i}: ${g} vs ${want[i]}`));
}

test('CumSum: plain, exclusive, reverse, negative axis', async () => {
  const x = f32([1, 2, 3, 4, 5, 6], [2, 3]);
  const run = async (attrs: Attr[], axis: number) => (await op('CumSum', [x], attrs, 17, [{ name: 'axis', data: [axis] }]))[0]!.data;
  assert.deepEqual(await run([], 1), [1, 3, 6, 4, 9, 15]);
  assert.deepEqual(await run([{ name: 'exclusive', i: 1 }], 1), [0, 1, 3, 0, 4, 9]);
  assert.deepEqual(await run([{ name: 'reverse', i: 1 }], -1), [6, 5, 3, 15, 11, 6]);
  assert.deepEqual(await run([{ name: 'exclusive', i: 1 }, { name: 'reverse', i: 1 }], 0), [4, 5, 6, 0, 0, 0]);
});

test('Einsum: batch matmul, transpose, sum, inner product, batch diagonal', async () => {
  const a = f32([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2]);
  const b = f32([1, 0, 0, 1, 2, 1, 1, 2], [2, 2, 2]);
  const [bm] = await op('Einsum', [a, b], [{ name: 'equation', s: 'bij,bjk->bik' }]);
  assert.deepEqual(bm!.data, [1, 2, 3, 4, 5 * 2 + 6, 5 + 12, 7 * 2 + 8, 7 + 16]);
  const m = f32([1, 2, 3, 4, 5, 6], [2, 3]);
  assert.deepEqual((await op('Einsum', [m], [{ name: 'equation', s: 'ij->ji' }]))[0], { shape: [3, 2], data: [1, 4, 2, 5, 3, 6] });
  assert.deepEqual((await op('Einsum', [m], [{ name: 'equation', s: 'ij->i' }]))[0]!.data, [6, 15]);
  const v = f32([1, 2, 3], [3]);
  assert.deepEqual((await op('Einsum', [v, v], [{ name: 'equation', s: 'i,i' }]))[0], { shape: [], data: [14] });
  assert.deepEqual((await op('Einsum', [a], [{ name: 'equation', s: '...ii ->...i' }]))[0], { shape: [2, 2], data: [1, 4, 5, 8] });
});

test('ReduceLogSumExp is exact for large inputs', async () => {
  const x = f32([1000, 1000, 0, 1], [2, 2]);
  const [r] = await op('ReduceLogSumExp', [x], [{ name: 'axes', ints: [1] }, { name: 'keepdims', i: 0 }], 13);
  near(r!.data, [1000 + Math.log(2), 1 + Math.log(1 + Math.exp(-1))]);
});

test('Mod: integer (sign of divisor) and fmod (sign of dividend)', async () => {
  const a = NDArray.from(new Int32Array([-7, 7, -7, 7]), [4], { dtype: 'int32' });
  const b = NDArray.from(new Int32Array([3, -3, -3, 3]), [4], { dtype: 'int32' });
  assert.deepEqual((await op('Mod', [a, b]))[0]!.data, [2, -2, -1, 1]);
  assert.deepEqual((await op('Mod', [f32([-7, 7, -7.5], [3]), f32([3, -3, 2], [3])], [{ name: 'fmod', i: 1 }]))[0]!.data, [-1, 1, -1.5]);
});

test('Hardmax, Mish, Gelu (tanh), Xor, integer Div truncates', async () => {
  assert.deepEqual((await op('Hardmax', [f32([1, 3, 3, 0, -1, -2], [2, 3])]))[0]!.data, [0, 1, 0, 1, 0, 0]);
  const x = [-2, -0.5, 0, 1.5];
  near((await op('Mish', [f32(x, [4])], [], 18))[0]!.data, x.map((v) => v * Math.tanh(Math.log1p(Math.exp(v)))));
  const gt = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  near((await op('Gelu', [f32(x, [4])], [{ name: 'approximate', s: 'tanh' }], 20))[0]!.data, x.map(gt));
  const t = NDArray.from(new Uint8Array([1, 1, 0, 0]), [4], { dtype: 'bool' });
  const u = NDArray.from(new Uint8Array([1, 0, 1, 0]), [4], { dtype: 'bool' });
  assert.deepEqual((await op('Xor', [t, u]))[0]!.data, [0, 1, 1, 0]);
  const i = NDArray.from(new BigInt64Array([7n, -7n, 6n]), [3], { dtype: 'int64' });
  const j = NDArray.from(new BigInt64Array([2n, 2n, -4n]), [3], { dtype: 'int64' });
  assert.deepEqual((await op('Div', [i, j]))[0], { shape: [3], data: [3, -3, -1] });
});

test('Pad: reflect, edge, wrap, and negative pads crop', async () => {
  const x = f32([1, 2, 3], [1, 3]);
  const pad = async (mode: string, pads: number[]) => (await op('Pad', [x], [{ name: 'mode', s: mode }], 18, [{ name: 'pads', data: pads }]))[0]!.data;
  assert.deepEqual(await pad('reflect', [0, 2, 0, 2]), [3, 2, 1, 2, 3, 2, 1]);
  assert.deepEqual(await pad('edge', [0, 2, 0, 1]), [1, 1, 1, 2, 3, 3]);
  assert.deepEqual(await pad('wrap', [0, 1, 0, 2]), [3, 1, 2, 3, 1, 2]);
  assert.deepEqual(await pad('constant', [0, -1, 0, 1]), [2, 3, 0]);
});

test('EyeLike with k; Expand broadcasts both ways; Tile', async () => {
  assert.deepEqual((await op('EyeLike', [f32(new Array(6).fill(0), [2, 3])], [{ name: 'k', i: 1 }]))[0]!.data, [0, 1, 0, 0, 0, 1]);
  assert.deepEqual((await op('Expand', [f32([1, 2, 3], [3, 1])], [], 17, [{ name: 'shape', data: [2, 1, 2] }]))[0], {
    shape: [2, 3, 2],
    data: [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3],
  });
  assert.deepEqual((await op('Tile', [f32([1, 2], [1, 2])], [], 17, [{ name: 'reps', data: [2, 2] }]))[0]!.data, [1, 2, 1, 2, 1, 2, 1, 2]);
});
