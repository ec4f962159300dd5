// The CUDA runtime checked and timed on a real GPU, in one script (llm.c style): every result
// against a JS reference, then the numbers that matter for kiln's latency.
//
//   node dist/bench/gpu_runtime_check.js [--json]
//
// Compiles run in forked child processes (as kiln's compile workers do): the main process
// must never map libnvrtc, and the children must never map libcuda. Exits 1 on any failed
// check; each failure says what failed. Progress lines go to stderr as the checks run, so a
// crash still shows how far it got.
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CompiledKernel } from '../src/cache/compiled_kernel.js';
import type { CompileSource } from '../src/compile/types.js';
import { setting } from '../src/config/read.js';
import { mulberry32 } from '../src/graph/random.js';

const SAXPY = (name: string, k = 1) => `extern "C" __global__ void ${name}(float a, const float* __restrict__ x, const float* __restrict__ y, float* __restrict__ out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a * x[i] + y[i] * ${k}.0f;
}
`;
const ARGS_PROBE = `extern "C" __global__ void args_probe(long long a, int b, float c, const float* p, long long* out) {
  out[0] = a; out[1] = b; out[2] = __float_as_int(c); out[3] = (long long)p;
}
`;
const TINY = `extern "C" __global__ void tiny(float* p, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] += 1.0f;
}
`;

interface ChildJob {
  id: number;
  compiler: 'nvrtc' | 'nvcc';
  req: CompileSource;
}
interface ChildReply {
  id: number;
  ok: boolean;
  binary?: Uint8Array;
  log?: string;
  error?: string;
  ms: number;
  identity?: string;
  nvrtcMapped: boolean;
  cudaMapped: boolean;
}

