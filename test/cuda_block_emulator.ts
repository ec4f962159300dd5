// Runs a CUDA plan's kernels on the host, cooperating threads included: each kernel's CUDA C is
// compiled as host C++ (g++) behind a shim, and every block of a launch runs its threads as
// ucontext coroutines. __syncthreads() waits until every live thread of the block waits there
// (a thread that returned no longer counts, as on the GPU); a warp shuffle writes the lane's
// value to its slot, waits for the warp's other live lanes, reads its partner's, and waits
// again, so a shuffle inside a branch only one warp takes works as on the GPU; threads waiting
// at different barriers forever end the run with an error. __shared__ is `static` (one copy,
// and blocks run one at a time). cuBLAS products run as a plain host loop with cuBLAS's row-major
// wrapper's semantics (cublas.ts). This checks indexing, bounds, tails, launch shapes and the
// reduction trees, not the GPU's memory model or timing.
//
// One executable serves many calls: the kernels are compiled once, and each call is a command
// file (buffers, launches with their grids, blocks, pointers and size arguments, products)
// the test writes from the plan under that call's sizes.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cStorageType } from '../src/backends/c_expr.js';
import type { CudaKernelMeta, GemmMeta } from '../src/backends/cuda/kernel_text.js';
import type { DType } from '../src/graph/dtype.js';

/** What CUDA C needs on the host, shared by both emulators (this one and cuda_emulated.test.ts's). */
export const HOST_CUDA_SHIM = `#include <stdint.h>
#include <string.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#define __global__
#define __device__
#define __forceinline__ inline
struct kiln_uint3 { unsigned x, y, z; };
static kiln_uint3 threadIdx, blockIdx, blockDim, gridDim;
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) int4 { int x, y, z, w; };
static inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
static inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
#define __expf expf
static inline uint32_t __float_as_uint(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float __uint_as_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
`;

const SHIM = `${HOST_CUDA_SHIM}#include <ucontext.h>
#define __shared__ static
static inline void __threadfence() {}
enum { KILN_STACK = 1 << 16, KILN_MAX_THREADS = 1024 };
/* Each thread runs, or waits at a block barrier, or at a warp's shuffle, or is done. */
enum { KILN_RUN, KILN_BLOCK, KILN_WARP, KILN_DONE };
static ucontext_t kiln_sched, kiln_ctx[KILN_MAX_THREADS];
static unsigned char* kiln_stacks;
static int kiln_cur;
static int kiln_state[KILN_MAX_THREADS];
static uint64_t kiln_slot[KILN_MAX_THREADS];
static inline void kiln_wait(int why) { kiln_state[kiln_cur] = why; swapcontext(&kiln_ctx[kiln_cur], &kiln_sched); }
static inline void __syncthreads() { kiln_wait(KILN_BLOCK); }
/* A shuffle: every lane of the warp publishes its value, then reads its partner's (lane from, or its own when none). */
template <typename T> T kiln_shuffle(T v, int from) {
  memcpy(&kiln_slot[kiln_cur], &v, sizeof(T));
  kiln_wait(KILN_WARP);
  T o = v;
  if (from >= 0 && from < 32) memcpy(&o, &kiln_slot[(kiln_cur & ~31) + from], sizeof(T));
  kiln_wait(KILN_WARP);
  return o;
}
template <typename T> T __shfl_xor_sync(unsigned, T v, int m) { return kiln_shuffle(v, (kiln_cur & 31) ^ m); }
template <typename T> T __shfl_up_sync(unsigned, T v, int d) { return kiln_shuffle(v, (kiln_cur & 31) >= d ? (kiln_cur & 31) - d : -1); }
static void (*kiln_entry)();
static void kiln_thread() { kiln_entry(); kiln_state[kiln_cur] = KILN_DONE; }
/* Runs every runnable thread until it waits or ends; then releases a barrier every live thread
   of the block waits at, and each warp whose live lanes all wait at a shuffle. */
static void kiln_run_block(int n) {
  for (;;) {
    bool ran = false;
    for (int i = 0; i < n; i++) {
      if (kiln_state[i] != KILN_RUN) continue;
      ran = true;
      kiln_cur = i;
      threadIdx = {(unsigned)(i % blockDim.x), (unsigned)((i / blockDim.x) % blockDim.y), (unsigned)(i / (blockDim.x * blockDim.y))};
      swapcontext(&kiln_sched, &kiln_ctx[i]);
    }
    bool live = false, block = true;
    for (int i = 0; i < n; i++) if (kiln_state[i] != KILN_DONE) { live = true; if (kiln_state[i] != KILN_BLOCK) block = false; }
    if (!live) return;
    bool released = false;
    if (block) { for (int i = 0; i < n; i++) kiln_state[i] = KILN_RUN; released = true; }
    else for (int w = 0; w < n; w += 32) {
      bool all = true, any = false;
      for (int i = w; i < w + 32 && i < n; i++) if (kiln_state[i] != KILN_DONE) { any = true; if (kiln_state[i] != KILN_WARP) all = false; }
      if (any && all) { for (int i = w; i < w + 32 && i < n; i++) if (kiln_state[i] == KILN_WARP) kiln_state[i] = KILN_RUN; released = true; }
    }
    if (!released && !ran) { fprintf(stderr, "deadlock: threads wait at different barriers\\n"); exit(4); }
  }
}
static void kiln_launch(void (*entry)(), const unsigned g[3], const unsigned b[3]) {
  gridDim = {g[0], g[1], g[2]}; blockDim = {b[0], b[1], b[2]};
  const int n = b[0] * b[1] * b[2];
  if (n > KILN_MAX_THREADS) { fprintf(stderr, "block of %d threads\\n", n); exit(3); }
  kiln_entry = entry;
  for (unsigned bz = 0; bz < g[2]; bz++) for (unsigned by = 0; by < g[1]; by++) for (unsigned bx = 0; bx < g[0]; bx++) {
    blockIdx = {bx, by, bz};
    for (int i = 0; i < n; i++) {
      getcontext(&kiln_ctx[i]);
      kiln_ctx[i].uc_stack.ss_sp = kiln_stacks + (size_t)i * KILN_STACK;
      kiln_ctx[i].uc_stack.ss_size = KILN_STACK;
      kiln_ctx[i].uc_link = &kiln_sched;
      makecontext(&kiln_ctx[i], kiln_thread, 0);
      kiln_state[i] = KILN_RUN;
    }
    kiln_run_block(n);
  }
}
/* Row-major C = op(A)·op(B), batched: cublas.ts's sgemmStridedBatched. */
static void kiln_gemm(long batch, long M, long N, long K, const float* A, const float* B, float* C, int ta, int tb, long lda, long ldb, long ldc, long sa, long sb, long sc) {
  for (long z = 0; z < batch; z++) for (long m = 0; m < M; m++) for (long n = 0; n < N; n++) {
    double acc = 0;
    for (long k = 0; k < K; k++) acc += (double)A[z * sa + (ta ? k * lda + m : m * lda + k)] * (double)B[z * sb + (tb ? n * ldb + k : k * ldb + n)];
    C[z * sc + m * ldc + n] = (float)acc;
  }
}
static void* kiln_arg[4096];
static int64_t kiln_size[64];
`;

