// ONNX models with float16 / bfloat16 tensors (inputs, initializers from raw_data and from
// int32_data, Cast) and with STRING tensors at the model's boundary (a STRING input read by
// Casts, a STRING output written by a Cast), including the parse and format rules and the
// errors for strings used anywhere else.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import onnxProto from 'onnx-proto';

import { NDArray } from '../src/graph/ndarray.js';
import { float16Bits } from '../src/graph/half.js';
import { OnnxInputError, OnnxModelError, OnnxUnsupportedError } from '../src/onnx/errors.js';
import { loadOnnx } from '../src/api/load_onnx.js';
import { StringTensor } from '../src/onnx/string_tensor.js';
import { formatFloat, parseOnnxNumber } from '../src/onnx/strings.js';
import { parseTensorPb } from '../src/onnx/tensor_file.js';
import { vi } from './onnx_writer.js';

const { onnx } = onnxProto;
const AT = onnx.AttributeProto.AttributeType;
const T = onnx.TensorProto.DataType;
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-onnx-half-str-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

type Node = { op: string; inputs: string[]; outputs: string[]; name?: string; to?: number; value?: object };

function model(nodes: Node[], inputs: ReturnType<typeof vi>[], outputs: ReturnType<typeof vi>[], initializer: object[] = []): Uint8Array {
  const m = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      node: nodes.map((n, i) => ({
        opType: n.op,
        input: n.inputs,
        output: n.outputs,
        name: n.name ?? `n${i}`,
        attribute: [...(n.to === undefined ? [] : [{ name: 'to', i: n.to, type: AT.INT }]), ...(n.value ? [{ name: 'value', t: n.value, type: AT.TENSOR }] : [])],
      })),
      input: inputs,
      output: outputs,
      initializer,
    },
  });
  return onnx.ModelProto.encode(m).finish();
}
const load = (bytes: Uint8Array) => loadOnnx(bytes, { cacheDir, workers: 2 });

test('float16 and bfloat16: inputs, initializers from raw_data and int32_data, Cast between them', async () => {
  const w16 = [0.5, -2, 3.140625, 1000];
  const raw = new Uint8Array(new Uint16Array(w16.map(float16Bits)).buffer);
  const bytes = model(
    [
      { op: 'Mul', inputs: ['x', 'w_raw'], outputs: ['a'] },
      { op: 'Add', inputs: ['a', 'w_int32'], outputs: ['y16'] },
      { op: 'Cast', inputs: ['y16'], outputs: ['ybf'], to: T.BFLOAT16 },
      { op: 'Cast', inputs: ['ybf'], outputs: ['y32'], to: T.FLOAT },
      // A small Constant becomes a constant buffer of the plan (not a parameter).
      { op: 'Constant', inputs: [], outputs: ['c'], value: { dims: [4], dataType: T.FLOAT16, int32Data: [0.1, 65504, -3, 2 ** -24].map(float16Bits) } },
      { op: 'Add', inputs: ['x', 'c'], outputs: ['yc'] },
    ],
    [vi('x', T.FLOAT16, [2, 4])],
    [vi('y16', T.FLOAT16, [2, 4]), vi('y32', T.FLOAT, [2, 4]), vi('yc', T.FLOAT16, [2, 4])],
    [
      { name: 'w_raw', dims: [4], dataType: T.FLOAT16, rawData: raw },
      // ONNX keeps float16 bits in int32_data, one value per entry.
      { name: 'w_int32', dims: [4], dataType: T.FLOAT16, int32Data: [1, 0.25, -0.5, 2].map(float16Bits) },
    ],
  );
  const m = load(bytes);
  assert.equal(m.inputs[0]!.dtype, 'float16');
  const x = NDArray.from([1, 2, 3, 4, -1, -0.5, 0.25, 0.125], [2, 4], { dtype: 'float16' });
  const { y16, y32, yc } = await m.run({ x });
  const want = [1.5, -3.75, 8.921875, 4002, 0.5, 1.25, 0.28515625, 127];
  assert.equal((y16 as NDArray).dtype, 'float16');
  assert.deepEqual(await (y16 as NDArray).toArray(), want.map((v) => NDArray.from([v], [1], { dtype: 'float16' }).toArraySync()[0]));
  // Through bfloat16 (8 bits of precision): 8.921875 → 8.9375, 4002 → 4000, 0.28515625 exact.
  assert.deepEqual([...((await (y32 as NDArray).toTypedArray()) as Float32Array)], [1.5, -3.75, 8.9375, 4000, 0.5, 1.25, 0.28515625, 127]);
  // 0.1 is float16's 0.0999755859375; 2 + 65504 rounds back to 65504 (under the 65520 overflow midpoint).
  assert.deepEqual(await (yc as NDArray).toArray(), [1.099609375, 65504, 0, 4, -0.89990234375, 65504, -2.75, 0.125]);
});

