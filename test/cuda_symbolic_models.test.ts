// The dynamic exports (test/fixtures/models_dynamic: ResNet and ConvNeXt over a symbolic batch, and
// the *_like_torchscript_dynamic transformers, GPT-2, BERT, LLaMA, Qwen2, Mistral, T5's encoder
// and ViT, over symbolic batch and sequence) on the CUDA backend without a GPU: each model's
// symbolic graph (the one its CPU run compiled
// once for all three cases) is scheduled by the CUDA backend, compile only, once with cuBLAS
// products and once with the generated GEMMs; every kernel is compiled with nvcc, and the plan
// runs in the block emulator (test/cuda_block_emulator.ts) at the three cases' sizes from that
// one set of kernels, each output checked against PyTorch's. test/real_models_dynamic.test.ts
// runs the same models on a GPU under `npm run test:gpu`.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

import { type DynamicSuiteMeta, caseInputs, caseOutputs, listSuite, maxRelError } from '../bench/model_suite.js';
import { loadOnnx } from '../src/api/load_onnx.js';
import { compileCuda } from '../src/backends/cuda/compiler.js';
import type { CudaKernelMeta } from '../src/backends/cuda/kernel_text.js';
import { findNvcc } from '../src/backends/cuda/toolchain.js';
import { BlockEmulator } from './cuda_block_emulator.js';
import { callOf, emulatedKernels, outputShape, scheduleTraced } from './cuda_symbolic_harness.js';
import { needs, optional } from './prereq.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = [path.join(here, 'fixtures/models_dynamic'), path.join(here, '../../test/fixtures/models_dynamic')].find((p) => fs.existsSync(p));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-cuda-sym-models-'));
after(() => fs.rmSync(work, { recursive: true, force: true }));

const gxx = ['/usr/bin/g++', '/usr/bin/c++'].find((p) => fs.existsSync(p));
const skip = needs('g++', gxx !== undefined, 'the host C++ compiler that runs the emulated kernels') || optional('the dynamic transformer exports', ROOT !== undefined, 'test/fixtures/models_dynamic/ is not there');
const skipNvcc = skip || needs('nvcc', findNvcc() !== undefined, 'KILN_NVCC, CUDA_HOME, /usr/local/cuda/bin, PATH');
const TOL = 1e-4;
// MobileNetV2 and EfficientNet-B0 are left out: about a minute each in the emulator (their many
// depthwise convs and SE blocks), where ResNet's and ConvNeXt's dense, 7×7 depthwise and
// strided convs take seconds; the GPU runs all of them (real_models_dynamic under test:gpu).
const SLOW_TO_EMULATE = /^(mobilenet_v2|efficientnet_b0)_dynamic$/;
const models = ROOT ? listSuite<DynamicSuiteMeta>(ROOT).filter((m) => !SLOW_TO_EMULATE.test(m.name)) : [];

for (const m of models) {
  for (const cublas of [true, false]) {
    const how = cublas ? 'cuBLAS products' : 'generated GEMMs';
    test(`${m.name} on CUDA (${how}), emulated: its three cases from one symbolic program`, { skip }, async () => {
      const model = loadOnnx(path.join(m.dir, 'model.onnx'), { cacheDir: path.join(work, 'cache'), device: 'cpu' });
      await model.run(caseInputs(m, 0));
      assert.equal(model.inspect().symbolic?.path, 'symbolic', 'the CPU run took the symbolic program');
      const built = model.graphFor(caseInputs(m, 0), { symbolic: true })!;
      assert.ok(built.traced.graph.inputs.some((id) => built.traced.graph.node(id).sym), 'a graph over size symbols');
      const s = await scheduleTraced(built.traced, cublas);
      const metas = s.plan.kernels.map((k) => k.meta as CudaKernelMeta);
      assert.ok(metas.every((meta) => meta.sym), 'every kernel is symbolic');
      assert.equal(metas.some((meta) => meta.sym?.gemm), cublas, `products through ${how}`);
      const emu = new BlockEmulator(work, `${m.name}_${cublas ? 'cublas' : 'gemm'}`, emulatedKernels(s), gxx!);
      const order = built.runtimeInputs;
      for (const [c, kase] of m.meta.cases.entries()) {
        const feeds = caseInputs(m, c);
        const inputs = order.map((n) => feeds[n]!);
        const outs = emu.run(callOf(s, inputs));
        for (const [i, { name, want }] of caseOutputs(m, c).entries()) {
          const shape = outputShape(s, inputs, i);
          assert.deepEqual(shape, want.shape, `${name}: shape`);
          const got = new Float32Array(outs[i]!.buffer, outs[i]!.byteOffset, outs[i]!.byteLength / 4);
          const err = maxRelError(got, want.toArraySync() as number[]);
          assert.ok(err <= TOL, `case ${c} (inputs ${JSON.stringify(kase.shapes)}): output '${name}': max |kiln − PyTorch| = ${err.toExponential(2)} × max |PyTorch| (limit ${TOL})`);
        }
      }
      model.dispose();
    });
  }
}

test('the dynamic exports\' symbolic CUDA kernels compile with nvcc (one unit per model, cuBLAS epilogues and generated GEMMs)', { skip: skipNvcc }, async () => {
  for (const m of models) {
    const model = loadOnnx(path.join(m.dir, 'model.onnx'), { cacheDir: path.join(work, 'cache'), device: 'cpu' });
    await model.run(caseInputs(m, 0));
    const built = model.graphFor(caseInputs(m, 0), { symbolic: true })!;
    const sources = new Map([...(await scheduleTraced(built.traced, true)).sources, ...(await scheduleTraced(built.traced, false)).sources]);
    const { binary } = await compileCuda({ key: `test-cuda-sym-models-${m.name}`.padEnd(32, '0'), kernelName: [...sources.keys()][0]!, source: [...sources.values()].join('\n'), options: { arch: 'sm_90' } }, 'nvcc');
    assert.ok(binary.length > 1000, m.name);
    model.dispose();
  }
});
