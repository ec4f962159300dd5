// Convolution and pooling (ONNX Conv, MaxPool, AveragePool) on random data: a test matrix of
// strides, dilations, padding modes, groups (1, between, C), kernel sizes (1×1, 3×3, 7×7,
// 16×16 stride 16), 1-D/2-D/3-D, compared with a direct float64 loop written here from the
// ONNX definitions and with the reference interpreter on the imported graph. Each op must be
// a constant number of kernels, whatever its kernel size or group count.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { compileGraph } from '../src/api/program.js';
import { NDArray } from '../src/graph/ndarray.js';
import { interpret } from '../src/graph/interpret.js';
import { randnFloat32 } from '../src/graph/random.js';
import { numel } from '../src/graph/shape.js';
import { loadOnnx } from '../src/api/load_onnx.js';
import { Graph } from '../src/graph/ir.js';
import { GraphBuilder } from '../src/graph/builder.js';
import { finalize } from '../src/schedule/finalize.js';
import { formKernels } from '../src/schedule/fuse.js';
import { realize } from '../src/schedule/realize.js';
import { generateC } from '../src/backends/cpu/codegen.js';
import { type Attr, ModelBuilder, singleOpModel, smallConvNet } from './fixtures/conv_nets.js';
import { testDevice } from './helpers.js';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-conv-pool-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

// ---- a direct reference, from the ONNX operator definitions -------------------------------

interface Geometry {
  kernel: number[];
  strides: number[];
  dils: number[];
  /** Begin pads, then end pads (as ONNX's `pads`). */
  pads: number[];
  out: number[];
}

function geometry(spatial: number[], kernel: number[], a: Record<string, number[] | number | string | undefined>): Geometry {
  const r = spatial.length;
  const strides = (a.strides as number[] | undefined) ?? kernel.map(() => 1);
  const dils = (a.dilations as number[] | undefined) ?? kernel.map(() => 1);
  let pads = (a.pads as number[] | undefined) ?? new Array<number>(2 * r).fill(0);
  const autoPad = (a.auto_pad as string | undefined) ?? 'NOTSET';
  const ceil = a.ceil_mode === 1;
  const out: number[] = [];
  pads = [...pads];
  for (let i = 0; i < r; i++) {
    const ek = (kernel[i]! - 1) * dils[i]! + 1;
    if (autoPad === 'VALID') {
      pads[i] = pads[i + r] = 0;
      out.push(Math.floor((spatial[i]! - ek) / strides[i]!) + 1);
    } else if (autoPad.startsWith('SAME')) {
      const o = Math.ceil(spatial[i]! / strides[i]!);
      const total = Math.max(0, (o - 1) * strides[i]! + ek - spatial[i]!);
      pads[i] = autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
      pads[i + r] = total - pads[i]!;
      out.push(o);
    } else {
      const span = spatial[i]! + pads[i]! + pads[i + r]! - ek;
      let o = (ceil ? Math.ceil(span / strides[i]!) : Math.floor(span / strides[i]!)) + 1;
      if (ceil && (o - 1) * strides[i]! >= spatial[i]! + pads[i]!) o--;
      out.push(o);
    }
  }
  return { kernel, strides, dils, pads, out };
}

/** Calls f(index) for every multi-index of shape. */
function each(shape: number[], f: (ix: number[]) => void): void {
  const ix = new Array<number>(shape.length).fill(0);
  for (let n = 0; n < numel(shape); n++) {
    f(ix);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++ix[d]! < shape[d]!) break;
      ix[d] = 0;
    }
  }
}

const flatAt = (ix: number[], shape: number[]) => ix.reduce((acc, v, d) => acc * shape[d]! + v, 0);

function refConv(x: Float32Array, xs: number[], w: Float32Array, ws: number[], bias: Float32Array | undefined, group: number, g: Geometry): { data: Float64Array; shape: number[] } {
  const [N, C] = xs as [number, number];
  const M = ws[0]!;
  const Cg = C / group;
  const Mg = M / group;
  const sp = xs.slice(2);
  const r = sp.length;
  const shape = [N, M, ...g.out];
  const out = new Float64Array(numel(shape));
  each(shape, (ix) => {
    const [n, m] = ix as [number, number];
    const o = ix.slice(2);
    const gi = Math.floor(m / Mg);
    let s = bias ? bias[m]! : 0;
    for (let cg = 0; cg < Cg; cg++) {
      each(g.kernel, (t) => {
        const pos = o.map((oi, i) => oi * g.strides[i]! + t[i]! * g.dils[i]! - g.pads[i]!);
        if (pos.some((p, i) => p < 0 || p >= sp[i]!)) return;
        s += x[flatAt([n, gi * Cg + cg, ...pos], xs)]! * w[flatAt([m, cg, ...t], ws)]!;
      });
    }
    out[flatAt(ix, shape)] = s;
  });
  void r;
  return { data: out, shape };
}