test('a TensorProto .pb of float16 or bfloat16 reads as raw bits', () => {
  const t = onnx.TensorProto.encode({ dims: [2], dataType: T.BFLOAT16, int32Data: [0x3f80, 0xc040] }).finish();
  const a = parseTensorPb(t) as NDArray;
  assert.equal(a.dtype, 'bfloat16');
  assert.deepEqual(a.toArraySync(), [1, -3]);
});

test('parse rules: numbers, scientific notation, NaN/INF in any case, whitespace; anything else is refused', () => {
  const ok: [string, number][] = [
    ['3.14', 3.14], ['1000', 1000], ['-7', -7], ['+2.5', 2.5], ['.5', 0.5], ['5.', 5], ['1e-5', 1e-5], ['1E8', 1e8], ['-2.5e+3', -2500],
    [' 42 ', 42], ['INF', Infinity], ['+INF', Infinity], ['-INF', -Infinity], ['inf', Infinity], ['-Inf', -Infinity], ['Infinity', Infinity],
  ];
  for (const [s, v] of ok) assert.equal(parseOnnxNumber(s), v, s);
  for (const s of ['NaN', 'nan', 'NAN', '-nan']) assert.ok(Number.isNaN(parseOnnxNumber(s)), s);
  for (const s of ['', 'abc', '1,5', '0x10', '1e', '--1', 'INFx', '1 2']) assert.equal(parseOnnxNumber(s), undefined, JSON.stringify(s));
});

test('format rules: NumPy str() of the source type (shortest round-trip digits), NaN/INF/-INF', () => {
  const f32: [number, string][] = [
    [0.1, '0.1'], [0.9767611, '0.9767611'], [0.039187793, '0.039187793'], [3, '3.0'], [-2.5, '-2.5'], [100, '100.0'],
    [1e-4, '1e-04'], [2e-4, '0.0002'], [1e-5, '1e-05'], [1.5e20, '1.5e+20'], [123456789, '123456790.0'], [1e16, '1e+16'], [3.4028234663852886e38, '3.4028235e+38'],
    [0, '0.0'], [-0, '-0.0'], [NaN, 'NaN'], [Infinity, 'INF'], [-Infinity, '-INF'], [2 ** -149, '1e-45'],
  ];
  // float32's 1e-4 is 9.99999975e-05, under NumPy's 1e-4 switch to scientific: '1e-04', as np.float32(1e-4) prints.
  for (const [v, s] of f32) assert.equal(formatFloat(Math.fround(v), 'float32'), s, `float32 ${v}`);
  assert.equal(formatFloat(0.1, 'float64'), '0.1');
  assert.equal(formatFloat(Math.fround(0.1), 'float64'), '0.10000000149011612');
  assert.equal(formatFloat(1 / 3, 'float64'), '0.3333333333333333');
  assert.equal(formatFloat(0.0999755859375, 'float16'), '0.1');
  assert.equal(formatFloat(65504, 'float16'), '65500.0');
  assert.equal(formatFloat(0.10009765625, 'bfloat16'), '0.1'); // bfloat16's 0.1
  assert.equal(formatFloat(0.1005859375, 'bfloat16'), '0.1006'); // the next bfloat16
});

test('STRING at the boundary: an input read by Casts (to two types), an output written by a Cast', async () => {
  const bytes = model(
    [
      { op: 'Cast', inputs: ['s'], outputs: ['f'], to: T.FLOAT },
      { op: 'Cast', inputs: ['s'], outputs: ['i'], to: T.INT64 },
      { op: 'Mul', inputs: ['f', 'f'], outputs: ['sq'] },
      { op: 'Cast', inputs: ['sq'], outputs: ['out'], to: T.STRING },
      { op: 'Cast', inputs: ['f'], outputs: ['h'], to: T.FLOAT16 },
      { op: 'Cast', inputs: ['h'], outputs: ['hs'], to: T.STRING },
    ],
    [vi('s', T.STRING, [2, 4])],
    [vi('out', T.STRING, [2, 4]), vi('i', T.INT64, [2, 4]), vi('hs', T.STRING, [2, 4])],
  );
  const m = load(bytes);
  assert.deepEqual(m.inputs, [{ name: 's', dims: [2, 4], shape: [2, 4], dtype: 'string' }]);
  const s = new StringTensor(['3', '-0.5', '1e-3', 'NaN', ' INF ', '-inf', '12345678901', '0.1'], [2, 4]);
  assert.deepEqual(m.stringOutputs, ['out', 'hs']);
  await assert.rejects(m.run({ s: new StringTensor(['1', '2', '3', '4', '5', '6', '7', '8'], [2, 4]) }), (e: Error) => e instanceof OnnxModelError && /outputs 'out', 'hs' are STRING: run it with runValues\(\)/.test(e.message));
  const { out, i, hs } = await m.runValues({ s });
  assert.ok(out instanceof StringTensor && hs instanceof StringTensor);
  assert.deepEqual(out.shape, [2, 4]);
  // Squares in float32: 0.001f² is 1.0000001e-06 and 12345678848² rounds to 1.5241578e+20 in float32.
  assert.deepEqual(out.data, ['9.0', '0.25', '1.0000001e-06', 'NaN', 'INF', 'INF', '1.5241578e+20', '0.010000001']);
  assert.deepEqual([...((await (i as NDArray).toTypedArray()) as BigInt64Array)], [3n, 0n, 0n, 0n, 9223372036854775807n, -9223372036854775808n, 12345678901n, 0n]);
  assert.deepEqual(hs.data, ['3.0', '-0.5', '0.001', 'NaN', 'INF', '-INF', 'INF', '0.1']);
  await assert.rejects(m.runValues({ s: new StringTensor(['1', '2', 'x', '4', '5', '6', '7', '8'], [2, 4]) }), (e: Error) => e instanceof OnnxInputError && /input 's': element 2 \("x"\) is not a number/.test(e.message));
  await assert.rejects(m.runValues({ s: NDArray.from(new Float32Array(8), [2, 4]) as never }), /input 's' must be a StringTensor/);
  await assert.rejects(m.runValues({ s: new StringTensor(['1'], [1]) }), /input 's' expects string\[2,4\], got string\[1\]/);
});

