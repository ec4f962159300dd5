// The CUDA backend keeps its code generator out of a warm start: the codegen modules are
// imported by prepareCodegen() (compileGraph calls it on a graph-cache miss), and generate()
// before that is a clear error rather than a silent import. Own file: a fresh process, so no
// other test has loaded the generator yet.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CudaBackend } from '../src/backends/cuda/backend.js';
import { findNvcc, findNvrtc } from '../src/backends/cuda/toolchain.js';
import { needs } from './prereq.js';
import { trace } from '../src/frontend/trace.js';
import { finalize } from '../src/schedule/finalize.js';
import { formKernels } from '../src/schedule/fuse.js';
import { realize } from '../src/schedule/realize.js';

// The backend's compiler identity needs a CUDA compiler to be installed (nothing runs it).
const skip = needs('nvcc', findNvcc() !== undefined || findNvrtc() !== undefined, 'a CUDA compiler: nvcc or NVRTC');

test('CudaBackend.generate needs prepareCodegen first; afterwards it generates', { skip }, async () => {
  const t = trace((x) => x.softmax(-1), [{ shape: [4, 64], dtype: 'float32' }]);
  const r = realize(t.graph);
  const [kernel] = finalize(t.graph, r, formKernels(t.graph, r)).kernels;
  // compileOnly with an explicit arch: no GPU and no compiler are touched.
  const backend = new CudaBackend({ arch: 'sm_90', compileOnly: true });
  assert.throws(() => backend.generate(kernel!), /before prepareCodegen\(\)/);
  await backend.prepareCodegen();
  const g = backend.generate(kernel!);
  assert.match(g.source, /extern "C" __global__/);
  assert.equal(g.options.arch, 'sm_90');
});