function refPool(kind: 'max' | 'avg', x: Float32Array, xs: number[], g: Geometry, includePad: boolean, columnMajor = false): { data: Float64Array; indices: Float64Array; shape: number[] } {
  const sp = xs.slice(2);
  const r = sp.length;
  const shape = [...xs.slice(0, 2), ...g.out];
  const data = new Float64Array(numel(shape));
  const indices = new Float64Array(numel(shape));
  each(shape, (ix) => {
    const [n, c] = ix as [number, number];
    const o = ix.slice(2);
    let best = -Infinity;
    let bestAt = -1;
    let sum = 0;
    let count = 0;
    each(g.kernel, (t) => {
      const pos = o.map((oi, i) => oi * g.strides[i]! + t[i]! * g.dils[i]! - g.pads[i]!);
      const inPad = pos.every((p, i) => p >= -g.pads[i]! && p < sp[i]! + g.pads[i + r]!);
      if (pos.some((p, i) => p < 0 || p >= sp[i]!)) {
        if (includePad && inPad) count++;
        return;
      }
      const v = x[flatAt([n, c, ...pos], xs)]!;
      sum += v;
      count++;
      if (v > best) {
        best = v;
        let within = 0;
        if (columnMajor) for (let i = r - 1; i >= 0; i--) within = within * sp[i]! + pos[i]!;
        else within = flatAt(pos, sp);
        bestAt = (n * xs[1]! + c) * numel(sp) + within;
      }
    });
    const at = flatAt(ix, shape);
    data[at] = kind === 'max' ? best : sum / count;
    indices[at] = bestAt;
  });
  return { data, indices, shape };
}

// ---- running one model through the compiler and the interpreter -----------------------------

function close(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = 1e-4): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    assert.ok(err <= tol * (1 + Math.abs(want[i]!)), `${what}: element ${i}: ${got[i]} vs ${want[i]}`);
  }
}

/** Runs the model compiled and through the interpreter; returns the outputs and the kernel count. */
async function runBoth(bytes: Uint8Array, x: NDArray, nOut: number): Promise<{ outs: { data: Float64Array; shape: number[] }[]; kernels: number }> {
  const model = loadOnnx(bytes, { cacheDir, workers: 2, device: testDevice });
  const res = await model.run({ x });
  const outs: { data: Float64Array; shape: number[] }[] = [];
  for (const name of model.outputNames.slice(0, nOut)) {
    const a = res[name] as NDArray;
    outs.push({ data: Float64Array.from([...(await a.toTypedArray())].map(Number)), shape: [...a.shape] });
  }
  const traced = model.graphFor({ x })!.traced;
  const ref = interpret(traced.graph, [x, ...traced.params]);
  ref.forEach((t, i) => close(outs[i]!.data, t.data, `interpreter output ${i}`));
  const program = await compileGraph(traced, { cacheDir, workers: 2, device: testDevice });
  return { outs, kernels: program.kernelCount };
}

/** The C of a model's kernels from the function body on (scheduled and generated here, not compiled). */
function cSources(bytes: Uint8Array, shape: number[]): string[] {
  const g = loadOnnx(bytes).graphFor({ x: NDArray.from(new Float32Array(numel(shape)), shape) })!.traced.graph;
  const r = realize(g);
  return finalize(g, r, formKernels(g, r)).kernels.map((k) => generateC(k).body.slice(generateC(k).body.indexOf('void __KILN_KERNEL__')));
}

/** Whether a model's window kernel runs over bands of padded input rows (padded_rows.ts). */
const takesPaddedRows = (bytes: Uint8Array, shape: number[]) => cSources(bytes, shape).some((src) => /P0\[\d+\] __attribute__/.test(src));

function attrsOf(a: Record<string, number[] | number | string | undefined>): Attr[] {
  return Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([name, v]) => (typeof v === 'string' ? { name, s: v } : typeof v === 'number' ? { name, i: v } : { name, ints: v! }));
}

// ---- the conv matrix --------------------------------------------------------------------------

interface ConvCase {
  name: string;
  x: number[];
  M: number;
  kernel: number[];
  group?: number;
  bias?: boolean;
  attrs?: Record<string, number[] | number | string | undefined>;
  /** Whether the conv must run over padded row bands (padded_rows.ts); unchecked when absent. */
  padded?: boolean;
}