test('a STRING input with a symbolic dim: each run parses and formats its own length', async () => {
  const m = load(
    model(
      [
        { op: 'Cast', inputs: ['s'], outputs: ['f'], to: T.FLOAT },
        { op: 'Mul', inputs: ['f', 'f'], outputs: ['sq'] },
        { op: 'Cast', inputs: ['sq'], outputs: ['out'], to: T.STRING },
      ],
      [vi('s', T.STRING, ['n'])],
      [vi('out', T.STRING, ['n'])],
    ),
  );
  assert.deepEqual(m.inputs, [{ name: 's', dims: ['n'], shape: [-1], dtype: 'string' }]);
  for (const [given, want] of [[['2', '3'], ['4.0', '9.0']], [['1.5', '-2', '0.5'], ['2.25', '4.0', '0.25']], [['7'], ['49.0']]]) {
    const { out } = await m.runValues({ s: new StringTensor(given!, [given!.length]) });
    assert.ok(out instanceof StringTensor);
    assert.deepEqual([out.shape, out.data], [[want!.length], want]);
  }
  await assert.rejects(m.runValues({ s: new StringTensor(['1', '2'], [1, 2]) }), /input 's' expects string\[n\], got string\[1,2\] \(rank 1, got rank 2\)/);
});

test('STRING anywhere but the boundary is unsupported, naming the node', () => {
  const unsupported = (bytes: Uint8Array, re: RegExp) =>
    assert.throws(() => load(bytes), (e: Error) => e instanceof OnnxUnsupportedError && re.test(e.message), String(re));
  // A string input read by something other than Cast.
  unsupported(
    model([{ op: 'Cast', inputs: ['s'], outputs: ['f'], to: T.FLOAT }, { op: 'Identity', inputs: ['s'], outputs: ['t'], name: 'keep' }], [vi('s', T.STRING, [2])], [vi('f', T.FLOAT, [2]), vi('t', T.STRING, [2])]),
    /graph input 's': a STRING tensor can only be read by Cast to a number type \(it is read by Identity 'keep'\)/,
  );
  // A Cast to STRING whose result feeds another node.
  unsupported(
    model(
      [{ op: 'Cast', inputs: ['x'], outputs: ['s'], to: T.STRING, name: 'tostr' }, { op: 'Cast', inputs: ['s'], outputs: ['y'], to: T.FLOAT, name: 'back' }],
      [vi('x', T.FLOAT, [2])],
      [vi('y', T.FLOAT, [2])],
    ),
    /Cast 'tostr': to=STRING: a Cast to STRING is supported only as the producer of a graph output/,
  );
  // String → bool and bool → string have no ONNX-defined meaning.
  unsupported(model([{ op: 'Cast', inputs: ['s'], outputs: ['b'], to: T.BOOL, name: 'tobool' }], [vi('s', T.STRING, [2])], [vi('b', T.BOOL, [2])]), /read by Cast 'tobool'/);
  unsupported(model([{ op: 'Cast', inputs: ['b'], outputs: ['s'], to: T.STRING }], [vi('b', T.BOOL, [2])], [vi('s', T.STRING, [2])]), /Cast from BOOL to STRING/);
  // A string initializer.
  unsupported(
    model([{ op: 'Cast', inputs: ['k'], outputs: ['y'], to: T.FLOAT }], [], [vi('y', T.FLOAT, [1])], [{ name: 'k', dims: [1], dataType: T.STRING, stringData: [new TextEncoder().encode('1')] }]),
    /initializer 'k': element type STRING/,
  );
});