function mappedLibs(): string {
  try {
    return readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------- child: a compile worker
async function childMain(): Promise<void> {
  const { compileCuda } = await import('../src/backends/cuda/compiler.js');
  const { cudaCompilerIdentity } = await import('../src/backends/cuda/toolchain.js');
  process.on('message', (job: ChildJob) => {
    void (async () => {
      const t0 = performance.now();
      let reply: ChildReply;
      try {
        const identity = (() => {
          const saved = process.env.KILN_CUDA_COMPILER;
          process.env.KILN_CUDA_COMPILER = job.compiler;
          try {
            return cudaCompilerIdentity(job.req.options.arch);
          } finally {
            if (saved === undefined) delete process.env.KILN_CUDA_COMPILER;
            else process.env.KILN_CUDA_COMPILER = saved;
          }
        })();
        const t1 = performance.now();
        const r = await compileCuda(job.req, job.compiler);
        reply = { id: job.id, ok: true, binary: r.binary, log: r.log, ms: performance.now() - t1, identity, nvrtcMapped: false, cudaMapped: false };
      } catch (e) {
        reply = { id: job.id, ok: false, error: (e as Error).message, ms: performance.now() - t0, nvrtcMapped: false, cudaMapped: false };
      }
      const maps = mappedLibs();
      reply.nvrtcMapped = maps.includes('libnvrtc');
      reply.cudaMapped = maps.includes('libcuda.so');
      process.send!(reply);
    })();
  });
  process.send!({ ready: true });
}

class CompileChild {
  private readonly proc: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, (r: ChildReply) => void>();
  readonly ready: Promise<void>;

  constructor() {
    this.proc = fork(fileURLToPath(import.meta.url), ['--compile-child'], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.ready = new Promise((resolve, reject) => {
      this.proc.once('exit', (code, sig) => reject(new Error(`compile child exited (${code ?? sig}) before it was ready`)));
      this.proc.on('message', (m: ChildReply | { ready: true }) => {
        if ('ready' in m) return resolve();
        this.waiting.get(m.id)?.(m);
        this.waiting.delete(m.id);
      });
    });
    this.proc.on('exit', (code, sig) => {
      for (const w of this.waiting.values()) w({ id: -1, ok: false, error: `compile child died (${code ?? sig})`, ms: 0, nvrtcMapped: false, cudaMapped: false });
      this.waiting.clear();
    });
  }

  compile(compiler: 'nvrtc' | 'nvcc', kernelName: string, source: string, arch: string): Promise<ChildReply> {
    const id = this.nextId++;
    const req: CompileSource = { key: `gpu-check-${kernelName}-${compiler}-${arch}`, kernelName, source, options: { arch } };
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.proc.send({ id, compiler, req } satisfies ChildJob);
    });
  }

  close(): void {
    this.proc.kill();
  }
}

// ---------------------------------------------------------------- parent: checks and timings
interface Check {
  name: string;
  ok: boolean;
  detail: string;
}
const checks: Check[] = [];
const metrics: Record<string, number | string> = {};
const json = process.argv.includes('--json');

function record(name: string, ok: boolean, detail: string): boolean {
  checks.push({ name, ok, detail });
  process.stderr.write(`${ok ? 'PASS' : 'FAIL'}  ${name}${detail !== '' ? `: ${detail}` : ''}\n`);
  return ok;
}

function metric(name: string, value: number | string, unit = ''): void {
  metrics[name] = value;
  process.stderr.write(`      ${name} = ${typeof value === 'number' ? +value.toPrecision(4) : value}${unit !== '' ? ` ${unit}` : ''}\n`);
}

/** Runs one step; an exception is a failed check naming the step, and the script goes on. */
async function step<T>(name: string, f: () => T | Promise<T>): Promise<T | undefined> {
  try {
    return await f();
  } catch (e) {
    record(name, false, `threw ${(e as Error).stack ?? String(e)}`);
    return undefined;
  }
}

function median(xs: ArrayLike<number>): number {
  const s = Float64Array.from(xs).sort();
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function percentile(xs: ArrayLike<number>, p: number): number {
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

/** Deterministic uniform [-1, 1) float32 data (mulberry32), so a failure reproduces. */
function randomF32(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

/** A compiled check kernel for the loader; the checks launch it by hand, so its launch metadata is a placeholder. */
function asKernel(kernelName: string, r: ChildReply): CompiledKernel {
  const meta = { params: 0, launch: { grid: [1, 1, 1] as [number, number, number], block: [1, 1, 1] as [number, number, number], shared: 0 } };
  return { key: `gpu-check-${kernelName}`, backend: 'cuda', kernelName, binary: r.binary!, meta, log: r.log ?? '', compileMs: r.ms };
}

const NAN_POISON = 0x7fc00000;

async function parentMain(): Promise<number> {
  const driver = await import('../src/backends/cuda/driver.js');
  const { loadCudaKernel } = await import('../src/backends/cuda/loader.js');
  const { prepareLaunch, launchKernel } = await import('../src/backends/cuda/launch.js');
  const { deviceAllocator } = await import('../src/backends/cuda/allocator.js');
  const { Cublas, cublasLibraryPath } = await import('../src/backends/cuda/cublas.js');
  const { deviceArch } = await import('../src/backends/cuda/driver.js');
  const arch = setting('KILN_CUDA_ARCH') ?? 'sm_90';

  // --- compiles, in child processes --------------------------------------------------------
  const nvrtcChild = new CompileChild();
  const nvccChild = new CompileChild();
  const bins: Record<string, CompiledKernel> = {};
  await step('compile children start', async () => {
    await Promise.all([nvrtcChild.ready, nvccChild.ready]);
  });
  await step('NVRTC compiles in a child process', async () => {
    const first = await nvrtcChild.compile('nvrtc', 'saxpy', SAXPY('saxpy'), arch);
    if (!record('NVRTC compile saxpy', first.ok, first.ok ? `${first.binary!.length} B cubin` : first.error!)) return;
    metric('nvrtc_identity', first.identity ?? '?');
    metric('nvrtc_first_compile_ms', first.ms, 'ms (includes loading libnvrtc)');
    record('child mapped libnvrtc, not libcuda', first.nvrtcMapped && !first.cudaMapped, `libnvrtc ${first.nvrtcMapped}, libcuda ${first.cudaMapped}`);
    bins.saxpy_nvrtc = asKernel('saxpy', first);
    const later: number[] = [];
    for (let i = 2; i <= 6; i++) {
      const r = await nvrtcChild.compile('nvrtc', `saxpy_v${i}`, SAXPY(`saxpy_v${i}`, i), arch);
      if (!r.ok) return void record(`NVRTC compile saxpy_v${i}`, false, r.error!);
      later.push(r.ms);
    }
    metric('nvrtc_later_compile_ms_median', median(later), `ms (5 kernels: ${later.map((x) => x.toFixed(1)).join(', ')})`);
    for (const [name, src] of [
      ['args_probe', ARGS_PROBE],
      ['tiny', TINY],
    ] as const) {
      const r = await nvrtcChild.compile('nvrtc', name, src, arch);
      if (record(`NVRTC compile ${name}`, r.ok, r.ok ? '' : r.error!)) bins[name] = asKernel(name, r);
    }
    const old = await nvrtcChild.compile('nvrtc', 'saxpy', SAXPY('saxpy'), 'sm_80');
    if (record('NVRTC compile saxpy for sm_80', old.ok, old.ok ? '' : old.error!)) bins.saxpy_sm80 = asKernel('saxpy', old);
    const bad = await nvrtcChild.compile('nvrtc', 'broken_k', 'extern "C" __global__ void broken_k(float* p) { p[0] = 1.0f +; }', arch);
    record(
      'NVRTC syntax error names the kernel, the log and the source file',
      !bad.ok && /broken_k/.test(bad.error ?? '') && /error/i.test(bad.error ?? '') && /source written to \S+\.cu/.test(bad.error ?? ''),
      (bad.error ?? 'compiled?!').split('\n').slice(0, 3).join(' | '),
    );
  });
  await step('nvcc compiles in a child process', async () => {
    const r = await nvccChild.compile('nvcc', 'saxpy', SAXPY('saxpy'), arch);
    if (!record('nvcc compile saxpy', r.ok, r.ok ? `${r.binary!.length} B cubin` : r.error!)) return;
    metric('nvcc_identity', r.identity ?? '?');
    metric('nvcc_compile_ms', r.ms, 'ms');
    bins.saxpy_nvcc = asKernel('saxpy', r);
  });
  nvrtcChild.close();
  nvccChild.close();
  record('main process never mapped libnvrtc', !mappedLibs().includes('libnvrtc'), '');

  // --- driver ------------------------------------------------------------------------------
  const t0 = performance.now();
  const avail = driver.cudaAvailable();
  metric('cuinit_context_ms', performance.now() - t0, 'ms (cuInit + primary context)');
  if (!record('cudaAvailable()', avail, avail ? '' : driver.cudaUnavailableReason() ?? '')) return finish();
  const info = driver.deviceInfo();
  metric('device', `${info.name} ${info.arch}, ${info.smCount} SMs, ${(info.totalMemBytes / 2 ** 30).toFixed(1)} GiB, driver ${info.driverVersion}`);
  record('deviceArch() matches the device', deviceArch() === info.arch, `${deviceArch()} vs ${info.arch}`);
  const alloc = deviceAllocator();

  // --- module load ---------------------------------------------------------------------------
  const loaded: Record<string, ReturnType<typeof loadCudaKernel>> = {};
  await step('cuModuleLoadData', () => {
    for (const [k, v] of Object.entries(bins)) {
      if (k === 'saxpy_sm80') continue;
      const t = performance.now();
      loaded[k] = loadCudaKernel(v);
      if (k === 'saxpy_nvrtc') metric('module_load_first_ms', performance.now() - t, 'ms');
    }
    if (bins.saxpy_nvrtc !== undefined) {
      const times: number[] = [];
      for (let i = 0; i < 20; i++) {
        // A fresh copy each time: the loader keeps one module per cubin object.
        const copy = { ...bins.saxpy_nvrtc, binary: bins.saxpy_nvrtc.binary.slice() };
        const t = performance.now();
        const m = loadCudaKernel(copy);
        times.push(performance.now() - t);
        driver.moduleUnload(m.module);
      }
      metric('module_load_median_ms', median(times), 'ms (20 loads)');
    }
  });
  await step('load errors', () => {
    try {
      driver.moduleLoadData(new Uint8Array(64).fill(7));
      record('garbage image is rejected', false, 'cuModuleLoadData accepted garbage');
    } catch (e) {
      record('garbage image is rejected', /^cuModuleLoadData failed: CUDA_ERROR_\w+/.test((e as Error).message), (e as Error).message);
    }
    if (bins.saxpy_nvrtc !== undefined) {
      try {
        loadCudaKernel({ ...bins.saxpy_nvrtc, kernelName: 'no_such_kernel' });
        record('unknown kernel name is rejected', false, 'loaded?!');
      } catch (e) {
        record('unknown kernel name is rejected', /cuModuleGetFunction failed: CUDA_ERROR_NOT_FOUND.*no_such_kernel/.test((e as Error).message), (e as Error).message);
      }
    }
    if (bins.saxpy_sm80 !== undefined) {
      try {
        driver.moduleUnload(loadCudaKernel(bins.saxpy_sm80).module);
        record('an sm_80 cubin is rejected on this device', info.arch === 'sm_80' || info.arch === 'sm_86', `loaded on ${info.arch}`);
      } catch (e) {
        record('an sm_80 cubin is rejected on this device', /cuModuleLoadData failed: CUDA_ERROR_\w+.*compiled for/.test((e as Error).message), (e as Error).message);
      }
    }
  });

  // --- saxpy, both compilers ---------------------------------------------------------------
  const n = (1 << 20) + 3;
  const x = randomF32(n, 1);
  const y = randomF32(n, 2);
  const a = 1.7;
  for (const which of ['saxpy_nvrtc', 'saxpy_nvcc']) {
    const k = loaded[which];
    if (k === undefined) continue;
    await step(`${which} result`, () => {
      const dx = alloc.alloc(n * 4);
      const dy = alloc.alloc(n * 4);
      const dout = alloc.alloc(n * 4);
      driver.memcpyHtoD(dx, x);
      driver.memcpyHtoD(dy, y);
      driver.memsetD32(dout, NAN_POISON, n);
      const l = prepareLaunch(k.fn, ['f32', 'ptr', 'ptr', 'ptr', 'i32']);
      l.launch([a, dx, dy, dout, n], [Math.ceil(n / 256), 1, 1], [256, 1, 1]);
      const out = new Float32Array(n);
      driver.memcpyDtoH(out, dout);
      let bad = -1;
      let maxErr = 0;
      const af = Math.fround(a);
      for (let i = 0; i < n; i++) {
        const ref = af * x[i]! + y[i]!;
        const err = Math.abs(out[i]! - ref);
        if (!(err <= 1e-6 * (Math.abs(af * x[i]!) + Math.abs(y[i]!)) + 1e-30)) {
          bad = i;
          break;
        }
        maxErr = Math.max(maxErr, err);
      }
      record(`${which}: every element written and correct`, bad < 0, bad < 0 ? `n=${n}, max abs err ${maxErr.toExponential(2)}` : `out[${bad}] = ${out[bad]}, expected ${af * x[bad]! + y[bad]!}`);
      for (const p of [dx, dy, dout]) alloc.free(p);
    });
  }

  // --- argument packing --------------------------------------------------------------------
  if (loaded.args_probe !== undefined) {
    await step('kernel argument packing', () => {
      const out = alloc.alloc(32);
      const p = alloc.alloc(4096);
      const i64 = -(2 ** 40) - 12345;
      launchKernel(loaded.args_probe!.fn, [1, 1, 1], [1, 1, 1], 0, driver.DEFAULT_STREAM, [
        { kind: 'i64', value: i64 },
        { kind: 'i32', value: -7 },
        { kind: 'f32', value: 3.25 },
        { kind: 'ptr', value: p },
        { kind: 'ptr', value: out },
      ]);
      const got = new BigInt64Array(4);
      driver.memcpyDtoH(got, out);
      const expect = [BigInt(i64), -7n, BigInt(new Int32Array(new Float32Array([3.25]).buffer)[0]!), BigInt(p)];
      record('i64, i32, f32 and ptr arguments arrive intact', expect.every((v, i) => got[i] === v), `got [${[...got].join(', ')}], want [${expect.join(', ')}]`);
      alloc.free(out);
      alloc.free(p);
    });
  }

  // --- launch overhead ---------------------------------------------------------------------
  if (loaded.tiny !== undefined) {
    await step('launch overhead', () => {
      const buf = alloc.alloc(4);
      driver.memsetD32(buf, 0, 1);
      const l = prepareLaunch(loaded.tiny!.fn, ['ptr', 'i32']);
      const values = [buf, 1];
      const grid = [1, 1, 1] as const;
      const block = [32, 1, 1] as const;
      for (let i = 0; i < 1000; i++) l.launch(values, grid, block);
      driver.ctxSynchronize();
      const N = 10000;
      const times = new Float64Array(N);
      const tAll = performance.now();
      for (let i = 0; i < N; i++) {
        const t = performance.now();
        l.launch(values, grid, block);
        times[i] = performance.now() - t;
      }
      const enqueueMs = performance.now() - tAll;
      driver.ctxSynchronize();
      const totalMs = performance.now() - tAll;
      metric('launch_host_us_median', median(times) * 1000, 'µs per prepared launch (10000, no sync)');
      metric('launch_host_us_p90', percentile(times, 0.9) * 1000, 'µs');
      metric('launch_host_us_mean', (enqueueMs / N) * 1000, 'µs (loop incl. timer)');
      metric('launch_10000_then_sync_ms', totalMs, 'ms');
      const generic = new Float64Array(2000);
      const args = [
        { kind: 'ptr', value: buf },
        { kind: 'i32', value: 1 },
      ] as const;
      for (let i = 0; i < generic.length; i++) {
        const t = performance.now();
        launchKernel(loaded.tiny!.fn, grid, block, 0, driver.DEFAULT_STREAM, args);
        generic[i] = performance.now() - t;
      }
      driver.ctxSynchronize();
      metric('launchKernel_generic_us_median', median(generic) * 1000, 'µs per launch via launchKernel()');
      const v = new Float32Array(1);
      driver.memcpyDtoH(v, buf);
      const expected = 1000 + N + generic.length;
      record('every launch ran', v[0] === expected, `counter ${v[0]}, expected ${expected}`);
      alloc.free(buf);
    });
  }

  // --- device-to-device bandwidth ----------------------------------------------------------
  await step('DtoD bandwidth', () => {
    const bytes = 256 * 2 ** 20;
    const src = alloc.alloc(bytes);
    const dst = alloc.alloc(bytes);
    driver.memsetD32(src, 0x3f800000, bytes / 4);
    driver.memsetD32(dst, NAN_POISON, bytes / 4);
    driver.memcpyDtoD(dst, src, bytes);
    const e0 = driver.eventCreate();
    const e1 = driver.eventCreate();
    const reps = 10;
    const ms: number[] = [];
    for (let r = 0; r < reps; r++) {
      driver.eventRecord(e0);
      driver.memcpyDtoDAsync(dst, src, bytes, driver.DEFAULT_STREAM);
      driver.eventRecord(e1);
      driver.eventSynchronize(e1);
      ms.push(driver.eventElapsedMs(e0, e1));
    }
    const best = Math.min(...ms);
    metric('dtod_copy_GBps_best', (2 * bytes) / (best / 1000) / 1e9, 'GB/s (read + write, 256 MiB, best of 10)');
    metric('dtod_copy_GBps_median', (2 * bytes) / (median(ms) / 1000) / 1e9, 'GB/s');
    const head = new Float32Array(1024);
    const tail = new Float32Array(1024);
    driver.memcpyDtoH(head, dst);
    driver.memcpyDtoH(tail, dst + bytes - 4096);
    record('DtoD copy is complete', head.every((v) => v === 1) && tail.every((v) => v === 1), '');
    driver.eventDestroy(e0);
    driver.eventDestroy(e1);
    alloc.free(src);
    alloc.free(dst);
  });

  // --- caching allocator on the device -------------------------------------------------------
  await step('caching allocator', () => {
    const before = alloc.stats();
    const p = alloc.alloc(3000);
    alloc.free(p);
    const q = alloc.alloc(3050); // same 3072 B bucket as 3000
    record('allocator reuses a freed block of the same bucket', p === q, `0x${p.toString(16)} then 0x${q.toString(16)}`);
    alloc.free(q);
    const s = alloc.stats();
    record('allocator stats add up', s.allocatedBytes === before.allocatedBytes && s.cacheHits > before.cacheHits, JSON.stringify(s));
    alloc.emptyCache();
    record('emptyCache gives everything back', alloc.stats().reservedBytes === alloc.stats().allocatedBytes, JSON.stringify(alloc.stats()));
  });

  // --- cuBLAS ---------------------------------------------------------------------------------
  await step('cuBLAS', () => {
    const blas = new Cublas();
    metric('cublas', `${cublasLibraryPath()} version ${blas.version()}`);
    const M = 257;
    const N = 129;
    const K = 65;
    const batch = 3;
    for (const transA of [false, true])
      for (const transB of [false, true]) {
        for (const [alpha, beta] of [
          [1, 0],
          [0.5, 2],
        ] as const) {
          if ((alpha !== 1 || beta !== 0) && (transA || transB)) continue;
          const A = randomF32(batch * M * K, 10);
          const B = randomF32(batch * K * N, 11);
          const C0 = randomF32(batch * M * N, 12);
          const dA = alloc.alloc(A.byteLength);
          const dB = alloc.alloc(B.byteLength);
          const dC = alloc.alloc(C0.byteLength);
          driver.memcpyHtoD(dA, A);
          driver.memcpyHtoD(dB, B);
          const label = `${transA ? 'A^T' : 'A'}·${transB ? 'B^T' : 'B'}, alpha ${alpha}, beta ${beta}`;
          for (const batched of [false, true]) {
            const nb = batched ? batch : 1;
            if (beta === 0) driver.memsetD32(dC, NAN_POISON, batch * M * N);
            else driver.memcpyHtoD(dC, C0);
            const p = { M, N, K, A: dA, B: dB, C: dC, transA, transB, alpha, beta };
            if (batched) blas.sgemmStridedBatched({ ...p, batch });
            else blas.sgemm(p);
            const C = new Float32Array(nb * M * N);
            driver.memcpyDtoH(C, dC, C.byteLength);
            let maxErr = 0;
            let maxRef = 0;
            let nan = false;
            for (let b = 0; b < nb; b++)
              for (let i = 0; i < M; i++)
                for (let j = 0; j < N; j++) {
                  let s = 0;
                  for (let l = 0; l < K; l++) {
                    const av = transA ? A[b * M * K + l * M + i]! : A[b * M * K + i * K + l]!;
                    const bv = transB ? B[b * K * N + j * K + l]! : B[b * K * N + l * N + j]!;
                    s += av * bv;
                  }
                  const ref = alpha * s + beta * C0[b * M * N + i * N + j]!;
                  const got = C[b * M * N + i * N + j]!;
                  if (Number.isNaN(got)) nan = true;
                  maxErr = Math.max(maxErr, Math.abs(got - ref));
                  maxRef = Math.max(maxRef, Math.abs(ref));
                }
            const rel = maxErr / maxRef;
            record(`cuBLAS ${batched ? 'sgemmStridedBatched' : 'sgemm'} ${M}x${N}x${K} ${label}`, !nan && rel < 1e-5, `${nan ? 'NaN in output (unwritten?) ' : ''}rel err ${rel.toExponential(2)}`);
          }
          for (const d of [dA, dB, dC]) alloc.free(d);
        }
      }
    // Throughput, for comparison with generated matmuls (TF32 off).
    const S = 4096;
    const dA = alloc.alloc(S * S * 4);
    const dB = alloc.alloc(S * S * 4);
    const dC = alloc.alloc(S * S * 4);
    for (const d of [dA, dB, dC]) driver.memsetD32(d, 0x3c23d70a, S * S);
    const e0 = driver.eventCreate();
    const e1 = driver.eventCreate();
    blas.sgemm({ M: S, N: S, K: S, A: dA, B: dB, C: dC });
    driver.eventRecord(e0);
    for (let r = 0; r < 5; r++) blas.sgemm({ M: S, N: S, K: S, A: dA, B: dB, C: dC });
    driver.eventRecord(e1);
    driver.eventSynchronize(e1);
    metric('cublas_sgemm_4096_TFLOPs', (5 * 2 * S ** 3) / (driver.eventElapsedMs(e0, e1) / 1000) / 1e12, 'TFLOP/s (fp32, TF32 off)');
    for (const d of [dA, dB, dC]) alloc.free(d);
    blas.destroy();
  });

  await step('final sync', () => driver.ctxSynchronize());
  return finish();
}

function finish(): number {
  const failed = checks.filter((c) => !c.ok);
  const w = Math.max(...checks.map((c) => c.name.length), 10);
  const lines = ['', 'check'.padEnd(w) + '  result', ...checks.map((c) => `${c.name.padEnd(w)}  ${c.ok ? 'ok' : `FAILED: ${c.detail}`}`), '', 'metric'.padEnd(36) + '  value'];
  for (const [k, v] of Object.entries(metrics)) lines.push(`${k.padEnd(36)}  ${typeof v === 'number' ? +v.toPrecision(4) : v}`);
  lines.push('', `${checks.length - failed.length} passed, ${failed.length} failed`);
  console.log(lines.join('\n'));
  if (json) console.log(JSON.stringify({ checks, metrics }, null, 2));
  return failed.length === 0 ? 0 : 1;
}

if (process.argv.includes('--compile-child')) {
  void childMain();
} else {
  parentMain().then(
    (code) => process.exit(code),
    (e) => {
      console.error(`gpu_runtime_check crashed: ${(e as Error).stack ?? String(e)}`);
      finish();
      process.exit(1);
    },
  );
}