const convCases: ConvCase[] = [
  { name: '3×3 pad 1', x: [1, 8, 10, 12], M: 16, kernel: [3, 3], attrs: { pads: [1, 1, 1, 1] } },
  { name: '3×3 stride 2 pad 1, batch 2', x: [2, 8, 11, 9], M: 12, kernel: [3, 3], attrs: { pads: [1, 1, 1, 1], strides: [2, 2] } },
  { name: '3×3 dilation 2, asymmetric pads', x: [1, 6, 12, 12], M: 10, kernel: [3, 3], attrs: { pads: [2, 1, 0, 3], dilations: [2, 2] } },
  { name: '4×4 stride 2 SAME_UPPER', x: [1, 4, 9, 10], M: 12, kernel: [4, 4], attrs: { auto_pad: 'SAME_UPPER', strides: [2, 2] } },
  { name: '4×4 stride 2 SAME_LOWER', x: [1, 4, 9, 10], M: 12, kernel: [4, 4], attrs: { auto_pad: 'SAME_LOWER', strides: [2, 2] } },
  { name: '3×5 VALID, strides 1,2, no bias', x: [1, 5, 9, 13], M: 16, kernel: [3, 5], bias: false, attrs: { auto_pad: 'VALID', strides: [1, 2] } },
  { name: '1×1 (a plain matmul)', x: [2, 16, 7, 7], M: 24, kernel: [1, 1] },
  { name: '1×1 stride 2', x: [1, 16, 8, 8], M: 24, kernel: [1, 1], attrs: { strides: [2, 2] } },
  { name: '7×7 stride 2 pad 3 (ResNet stem)', x: [1, 3, 20, 20], M: 16, kernel: [7, 7], attrs: { pads: [3, 3, 3, 3], strides: [2, 2] } },
  { name: '16×16 stride 16 (ViT patch embedding)', x: [1, 3, 32, 48], M: 32, kernel: [16, 16], attrs: { strides: [16, 16] } },
  { name: 'groups 2 (implicit GEMM per group)', x: [1, 16, 9, 9], M: 32, kernel: [3, 3], group: 2, attrs: { pads: [1, 1, 1, 1] } },
  { name: 'groups 4 of 4 → 4 (direct)', x: [1, 16, 9, 9], M: 16, kernel: [3, 3], group: 4, attrs: { pads: [1, 1, 1, 1] } },
  { name: '3×3 depthwise', x: [1, 16, 10, 10], M: 16, kernel: [3, 3], group: 16, attrs: { pads: [1, 1, 1, 1] } },
  { name: '3×3 depthwise stride 2', x: [2, 8, 11, 11], M: 8, kernel: [3, 3], group: 8, attrs: { pads: [1, 1, 1, 1], strides: [2, 2] } },
  { name: '7×7 depthwise pad 3 (ConvNeXt)', x: [1, 12, 14, 14], M: 12, kernel: [7, 7], group: 12, attrs: { pads: [3, 3, 3, 3] } },
  { name: 'depthwise multiplier 2', x: [1, 6, 8, 8], M: 12, kernel: [3, 3], group: 6, attrs: { pads: [1, 1, 1, 1] } },
  // Rows split into edges and an interior per tap (row_interior.ts): empty or short interiors,
  // strides and dilations along the row, asymmetric pads.
  { name: '7×7 depthwise dilation 2 pad 6 on 9 columns (interiors of a few outputs)', x: [1, 4, 9, 9], M: 4, kernel: [7, 7], group: 4, attrs: { pads: [6, 6, 6, 6], dilations: [2, 2] } },
  { name: '3×5 depthwise strides 2,3 dilations 1,2, asymmetric pads, batch 2', x: [2, 6, 13, 29], M: 6, kernel: [3, 5], group: 6, attrs: { pads: [1, 2, 0, 4], strides: [2, 3], dilations: [1, 2] } },
  // Over bands of padded input rows (padded_rows.ts): rows of fewer outputs than a vector (5,
  // 7), exactly one (8, 16) and more (9, 14, 17, odd), rounded up to whole vectors; strides and
  // dilations, pads on both edges or one, bands of several output rows with a shorter last one.
  { name: 'padded rows: 3×3 depthwise on 5 columns (a row of 5 in a vector of 8)', x: [1, 6, 7, 5], M: 6, kernel: [3, 3], group: 6, attrs: { pads: [1, 1, 1, 1] }, padded: true },
  { name: 'padded rows: 3×3 depthwise on 3 columns (too short: the plain order)', x: [1, 6, 7, 3], M: 6, kernel: [3, 3], group: 6, attrs: { pads: [1, 1, 1, 1] }, padded: false },
  { name: 'padded rows: 3×3 depthwise 7×7 (MobileNet’s last stage)', x: [1, 24, 7, 7], M: 24, kernel: [3, 3], group: 24, attrs: { pads: [1, 1, 1, 1] }, padded: true },
  { name: 'padded rows: 5×5 depthwise pad 2 on 14×14 (EfficientNet)', x: [1, 10, 14, 14], M: 10, kernel: [5, 5], group: 10, attrs: { pads: [2, 2, 2, 2] }, padded: true },
  { name: 'padded rows: 3×3 depthwise on 8 and 16 columns, batch 2', x: [2, 4, 8, 16], M: 4, kernel: [3, 3], group: 4, attrs: { pads: [1, 1, 1, 1] }, padded: true },
  { name: 'padded rows: 3×3 depthwise stride 2 on 17 columns (9 outputs)', x: [1, 5, 17, 17], M: 5, kernel: [3, 3], group: 5, attrs: { pads: [1, 1, 1, 1], strides: [2, 2] }, padded: true },
  { name: 'padded rows: 3×3 depthwise dilation 3, pads 0 left and 4 right, 33 columns', x: [1, 3, 19, 33], M: 3, kernel: [3, 3], group: 3, attrs: { pads: [2, 0, 1, 4], dilations: [3, 3] }, padded: true },
  { name: 'padded rows: 4×2 depthwise, strides 3,2, no padding', x: [1, 4, 23, 40], M: 4, kernel: [4, 2], group: 4, attrs: { strides: [3, 2] }, padded: true },
  { name: 'padded rows: 3×3 depthwise on 45×130 (bands of 12 output rows, the last 9)', x: [1, 2, 45, 130], M: 2, kernel: [3, 3], group: 2, attrs: { pads: [1, 1, 1, 1] }, padded: true },
  { name: 'padded rows: 3×3 depthwise stride 2 on 61×250 (bands, threads)', x: [1, 9, 61, 250], M: 9, kernel: [3, 3], group: 9, attrs: { pads: [1, 1, 1, 1], strides: [2, 2] }, padded: true },
  { name: 'padded rows: 7×7 depthwise multiplier 2 pad 3 on 9×9', x: [1, 3, 9, 9], M: 6, kernel: [7, 7], group: 3, attrs: { pads: [3, 3, 3, 3] }, padded: true },
  { name: '1-D conv, dilation 2', x: [2, 4, 30], M: 12, kernel: [5], attrs: { pads: [4, 4], dilations: [2] } },
  { name: '1-D depthwise', x: [1, 8, 30], M: 8, kernel: [3], group: 8, attrs: { pads: [1, 1] } },
  { name: '3-D conv', x: [1, 3, 6, 7, 8], M: 12, kernel: [3, 3, 3], attrs: { pads: [1, 1, 1, 1, 1, 1], strides: [1, 2, 2] } },
  // The register-blocked tile over an implicit B (more than 8 outputs): panels of 48 columns
  // (16 with AVX2 and 8 without) whose last one is narrower, row tiles of 8 (6, 4) whose last
  // one is partial, threads (10M multiply-adds), batch items and groups split across threads.
  { name: 'tile: 3×3 pad 1, 40 outputs over 900 positions (threads, a last panel of 36)', x: [1, 32, 30, 30], M: 40, kernel: [3, 3], attrs: { pads: [1, 1, 1, 1] } },
  { name: 'tile: 7×7 positions, a last panel of 1 column, 20 outputs', x: [1, 24, 7, 7], M: 20, kernel: [3, 3], attrs: { pads: [1, 1, 1, 1] } },
  { name: 'tile: 5×5 stride 2 dilation 2 pad 4, batch 3, 17 outputs', x: [3, 12, 17, 15], M: 17, kernel: [5, 5], attrs: { pads: [4, 4, 4, 4], strides: [2, 2], dilations: [2, 2] } },
  { name: 'tile: groups 3 of 6 → 9, strides 1,2', x: [1, 18, 13, 11], M: 27, kernel: [3, 3], group: 3, attrs: { pads: [1, 1, 1, 1], strides: [1, 2] } },
];