/** A kernel the executable holds: its CUDA source (name placeholder filled), metadata and parameter dtypes. */
export interface EmulatedKernel {
  name: string;
  source: string;
  meta: CudaKernelMeta;
  /** dtype of each buffer parameter (the scratch of a product included, last). */
  params: DType[];
}

/**
 * One call: buffer bytes (inputs' data given, the rest poisoned; a buffer `in` another lives at
 * that buffer's offset, as temporaries live in an arena), then the steps in order.
 */
export interface EmulatedCall {
  buffers: { bytes: number; data?: Uint8Array; in?: { buffer: number; offset: number } }[];
  steps: (
    | { kind: 'launch'; kernel: number; grid: number[]; block: number[]; args: number[]; sizes: number[] }
    | { kind: 'gemm'; gemm: GemmMeta; args: number[]; out: number }
  )[];
  outputs: number[];
}

export class BlockEmulator {
  private readonly exe: string;
  private calls = 0;

  constructor(
    private readonly dir: string,
    private readonly label: string,
    kernels: readonly EmulatedKernel[],
    gxx: string,
  ) {
    const src: string[] = [SHIM];
    kernels.forEach((k, i) => {
      src.push(k.source.split(k.name).join(`kern${i}`).replace(/extern "C" /g, ''));
      const ptrs = k.params.map((dt, p) => `(${cStorageType(dt)}*)kiln_arg[${p}]`);
      const sizes = (k.meta.sym?.sizes ?? []).map((_, j) => `kiln_size[${j}]`);
      // A pointer table kernel takes the table (the args array itself) instead of its pointers.
      const args = k.meta.pointerTable ? ['(void* const*)kiln_arg', ...sizes] : [...ptrs, ...sizes];
      src.push(`static void entry${i}() { kern${i}(${args.join(', ')}); }`);
    });
    src.push(
      `static void (*const entries[])() = {${kernels.map((_, i) => `entry${i}`).join(', ')}${kernels.length ? '' : '0'}};`,
      'int main(int argc, char** argv) {',
      '  kiln_stacks = (unsigned char*)malloc((size_t)KILN_MAX_THREADS * KILN_STACK);',
      '  FILE* f = fopen(argv[1], "r"); FILE* data = fopen(argv[2], "rb"); FILE* out = fopen(argv[3], "wb");',
      '  static void* buf[4096]; char op[8];',
      '  while (fscanf(f, "%7s", op) == 1) {',
      '    if (op[0] == \'B\') { long id, bytes, fromData; fscanf(f, "%ld %ld %ld", &id, &bytes, &fromData); buf[id] = aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);',
      '      if (fromData) { if (fread(buf[id], 1, bytes, data) != (size_t)bytes) return 2; } else memset(buf[id], 0xff, bytes); }',
      '    else if (op[0] == \'V\') { long id, parent, offset; fscanf(f, "%ld %ld %ld", &id, &parent, &offset); buf[id] = (unsigned char*)buf[parent] + offset; }',
    '    else if (op[0] == \'L\') { long k, na, ns; unsigned g[3], b[3]; fscanf(f, "%ld %u %u %u %u %u %u %ld", &k, &g[0], &g[1], &g[2], &b[0], &b[1], &b[2], &na);',
      '      for (long i = 0; i < na; i++) { long id; fscanf(f, "%ld", &id); kiln_arg[i] = buf[id]; }',
      '      fscanf(f, "%ld", &ns); for (long i = 0; i < ns; i++) fscanf(f, "%ld", &kiln_size[i]);',
      '      kiln_launch(entries[k], g, b); }',
      '    else if (op[0] == \'G\') { long v[15], a, ao, bb, bo, c; int ta, tb; fscanf(f, "%ld %ld %ld %ld %d %d %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld", &v[0], &v[1], &v[2], &v[3], &ta, &tb, &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &a, &ao, &bb, &bo, &c);',
      '      kiln_gemm(v[0], v[1], v[2], v[3], (const float*)buf[a] + ao, (const float*)buf[bb] + bo, (float*)buf[c], ta, tb, v[4], v[5], v[6], v[7], v[8], v[9]); }',
      '    else if (op[0] == \'O\') { long id, bytes; fscanf(f, "%ld %ld", &id, &bytes); fwrite(buf[id], 1, bytes, out); }',
      '  }',
      '  fclose(out);',
      '  return 0;',
      '}',
    );
    const stem = path.join(dir, label.replace(/\W+/g, '_'));
    fs.writeFileSync(`${stem}.cpp`, src.join('\n'));
    this.exe = `${stem}.exe`;
    execFileSync(gxx, ['-O1', '-std=c++17', '-fno-strict-aliasing', '-w', `${stem}.cpp`, '-o', this.exe, '-lm']);
  }

