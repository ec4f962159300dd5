// The CUDA backend's compiler and the parts of its runtime that need no GPU: compiling to a
// cubin (nvcc here; NVRTC too where libnvrtc exists), error contract, compiler identity,
// cudaAvailable() without a device, the caching allocator, kernel argument packing and the
// row-major → column-major GEMM mapping. The GPU half is bench/gpu_runtime_check.ts.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import koffi from 'koffi';
import { CachingAllocator, roundAllocationSize } from '../src/backends/cuda/allocator.js';
import { columnMajorGemm } from '../src/backends/cuda/cublas.js';
import { compileCuda } from '../src/backends/cuda/compiler.js';
import { cudaCompilerIdentity, type CudaCompilerKind } from '../src/backends/cuda/toolchain.js';
import { CudaError, cudaAvailable, cudaUnavailableReason, type DevicePtr } from '../src/backends/cuda/driver.js';
import { ArgPack } from '../src/backends/cuda/launch.js';
import { findNvcc, findNvrtc } from '../src/backends/cuda/toolchain.js';
import { needs, optional } from './prereq.js';
import type { CompileSource } from '../src/compile/types.js';

const SAXPY = `extern "C" __global__ void saxpy(float a, const float* __restrict__ x, const float* __restrict__ y, float* __restrict__ out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a * x[i] + y[i];
}
`;

function request(kernelName: string, source: string, arch = 'sm_90'): CompileSource {
  return { key: `test-${kernelName}-${arch}-0123456789abcdef`, kernelName, source, options: { arch } };
}