const kernelCounts = new Map<string, number>();

for (const c of convCases) {
  test(`Conv ${c.name}: x ${JSON.stringify(c.x)}, ${c.M} outputs, kernel ${JSON.stringify(c.kernel)}`, async () => {
    const group = c.group ?? 1;
    const C = c.x[1]!;
    const b = new ModelBuilder('x', c.x);
    const y = b.conv('x', C, c.M, c.kernel, attrsOf(c.attrs ?? {}), { group, bias: c.bias ?? true });
    const bytes = b.encode([y]);
    const xd = randnFloat32(numel(c.x), 11);
    const { outs, kernels } = await runBoth(bytes, NDArray.from(xd, c.x), 1);
    const w = b.inits[0]!;
    const bias = c.bias ?? true ? b.inits[1]!.data : undefined;
    const want = refConv(xd, c.x, w.data, w.dims, bias, group, geometry(c.x.slice(2), c.kernel, c.attrs ?? {}));
    assert.deepEqual(outs[0]!.shape, want.shape);
    close(outs[0]!.data, want.data, 'conv');
    if (c.padded !== undefined) assert.equal(takesPaddedRows(bytes, c.x), c.padded, 'over padded row bands');
    kernelCounts.set(c.name, kernels);
    assert.equal(kernels, 1, `one kernel per conv (bias fused), got ${kernels}`);
  });
}

// ---- pooling --------------------------------------------------------------------------------

interface PoolCase {
  name: string;
  op: 'MaxPool' | 'AveragePool';
  x: number[];
  kernel: number[];
  attrs?: Record<string, number[] | number | string | undefined>;
  indices?: boolean;
  /** As ConvCase's. */
  padded?: boolean;
}