  /** Runs one call; returns each output's bytes. */
  run(call: EmulatedCall): Uint8Array[] {
    const stem = path.join(this.dir, `${this.label.replace(/\W+/g, '_')}_${this.calls++}`);
    const cmds: string[] = [];
    const data: Uint8Array[] = [];
    call.buffers.forEach((b, id) => {
      if (b.in) {
        if (b.in.buffer >= id) throw new Error('an arena buffer comes before the buffers in it');
        cmds.push(`V ${id} ${b.in.buffer} ${b.in.offset}`);
        return;
      }
      cmds.push(`B ${id} ${b.bytes} ${b.data ? 1 : 0}`);
      if (b.data) data.push(b.data);
    });
    for (const s of call.steps) {
      if (s.kind === 'launch') cmds.push(`L ${s.kernel} ${s.grid.join(' ')} ${s.block.join(' ')} ${s.args.length} ${s.args.join(' ')} ${s.sizes.length} ${s.sizes.join(' ')}`);
      else {
        const g = s.gemm;
        cmds.push(`G ${g.batch} ${g.M} ${g.N} ${g.K} ${g.a.trans ? 1 : 0} ${g.b.trans ? 1 : 0} ${g.a.ld} ${g.b.ld} ${g.N} ${g.a.batchStride} ${g.b.batchStride} ${g.M * g.N} ${s.args[g.a.param]} ${g.a.offset} ${s.args[g.b.param]} ${g.b.offset} ${s.out}`);
      }
    }
    for (const o of call.outputs) cmds.push(`O ${o} ${call.buffers[o]!.bytes}`);
    fs.writeFileSync(`${stem}.cmd`, cmds.join('\n') + '\n');
    fs.writeFileSync(`${stem}.in`, Buffer.concat(data));
    execFileSync(this.exe, [`${stem}.cmd`, `${stem}.in`, `${stem}.out`]);
    const bytes = fs.readFileSync(`${stem}.out`);
    const outs: Uint8Array[] = [];
    let at = 0;
    for (const o of call.outputs) {
      const n = call.buffers[o]!.bytes;
      outs.push(new Uint8Array(bytes.subarray(at, at + n)));
      at += n;
    }
    return outs;
  }
}