function withEnv<T>(vars: Record<string, string | undefined>, f: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return f();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const nvccPath = findNvcc();
const nvrtcLoc = (() => {
  try {
    return findNvrtc();
  } catch {
    return undefined;
  }
})();
const compilers: Array<{ kind: CudaCompilerKind; skip: string | false }> = [
  { kind: 'nvcc', skip: needs('nvcc', nvccPath !== undefined, 'KILN_NVCC, CUDA_HOME, /usr/local/cuda/bin, PATH') },
  // NVRTC may be missing even in CI (it comes with a GPU driver's toolkit): skipping is allowed.
  { kind: 'nvrtc', skip: optional('libnvrtc', nvrtcLoc !== undefined, 'libnvrtc not found (KILN_NVRTC, /usr/local/cuda*/lib64, CUDA_HOME, ldconfig)') },
];

function assertCubin(binary: Uint8Array, kernelName: string): void {
  assert.deepEqual([...binary.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], 'a cubin starts with the ELF magic');
  assert.ok(Buffer.from(binary).includes(kernelName), `the cubin names ${kernelName}`);
}

for (const { kind, skip } of compilers) {
  describe(`compileCuda with ${kind}`, { skip }, () => {
    it('compiles saxpy to an sm_90 cubin', async () => {
      const { binary } = await compileCuda(request('saxpy', SAXPY), kind);
      assertCubin(binary, 'saxpy');
      // EM_CUDA = 190 in the ELF header's e_machine field (offset 18, little-endian).
      assert.equal(binary[18]! | (binary[19]! << 8), 190);
    });

    it('a syntax error names the kernel, carries the compiler message and keeps the source', async () => {
      const bad = 'extern "C" __global__ void broken_k(float* p) { p[0] = 1.0f +; }\n';
      await assert.rejects(compileCuda(request('broken_k', bad), kind), (e: Error) => {
        assert.match(e.message, /CUDA kernel 'broken_k' failed to compile with/);
        assert.match(e.message, new RegExp(kind));
        assert.match(e.message, /error/i, 'the compiler diagnostic is in the message');
        const m = e.message.match(/source written to (.+\.cu)$/m);
        assert.ok(m !== null, `the message says where the source is: ${e.message}`);
        assert.equal(readFileSync(m[1]!, 'utf8'), bad);
        return true;
      });
    });

    it('rejects a virtual architecture with a clear message', async () => {
      await assert.rejects(compileCuda(request('saxpy', SAXPY, 'compute_90'), kind), /saxpy.*compute_90.*not a real architecture/s);
    });
  });
}

describe('cudaCompilerIdentity', () => {
  it('names the compiler, its real path and size, and changes with arch', { skip: needs('nvcc', nvccPath !== undefined || nvrtcLoc !== undefined, 'a CUDA compiler: nvcc or NVRTC') }, () => {
    const a = cudaCompilerIdentity('sm_90');
    const b = cudaCompilerIdentity('sm_80');
    assert.notEqual(a, b);
    assert.match(a, /arch=sm_90/);
    assert.match(a, /^(nvrtc|nvcc):\//);
    assert.equal(cudaCompilerIdentity('sm_90'), a, 'stable');
  });

  it('with nvcc forced, names the real nvcc binary (not a wrapper) and ptxas', { skip: needs('nvcc', nvccPath !== undefined) }, () => {
    const id = withEnv({ KILN_CUDA_COMPILER: 'nvcc' }, () => cudaCompilerIdentity('sm_90'));
    assert.match(id, /^nvcc:\/\S+\/bin\/nvcc:\d+,/);
    assert.match(id, /ptxas:\d+/);
  });

  it('forcing a compiler that is absent is a clear error', () => {
    if (nvrtcLoc === undefined) {
      assert.throws(() => withEnv({ KILN_CUDA_COMPILER: 'nvrtc' }, () => cudaCompilerIdentity('sm_90')), /KILN_CUDA_COMPILER=nvrtc but libnvrtc was not found/);
    }
    assert.throws(() => withEnv({ KILN_CUDA_COMPILER: 'nvcc', KILN_NVCC: '/nonexistent/nvcc' }, () => cudaCompilerIdentity('sm_90')), /KILN_CUDA_COMPILER=nvcc but nvcc was not found/);
    assert.throws(() => withEnv({ KILN_CUDA_COMPILER: 'clang' }, () => cudaCompilerIdentity('sm_90')), /KILN_CUDA_COMPILER="clang": expected auto, nvrtc or nvcc/);
  });

  it('does not load NVRTC (the main process never does)', { skip: needs('nvcc', nvccPath !== undefined || nvrtcLoc !== undefined, 'a CUDA compiler: nvcc or NVRTC') }, () => {
    // In a fresh process: this one has loaded NVRTC for the compile tests above.
    const compiler = new URL('../src/backends/cuda/toolchain.js', import.meta.url).href;
    const nvrtc = new URL('../src/backends/cuda/nvrtc.js', import.meta.url).href;
    const code = `const c = await import(${JSON.stringify(compiler)}); const n = await import(${JSON.stringify(nvrtc)});
      c.cudaCompilerIdentity('sm_90');
      const maps = (await import('node:fs')).readFileSync('/proc/self/maps', 'utf8');
      console.log(JSON.stringify({ loaded: n.nvrtcLoaded(), mapped: maps.includes('libnvrtc') }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' })) as { loaded: boolean; mapped: boolean };
    assert.deepEqual(out, { loaded: false, mapped: false });
  });
});

describe('cudaAvailable', () => {
  it('answers without throwing, and says why when false', () => {
    const ok = cudaAvailable();
    if (ok) return; // a GPU machine: the GPU check script covers the rest
    const why = cudaUnavailableReason();
    assert.ok(why !== undefined && why.length > 0);
    assert.match(why, /libcuda|cuInit|device/);
    assert.equal(cudaAvailable(), false, 'stable');
  });
});

/** A fake device: addresses from a counter, frees recorded; can run out of memory. */
function fakeMemory(limit = Infinity) {
  let next = 0x7f0000000000;
  let inUse = 0;
  const sizes = new Map<DevicePtr, number>();
  const freed: DevicePtr[] = [];
  return {
    freed,
    get inUse() {
      return inUse;
    },
    alloc(bytes: number): DevicePtr {
      if (inUse + bytes > limit) throw new CudaError('cuMemAlloc_v2', 2);
      const p = next;
      next += bytes + 4096;
      inUse += bytes;
      sizes.set(p, bytes);
      return p;
    },
    free(ptr: DevicePtr) {
      inUse -= sizes.get(ptr)!;
      sizes.delete(ptr);
      freed.push(ptr);
    },
  };
}

describe('CachingAllocator', () => {
  it('rounds to 512 B below 1 MiB and to powers of two above', () => {
    assert.equal(roundAllocationSize(0), 512);
    assert.equal(roundAllocationSize(1), 512);
    assert.equal(roundAllocationSize(512), 512);
    assert.equal(roundAllocationSize(513), 1024);
    assert.equal(roundAllocationSize(1 << 20), 1 << 20);
    assert.equal(roundAllocationSize((1 << 20) + 1), 2 << 20);
    assert.equal(roundAllocationSize(3 << 20), 4 << 20);
    assert.throws(() => roundAllocationSize(-1), RangeError);
  });

  it('reuses freed blocks of the same bucket and gives them back on emptyCache', () => {
    const mem = fakeMemory();
    const a = new CachingAllocator(mem);
    const p = a.alloc(1000);
    a.free(p);
    assert.equal(a.alloc(1024), p, 'same bucket (1024) → same block');
    const q = a.alloc(1000);
    assert.notEqual(q, p);
    assert.deepEqual(a.stats(), { reservedBytes: 2048, allocatedBytes: 2048, cachedBlocks: 0, driverAllocs: 2, cacheHits: 1 });
    a.free(p);
    a.free(q);
    assert.throws(() => a.free(q), /not a live allocation/);
    a.emptyCache();
    assert.deepEqual(mem.freed.sort(), [p, q].sort());
    assert.equal(mem.inUse, 0);
    assert.equal(a.stats().reservedBytes, 0);
  });

  it('on out-of-memory, empties the cache and retries once', () => {
    const mem = fakeMemory(4 << 20);
    const a = new CachingAllocator(mem);
    a.free(a.alloc(3 << 20)); // 4 MiB block cached
    const p = a.alloc(2 << 20); // needs a fresh 2 MiB: only fits once the cache is emptied
    assert.equal(a.sizeOf(p), 2 << 20);
    assert.equal(mem.inUse, 2 << 20);
    assert.throws(() => a.alloc(3 << 20), (e: unknown) => e instanceof CudaError && e.code === 2);
  });
});

describe('ArgPack (cuLaunchKernel kernelParams)', () => {
  it('points each kernelParams entry at a slot holding that argument', () => {
    const pack = new ArgPack(['ptr', 'i32', 'i64', 'f32', 'ptr']);
    const ptr = 0x7f12_3456_7890;
    pack.set([ptr, -7, -(2 ** 40) - 3, 1.5, 2 ** 52 + 1]);
    const params = koffi.decode(pack.address, 'uint64_t', 5) as ArrayLike<number | bigint>;
    const slot = (i: number) => BigInt(params[i]!);
    const read = (i: number, type: string) => koffi.decode(slot(i), type) as number | bigint;
    assert.equal(BigInt(read(0, 'uint64_t')), BigInt(ptr));
    assert.equal(Number(read(1, 'int32_t')), -7);
    assert.equal(BigInt(read(2, 'int64_t')), BigInt(-(2 ** 40) - 3));
    assert.equal(Number(read(3, 'float')), 1.5);
    assert.equal(BigInt(read(4, 'uint64_t')), BigInt(2 ** 52 + 1));
    // Rewriting reuses the same slots (no allocation per launch).
    pack.set([1, 2, 3, 4, 5]);
    assert.equal(BigInt(read(0, 'uint64_t')), 1n);
    assert.equal(Number(read(3, 'float')), 4);
    assert.throws(() => pack.set([1, 2]), /takes 5 arguments/);
    pack.dispose();
  });

  it('rejects unknown kinds', () => {
    assert.throws(() => new ArgPack(['f64' as never]), /unknown kernel argument kind/);
  });
});

/** cuBLAS's column-major SGEMM semantics, in float64: C = alpha·op(A)·op(B) + beta·C. */
function colMajorGemm(opA: number, opB: number, m: number, n: number, k: number, alpha: number, A: Float64Array, lda: number, B: Float64Array, ldb: number, beta: number, C: Float64Array, ldc: number) {
  const a = (i: number, l: number) => (opA === 0 ? A[i + l * lda]! : A[l + i * lda]!);
  const b = (l: number, j: number) => (opB === 0 ? B[l + j * ldb]! : B[j + l * ldb]!);
  for (let j = 0; j < n; j++)
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let l = 0; l < k; l++) s += a(i, l) * b(l, j);
      C[i + j * ldc] = alpha * s + beta * C[i + j * ldc]!;
    }
}

describe('columnMajorGemm (row-major GEMM through column-major cuBLAS)', () => {
  const M = 5;
  const N = 3;
  const K = 4;
  for (const transA of [false, true])
    for (const transB of [false, true]) {
      it(`matches a row-major reference with transA=${transA} transB=${transB} and padded rows`, () => {
        const rnd = () => Math.round(Math.random() * 20 - 10);
        // Logical op(A) [M,K], op(B) [K,N]; stored transposed when asked, rows padded by 2.
        const opA = Array.from({ length: M }, () => Array.from({ length: K }, rnd));
        const opB = Array.from({ length: K }, () => Array.from({ length: N }, rnd));
        const lda = (transA ? M : K) + 2;
        const ldb = (transB ? K : N) + 2;
        const ldc = N + 1;
        const A = new Float64Array((transA ? K : M) * lda);
        const B = new Float64Array((transB ? N : K) * ldb);
        for (let i = 0; i < M; i++) for (let l = 0; l < K; l++) A[transA ? l * lda + i : i * lda + l] = opA[i]![l]!;
        for (let l = 0; l < K; l++) for (let j = 0; j < N; j++) B[transB ? j * ldb + l : l * ldb + j] = opB[l]![j]!;
        const C = new Float64Array(M * ldc).fill(1);
        const g = columnMajorGemm({ M, N, K, A: 0, B: 0, C: 0, transA, transB, lda, ldb, ldc });
        // What Cublas.sgemm passes: (opB, opA, N, M, K, B, ldb, A, lda, C, ldc).
        colMajorGemm(g.opB, g.opA, g.N, g.M, g.K, 2, B, g.ldb, A, g.lda, 3, C, g.ldc);
        for (let i = 0; i < M; i++)
          for (let j = 0; j < N; j++) {
            let s = 0;
            for (let l = 0; l < K; l++) s += opA[i]![l]! * opB[l]![j]!;
            assert.equal(C[i * ldc + j], 2 * s + 3, `C[${i},${j}]`);
          }
      });
    }

  it('rejects leading dimensions smaller than the stored width', () => {
    assert.throws(() => columnMajorGemm({ M: 4, N: 3, K: 5, A: 0, B: 0, C: 0, lda: 4 }), /lda = 4/);
    assert.throws(() => columnMajorGemm({ M: 4, N: 3, K: 5, A: 0, B: 0, C: 0, transB: true, ldb: 3 }), /ldb = 3/);
  });
});