const poolCases: PoolCase[] = [
  { name: '3×3 stride 2 pad 1', op: 'MaxPool', x: [2, 4, 11, 12], kernel: [3, 3], attrs: { pads: [1, 1, 1, 1], strides: [2, 2] } },
  { name: '2×2 ceil mode', op: 'MaxPool', x: [1, 3, 9, 7], kernel: [2, 2], attrs: { strides: [2, 2], ceil_mode: 1 } },
  { name: '3×3 dilation 2', op: 'MaxPool', x: [1, 3, 12, 12], kernel: [3, 3], attrs: { dilations: [2, 2], pads: [2, 2, 2, 2] } },
  { name: '7×7 SAME_UPPER stride 3', op: 'MaxPool', x: [1, 2, 20, 17], kernel: [7, 7], attrs: { auto_pad: 'SAME_UPPER', strides: [3, 3] } },
  { name: '3×3 with Indices', op: 'MaxPool', x: [2, 3, 9, 10], kernel: [3, 3], attrs: { pads: [1, 1, 1, 1], strides: [2, 2] }, indices: true },
  { name: '2×3 with Indices, storage_order 1', op: 'MaxPool', x: [1, 2, 7, 9], kernel: [2, 3], attrs: { storage_order: 1, strides: [1, 2] }, indices: true },
  { name: '1-D', op: 'MaxPool', x: [1, 3, 20], kernel: [4], attrs: { strides: [2], pads: [1, 2] } },
  { name: '3-D with Indices', op: 'MaxPool', x: [1, 2, 6, 7, 8], kernel: [2, 3, 2], attrs: { strides: [2, 2, 2] }, indices: true },
  { name: '3×3 pad 1 (pads not counted)', op: 'AveragePool', x: [2, 4, 10, 9], kernel: [3, 3], attrs: { pads: [1, 1, 1, 1] } },
  { name: '3×3 pad 1 count_include_pad', op: 'AveragePool', x: [1, 4, 10, 9], kernel: [3, 3], attrs: { pads: [1, 1, 1, 1], count_include_pad: 1 } },
  { name: '3×3 stride 2 ceil mode', op: 'AveragePool', x: [1, 3, 10, 10], kernel: [3, 3], attrs: { strides: [2, 2], ceil_mode: 1 } },
  { name: '7×7 (no padding: a uniform divisor)', op: 'AveragePool', x: [1, 5, 14, 14], kernel: [7, 7], attrs: { strides: [7, 7] } },
  { name: 'padded rows: 3×3 stride 2 pad 1 on 23 columns', op: 'MaxPool', x: [1, 3, 15, 23], kernel: [3, 3], attrs: { pads: [1, 1, 1, 1], strides: [2, 2] }, padded: true },
  { name: 'padded rows: 3×3 with Indices on 13 columns', op: 'MaxPool', x: [1, 2, 9, 13], kernel: [3, 3], attrs: { pads: [1, 1, 1, 1] }, indices: true, padded: true },
  { name: 'padded rows: 5×5 pad 2 on 11 columns (pads not counted)', op: 'AveragePool', x: [1, 3, 12, 11], kernel: [5, 5], attrs: { pads: [2, 2, 2, 2] }, padded: true },
  { name: 'padded rows: 3×3 pad 1 count_include_pad, 6 columns', op: 'AveragePool', x: [2, 2, 8, 6], kernel: [3, 3], attrs: { pads: [1, 1, 1, 1], count_include_pad: 1 }, padded: true },
  { name: '3-D SAME_LOWER', op: 'AveragePool', x: [1, 2, 5, 6, 7], kernel: [2, 2, 3], attrs: { auto_pad: 'SAME_LOWER' } },
];

for (const c of poolCases) {
  test(`${c.op} ${c.name}: x ${JSON.stringify(c.x)}, kernel ${JSON.stringify(c.kernel)}`, async () => {
    const a = { ...(c.attrs ?? {}), kernel_shape: c.kernel };
    const nOut = c.indices ? 2 : 1;
    const bytes = singleOpModel(c.x, c.op, attrsOf(a), [], nOut);
    const xd = randnFloat32(numel(c.x), 5);
    const { outs, kernels } = await runBoth(bytes, NDArray.from(xd, c.x), nOut);
    const g = geometry(c.x.slice(2), c.kernel, c.attrs ?? {});
    const want = refPool(c.op === 'MaxPool' ? 'max' : 'avg', xd, c.x, g, c.attrs?.count_include_pad === 1, c.attrs?.storage_order === 1);
    assert.deepEqual(outs[0]!.shape, want.shape);
    close(outs[0]!.data, want.data, c.op);
    if (c.indices) assert.deepEqual([...outs[1]!.data], [...want.indices], 'Indices');
    if (c.padded !== undefined) assert.equal(takesPaddedRows(bytes, c.x), c.padded, 'over padded row bands');
    assert.equal(kernels, 1, `one kernel per pool, got ${kernels}`);
  });
}

/** The number of kernels the scheduler makes of a graph (no codegen, no compile). */
function scheduledKernels(g: Graph): number {
  const r = realize(g);
  return finalize(g, r, formKernels(g, r)).kernels.length;
}

test('kernel count does not grow with the kernel size or the group count', () => {
  const counts: Record<string, number> = {};
  const x = [1, 16, 14, 14];
  for (const k of [1, 3, 5, 7]) {
    for (const group of [1, 2, 4, 16]) {
      const b = new ModelBuilder('x', x);
      let y = b.conv('x', 16, 16, [k, k], [{ name: 'pads', ints: [k >> 1, k >> 1, k >> 1, k >> 1] }], { group });
      y = b.node('Relu', [y])[0]!;
      const model = loadOnnx(b.encode([y]), { cacheDir, workers: 2, device: testDevice });
      const traced = model.graphFor({ x: NDArray.from(new Float32Array(numel(x)), x) })!.traced;
      counts[`k${k} g${group}`] = scheduledKernels(traced.graph);
    }
    const pool = singleOpModel(x, 'MaxPool', [{ name: 'kernel_shape', ints: [k, k] }, { name: 'strides', ints: [1, 1] }]);
    const model = loadOnnx(pool, { cacheDir, workers: 2, device: testDevice });
    const traced = model.graphFor({ x: NDArray.from(new Float32Array(numel(x)), x) })!.traced;
    counts[`maxpool k${k}`] = scheduledKernels(traced.graph);
  }
  assert.deepEqual(new Set(Object.values(counts)), new Set([1]), `every conv (+ bias + ReLU) and pool is one kernel: ${JSON.stringify(counts)}`);
});

