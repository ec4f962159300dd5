// CUDA C source → cubin. Runs ONLY inside compile workers (or inline for workers: 0): it may
// load NVRTC or start nvcc, and it never initialises CUDA, so a worker holds no GPU context.
// The main process may call cudaCompilerIdentity(), which only looks at files.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CompileRequest } from '../../compile/types.js';
import { findNvcc, NVCC_BASE_FLAGS, nvccIdentity, runNvcc } from './nvcc.js';
import { findNvrtc, NVRTC_BASE_FLAGS, nvrtcCompile, nvrtcIdentity, nvrtcIncludeDirs, type NvrtcLocation } from './nvrtc.js';

export type CudaCompilerKind = 'nvrtc' | 'nvcc';

/** The architecture compiled for when a request names none (H100). */
export const DEFAULT_CUDA_ARCH = 'sm_90';

export type SelectedCudaCompiler = { kind: 'nvrtc'; loc: NvrtcLocation } | { kind: 'nvcc'; path: string };

/** A kernel that did not compile: names the kernel, carries the compiler's log and where the source was written. */
export class CudaCompileError extends Error {
  constructor(
    readonly kernelName: string,
    readonly compiler: CudaCompilerKind,
    readonly arch: string,
    readonly reason: string,
    readonly log: string,
    readonly sourcePath: string | undefined,
  ) {
    const shownLog = log.length > 20000 ? `${log.slice(0, 20000)}\n... (${log.length - 20000} more characters)` : log;
    super(
      `CUDA kernel '${kernelName}' failed to compile with ${compiler} (${arch}): ${reason}` +
        (shownLog !== '' ? `\n${shownLog}` : '') +
        (sourcePath !== undefined ? `\nsource written to ${sourcePath}` : ''),
    );
    this.name = 'CudaCompileError';
  }
}

function forcedCompiler(): CudaCompilerKind | undefined {
  const v = (process.env.KILN_CUDA_COMPILER ?? '').trim().toLowerCase();
  if (v === '' || v === 'auto') return undefined;
  if (v === 'nvrtc' || v === 'nvcc') return v;
  throw new Error(`KILN_CUDA_COMPILER=${v}: expected nvrtc, nvcc or auto`);
}

/**
 * Which compiler a compile would use, decided from files only (no library loaded, nothing
 * run): NVRTC when libnvrtc is found, else nvcc; KILN_CUDA_COMPILER forces one (or `force`).
 * Throws a clear error when the chosen one (or any) is missing.
 */
export function selectCudaCompiler(force: CudaCompilerKind | undefined = forcedCompiler()): SelectedCudaCompiler {
  if (force !== 'nvcc') {
    const loc = findNvrtc();
    if (loc !== undefined) return { kind: 'nvrtc', loc };
    if (force === 'nvrtc') {
      throw new Error('KILN_CUDA_COMPILER=nvrtc but libnvrtc was not found (looked at KILN_NVRTC, /usr/local/cuda/lib64, /usr/local/cuda-*/lib64, CUDA_HOME, CUDA_PATH, ldconfig)');
    }
  }
  const path = findNvcc();
  if (path !== undefined) return { kind: 'nvcc', path };
  throw new Error(
    force === 'nvcc'
      ? 'KILN_CUDA_COMPILER=nvcc but nvcc was not found (looked at KILN_NVCC, CUDA_HOME/bin, CUDA_PATH/bin, /usr/local/cuda/bin, PATH)'
      : 'no CUDA compiler: neither libnvrtc (KILN_NVRTC, /usr/local/cuda*/lib64, CUDA_HOME, ldconfig) nor nvcc (KILN_NVCC, CUDA_HOME/bin, /usr/local/cuda/bin, PATH) was found',
  );
}

function checkArch(arch: string): void {
  // A cubin needs a real architecture (sm_90, sm_90a), not a virtual one (compute_90).
  if (!/^sm_\d+[a-z]?$/.test(arch)) throw new Error(`CUDA arch '${arch}' is not a real architecture like sm_90`);
}

const identityCache = new Map<string, string>();