test('a small MobileNet-like net matches the interpreter, in one kernel per conv or pool', async () => {
  const { bytes, inputShape } = smallConvNet(0.5);
  const x = NDArray.from(randnFloat32(numel(inputShape), 3), inputShape);
  const { outs, kernels } = await runBoth(bytes, x, 1);
  assert.deepEqual(outs[0]!.shape, [1, 10, 1, 1]);
  const model = loadOnnx(bytes);
  const ops = model.inspect().ops;
  const convsAndPools = (ops.Conv ?? 0) + (ops.MaxPool ?? 0) + (ops.GlobalAveragePool ?? 0);
  assert.ok(kernels <= convsAndPools, `${kernels} kernels for ${convsAndPools} convs and pools`);
});

test('GraphBuilder.window: output shape, padding fill in the interpreter, errors naming the op, shapes and dims', () => {
  const g = new Graph();
  const b = new GraphBuilder(g);
  const x = b.input('x', [1, 2, 5], 'float32');
  // dim 2: k 3, stride 2, pads 1,1 → floor((5 + 2 − 3) / 2) + 1 = 3 positions.
  const w = b.window(x, [{ dim: 2, k: 3, stride: 2, padBefore: 1, padAfter: 1 }], -7);
  assert.deepEqual(b.shape(w), [1, 2, 3, 3]);
  g.outputs = [w];
  const xs = NDArray.from(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), [1, 2, 5]);
  const [got] = interpret(g, [xs]);
  assert.deepEqual([...got!.data], [-7, 1, 2, 2, 3, 4, 4, 5, -7, -7, 6, 7, 7, 8, 9, 9, 10, -7]);
  assert.throws(() => b.window(x, [{ dim: 2, k: 7 }]), /window: \[1,2,5\] with \[dim 2 k=7 .*\]: a window of 7 does not fit dim 2 of size 5/);
  assert.throws(() => b.window(x, [{ dim: 2, k: 2 }, { dim: -1, k: 2 }]), /window: .*dim 2 given twice/);
  assert.throws(() => b.window(x, [{ dim: 2, k: 2, stride: 0 }]), /window: .*stride must be an integer >= 1, got 0/);
  assert.throws(() => b.window(x, [{ dim: 3, k: 1 }]), /window/);
});

test('window views of float16, float64 and int8 data: a max-pool reduction and an implicit GEMM match the interpreter', async () => {
  for (const dt of ['float16', 'float64', 'int8'] as const) {
    const g = new Graph();
    const b = new GraphBuilder(g);
    const x = b.input('x', [1, 4, 9, 9], dt);
    const w = b.input('w', [6, 36], dt);
    const win = b.window(x, [2, 3].map((dim) => ({ dim, k: 3, padBefore: 1, padAfter: 1 })), 0); // [1, 4, 9, 9, 3, 3]
    const pooled = b.reduce('max', win, [4, 5], false);
    const cols = b.reshape(b.permute(win, [0, 1, 4, 5, 2, 3]), [1, 36, 81]);
    const conv = b.binary('add', b.reshape(b.matmul(w, cols), [1, 6, 9, 9]), b.scalar(1, dt));
    g.outputs = [pooled, conv];
    const r = realize(g);
    const ks = finalize(g, r, formKernels(g, r)).kernels;
    assert.deepEqual(ks.map((k) => k.kind).sort(), ['loops', 'matmul'], dt);
    const small = dt === 'int8';
    const xs = small ? NDArray.from(Int8Array.from({ length: 324 }, (_, i) => ((i * 7) % 9) - 4), [1, 4, 9, 9], { dtype: dt }) : NDArray.from(randnFloat32(324, 3), [1, 4, 9, 9], { dtype: dt });
    const ws = small ? NDArray.from(Int8Array.from({ length: 216 }, (_, i) => ((i * 5) % 7) - 3), [6, 36], { dtype: dt }) : NDArray.from(randnFloat32(216, 4), [6, 36], { dtype: dt });
    const program = await compileGraph({ graph: g, params: [], returnsArray: true }, { cacheDir, workers: 2, device: testDevice });
    const got = await program.run([xs, ws]);
    const want = interpret(g, [xs, ws]);
    for (let i = 0; i < 2; i++) {
      const data = await got[i]!.toArray();
      close(data, want[i]!.data, `${dt} output ${i}`, dt === 'float16' ? 2e-3 : 1e-6);
    }
  }
});

// ---- ConvTranspose ------------------------------------------------------------------------------

/** Direct ConvTranspose (the scatter form of the ONNX definition) with begin/end pads given. */
function refConvTranspose(x: Float32Array, xs: number[], w: Float32Array, ws: number[], bias: Float32Array | undefined, group: number, strides: number[], dils: number[], pads: number[], outPad: number[]) {
  const [N, C] = xs as [number, number];
  const sp = xs.slice(2);
  const r = sp.length;
  const kernel = ws.slice(2);
  const Cg = C / group;
  const Mg = ws[1]!;
  const M = Mg * group;
  const out = sp.map((d, i) => strides[i]! * (d - 1) + outPad[i]! + (kernel[i]! - 1) * dils[i]! + 1 - pads[i]! - pads[i + r]!);
  const shape = [N, M, ...out];
  const y = new Float64Array(numel(shape));
  each(shape, (ix) => (y[flatAt(ix, shape)] = bias ? bias[ix[1]!]! : 0));
  each(xs, (ix) => {
    const [n, c] = ix as [number, number];
    const g = Math.floor(c / Cg);
    for (let mg = 0; mg < Mg; mg++) {
      each(kernel, (t) => {
        const o = ix.slice(2).map((i, d) => i * strides[d]! + t[d]! * dils[d]! - pads[d]!);
        if (o.some((v, d) => v < 0 || v >= out[d]!)) return;
        const at = flatAt([n, g * Mg + mg, ...o], shape);
        y[at] = y[at]! + x[flatAt(ix, xs)]! * w[flatAt([c, mg, ...t], ws)]!;
      });
    }
  });
  return { data: y, shape };
}

interface TransposeCase {
  name: string;
  x: number[];
  Mg: number;
  kernel: number[];
  group?: number;
  strides?: number[];
  dils?: number[];
  pads?: number[];
  outPad?: number[];
  outputShape?: number[];
  autoPad?: string;
}

const transposeCases: TransposeCase[] = [
  { name: '3×3 stride 2 pad 1, output_padding 1', x: [1, 8, 5, 6], Mg: 12, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], outPad: [1, 1] },
  { name: '4×4 stride 2 pad 1 (DCGAN), batch 2', x: [2, 16, 4, 4], Mg: 8, kernel: [4, 4], strides: [2, 2], pads: [1, 1, 1, 1] },
  { name: 'groups 2', x: [1, 16, 5, 5], Mg: 12, kernel: [3, 3], group: 2, strides: [2, 2] },
  { name: 'depthwise (direct)', x: [1, 8, 6, 6], Mg: 1, kernel: [3, 3], group: 8, strides: [2, 2], pads: [1, 1, 1, 1] },
  { name: '1-D stride 3 dilation 2', x: [1, 4, 7], Mg: 12, kernel: [3], strides: [3], dils: [2], pads: [2, 1] },
  { name: 'pads past the kernel (cropping)', x: [1, 4, 8, 8], Mg: 12, kernel: [3, 3], strides: [1, 1], pads: [3, 0, 4, 1] },
  { name: 'output_shape', x: [1, 6, 5, 5], Mg: 12, kernel: [3, 3], strides: [2, 2], outputShape: [10, 10] },
  { name: 'SAME_UPPER', x: [1, 6, 5, 4], Mg: 12, kernel: [3, 3], strides: [2, 2], autoPad: 'SAME_UPPER' },
];

for (const c of transposeCases) {
  test(`ConvTranspose ${c.name}: x ${JSON.stringify(c.x)}, kernel ${JSON.stringify(c.kernel)}`, async () => {
    const group = c.group ?? 1;
    const r = c.kernel.length;
    const C = c.x[1]!;
    const b = new ModelBuilder('x', c.x);
    const w = b.weight([C, c.Mg, ...c.kernel], 0.3);
    const bias = b.weight([c.Mg * group], 0.1);
    const attrs: Attr[] = [{ name: 'kernel_shape', ints: c.kernel }];
    if (group !== 1) attrs.push({ name: 'group', i: group });
    if (c.strides) attrs.push({ name: 'strides', ints: c.strides });
    if (c.dils) attrs.push({ name: 'dilations', ints: c.dils });
    if (c.pads) attrs.push({ name: 'pads', ints: c.pads });
    if (c.outPad) attrs.push({ name: 'output_padding', ints: c.outPad });
    if (c.outputShape) attrs.push({ name: 'output_shape', ints: c.outputShape });
    if (c.autoPad) attrs.push({ name: 'auto_pad', s: c.autoPad });
    const y = b.node('ConvTranspose', ['x', w, bias], attrs)[0]!;
    const xd = randnFloat32(numel(c.x), 9);
    const { outs, kernels } = await runBoth(b.encode([y]), NDArray.from(xd, c.x), 1);
    const strides = c.strides ?? c.kernel.map(() => 1);
    const dils = c.dils ?? c.kernel.map(() => 1);
    const outPad = c.outPad ?? c.kernel.map(() => 0);
    let pads = c.pads ?? new Array<number>(2 * r).fill(0);
    if (c.outputShape || c.autoPad) {
      const want = c.outputShape ?? c.x.slice(2).map((d, i) => d * strides[i]!);
      pads = new Array<number>(2 * r).fill(0);
      for (let i = 0; i < r; i++) {
        const total = strides[i]! * (c.x[2 + i]! - 1) + outPad[i]! + (c.kernel[i]! - 1) * dils[i]! + 1 - want[i]!;
        const half = Math.floor(total / 2);
        [pads[i], pads[i + r]] = c.autoPad === 'SAME_UPPER' ? [half, total - half] : [total - half, half];
      }
    }
    const want = refConvTranspose(xd, c.x, b.inits[0]!.data, b.inits[0]!.dims, b.inits[1]!.data, group, strides, dils, pads, outPad);
    assert.deepEqual(outs[0]!.shape, want.shape);
    close(outs[0]!.data, want.data, 'ConvTranspose');
    assert.ok(kernels <= 2, `a transposed conv is one kernel (plus one rearranging grouped weights), got ${kernels}`);
  });
}