/**
 * The compiler's identity for kernel cache keys, WITHOUT running or loading a compiler:
 * which compiler, the realpath of its library or binary (libnvrtc.so.13.0.88 carries the
 * version), its size, the default flags and the target arch. Cached per environment.
 */
export function cudaCompilerIdentity(arch: string = DEFAULT_CUDA_ARCH): string {
  checkArch(arch);
  const env = ['KILN_CUDA_COMPILER', 'KILN_NVRTC', 'KILN_NVCC', 'CUDA_HOME', 'CUDA_PATH'].map((k) => process.env[k] ?? '').join('\0');
  const cacheKey = `${env}\0${arch}`;
  const hit = identityCache.get(cacheKey);
  if (hit !== undefined) return hit;
  const c = selectCudaCompiler();
  const id =
    c.kind === 'nvrtc'
      ? `nvrtc:${nvrtcIdentity(c.loc)};flags=${NVRTC_BASE_FLAGS.join(' ')};arch=${arch}`
      : `nvcc:${nvccIdentity(c.path)};flags=${NVCC_BASE_FLAGS.join(' ')};arch=${arch}`;
  identityCache.set(cacheKey, id);
  return id;
}

function safeName(kernelName: string): string {
  return kernelName.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100) || 'kernel';
}

/** Keeps a failed kernel's source where a human can read it; returns the path. */
function writeFailedSource(req: CompileRequest): string | undefined {
  try {
    const dir = join(tmpdir(), `kiln-cuda-${process.getuid?.() ?? 'user'}`);
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${safeName(req.kernelName)}-${req.key.slice(0, 12)}.cu`);
    writeFileSync(path, req.source);
    return path;
  } catch {
    return undefined;
  }
}

async function compileNvcc(req: CompileRequest, nvccPath: string, arch: string): Promise<{ binary: Uint8Array; log: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-nvcc-'));
  let keep = false;
  try {
    const src = join(dir, `${safeName(req.kernelName)}.cu`);
    const out = join(dir, `${safeName(req.kernelName)}.cubin`);
    writeFileSync(src, req.source);
    const r = await runNvcc(nvccPath, src, out, arch, req.options.flags ?? []);
    if (!r.ok) {
      keep = true;
      throw new CudaCompileError(req.kernelName, 'nvcc', arch, r.error ?? 'nvcc failed', r.log, src);
    }
    return { binary: new Uint8Array(readFileSync(out)), log: r.log };
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

function compileNvrtc(req: CompileRequest, loc: NvrtcLocation, arch: string): { binary: Uint8Array; log: string } {
  let r;
  try {
    r = nvrtcCompile(loc, req.source, `${safeName(req.kernelName)}.cu`, arch, req.options.flags ?? [], nvrtcIncludeDirs(loc));
  } catch (e) {
    throw new CudaCompileError(req.kernelName, 'nvrtc', arch, (e as Error).message, '', writeFailedSource(req));
  }
  if (!r.ok || r.binary === undefined) throw new CudaCompileError(req.kernelName, 'nvrtc', arch, r.error ?? 'NVRTC failed', r.log, writeFailedSource(req));
  return { binary: r.binary, log: r.log };
}

/**
 * Compiles req.source to a cubin for req.options.arch (default sm_90) with NVRTC, or nvcc
 * when NVRTC is absent or KILN_CUDA_COMPILER / `force` says so. Rejects with a
 * CudaCompileError naming the kernel, with the compiler's log and the source's path.
 */
export async function compileCuda(req: CompileRequest, force?: CudaCompilerKind): Promise<{ binary: Uint8Array; log: string }> {
  const arch = req.options.arch ?? DEFAULT_CUDA_ARCH;
  const which = force ?? forcedCompiler();
  let c: SelectedCudaCompiler;
  try {
    checkArch(arch);
    c = selectCudaCompiler(which);
  } catch (e) {
    throw new CudaCompileError(req.kernelName, which ?? 'nvrtc', arch, (e as Error).message, '', undefined);
  }
  return c.kind === 'nvrtc' ? compileNvrtc(req, c.loc, arch) : compileNvcc(req, c.path, arch);
}