test('an unpadded window view is a strided matmul operand (patches of a row as a batch of matrices)', async () => {
  const g = new Graph();
  const b = new GraphBuilder(g);
  const x = b.input('x', [8, 12], 'float32');
  const w = b.input('w', [4, 5], 'float32');
  const patches = b.window(x, [{ dim: 1, k: 4, stride: 4 }]); // [8, 3, 4]: rows split into 3 patches of 4
  g.outputs = [b.matmul(patches, w)];
  const r = realize(g);
  assert.deepEqual(r.views.get(patches), { base: x, offset: 0, strides: [12, 4, 1] });
  const xs = NDArray.from(randnFloat32(96, 1), [8, 12]);
  const ws = NDArray.from(randnFloat32(20, 2), [4, 5]);
  const program = await compileGraph({ graph: g, params: [], returnsArray: true }, { cacheDir, workers: 2, device: testDevice });
  assert.equal(program.kernelCount, 1);
  const [got] = await program.run([xs, ws]);
  close(await got!.toArray(), interpret(g, [xs, ws])[0]!.data, 'patches @ w');
});

test('C code: 2-D depthwise convs and pools run over padded row bands, 1-D ones in the row order, implicit GEMMs pack from column tables', () => {
  const dw = new ModelBuilder('x', [1, 32, 28, 28]);
  const dwOut = dw.conv('x', 32, 32, [7, 7], [{ name: 'pads', ints: [3, 3, 3, 3] }], { group: 32 });
  const pool = singleOpModel([1, 8, 28, 28], 'MaxPool', [{ name: 'kernel_shape', ints: [3, 3] }, { name: 'strides', ints: [2, 2] }, { name: 'pads', ints: [1, 1, 1, 1] }]);
  // 28 outputs a row rounded up to 32 (two vectors), 14 to 16.
  for (const [[src], Lp] of [[cSources(dw.encode([dwOut]), [1, 32, 28, 28]), 32], [cSources(pool, [1, 8, 28, 28]), 16]] as const) {
    assert.match(src!, /P0\[\d+\] __attribute__\(\(aligned\(64\)\)\);/, 'the band of input rows copied');
    assert.match(src!, /#pragma omp simd\n\s*for \(int64_t u = 0; u < \d+; u\+\+\) \{/, 'each row copied in a vector loop');
    const row = src!.slice(src!.indexOf(`for (int64_t j = 0; j < ${Lp}; j++) {`), src!.indexOf('A_acc0[j] = acc0;'));
    assert.ok(row.length > 0, 'one vector loop over the rounded row');
    assert.match(row, /for \(int64_t r1 = 0; r1 < \d; r1\+\+\) \{/, 'the taps inside it');
    assert.doesNotMatch(row, />= 0LL|< \d+LL\)|\(t\d+ \?/, 'no bounds test or padding select among the taps');
  }
  // A 1-D depthwise conv keeps the row order: edges and interior per tap.
  const dw1 = new ModelBuilder('x', [1, 8, 30]);
  const [src1] = cSources(dw1.encode([dw1.conv('x', 8, 8, [3], [{ name: 'pads', ints: [1, 1] }], { group: 8 })]), [1, 8, 30]);
  assert.match(src1!, /A_acc0\[\d+\];/, 'accumulators of a row of outputs');
  assert.match(src1!, /#pragma omp simd\n\s*for \(int64_t j = 0; j < jlo; j\+\+\) \{\n\s*const int64_t o2 = j;/, 'a vector loop along the row: its left edge');
  // The interior: the column's padding test gone, the input read at an affine index.
  const interior = src1!.slice(src1!.indexOf('for (int64_t j = jlo; j < jhi; j++) {'), src1!.indexOf('for (int64_t j = jhi;'));
  assert.ok(interior.length > 0, 'the row in three loops');
  assert.doesNotMatch(interior, />= 0LL|< \d+LL\)/, 'no bounds test in the interior');
  assert.doesNotMatch(src1!, /if \(t\d+\)/, 'padding is a select, not a branch');
  const dense = new ModelBuilder('x', [1, 16, 28, 28]);
  const denseOut = dense.conv('x', 16, 32, [3, 3], [{ name: 'pads', ints: [1, 1, 1, 1] }]);
  const [gemm] = cSources(dense.encode([denseOut]), [1, 16, 28, 28]);
  assert.match(gemm!, /int64_t col0\[KILN_GEMM_NR\];/, 'column tables per panel');
  assert.match(gemm!, /kiln_gemm_tile\(144, a, Bp, tile, jn\);/, 'the register-blocked tile');
  assert.match(gemm!, /#pragma omp simd\n\s*for \(int64_t j = 0; j < jn; j\+\+\)/, 'the panel row packed in a vector loop');
});
