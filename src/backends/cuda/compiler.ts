// CUDA C source → cubin. Runs ONLY inside compile workers (or inline for workers: 0): it may
// load NVRTC or start nvcc, and it never initialises CUDA, so a worker holds no GPU context.
// The main process needs only the compiler's identity, which toolchain.ts gives from files.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeJobDir } from '../../compile/subprocess.js';
import type { CompileFn } from '../../compile/registry.js';
import type { CompileSource } from '../../compile/types.js';
import { runNvcc } from './nvcc.js';
import { nvrtcCompile, nvrtcIncludeDirs } from './nvrtc.js';
import { checkArch, type CudaCompilerKind, DEFAULT_CUDA_ARCH, forcedCompiler, type NvrtcLocation, type SelectedCudaCompiler, selectCudaCompiler } from './toolchain.js';

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

function safeName(kernelName: string): string {
  return kernelName.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100) || 'kernel';
}

/** Keeps a failed kernel's source where a human can read it; returns the path. */
function writeFailedSource(req: CompileSource): string | undefined {
  try {
    // A fresh private directory (mkdtemp, 0700): a shared, predictable one could hold another
    // user's symlink, and writing through it would clobber the file it points to.
    const dir = mkdtempSync(join(tmpdir(), 'kiln-cuda-src-'));
    const path = join(dir, `${safeName(req.kernelName)}-${safeName(req.key.slice(0, 12))}.cu`);
    writeFileSync(path, req.source, { flag: 'wx', mode: 0o600 });
    return path;
  } catch {
    return undefined;
  }
}

async function compileNvcc(req: CompileSource, nvccPath: string, arch: string): Promise<{ binary: Uint8Array; log: string }> {
  // nvcc runs in its own process group with this job directory as its TMPDIR; neither
  // outlives the worker (compile/subprocess.ts). A failed kernel's source is kept elsewhere.
  const dir = makeJobDir('kiln-nvcc-');
  try {
    const src = join(dir.path, `${safeName(req.kernelName)}.cu`);
    const out = join(dir.path, `${safeName(req.kernelName)}.cubin`);
    writeFileSync(src, req.source);
    const r = await runNvcc(nvccPath, src, out, arch, req.options.flags ?? [], dir.path);
    if (!r.ok) throw new CudaCompileError(req.kernelName, 'nvcc', arch, r.error ?? 'nvcc failed', r.log, dir.keep(src));
    return { binary: new Uint8Array(readFileSync(out)), log: r.log };
  } finally {
    dir.remove();
  }
}

function compileNvrtc(req: CompileSource, loc: NvrtcLocation, arch: string): { binary: Uint8Array; log: string } {
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
export async function compileCuda(req: CompileSource, force?: CudaCompilerKind): Promise<{ binary: Uint8Array; log: string }> {
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

/** The CUDA backend's compiler, as compile workers call it (compile/registry.ts, CompilerModule). */
export const compileKernel: CompileFn = (req) => compileCuda(req);

/**
 * Readies the compiler in a fresh worker while no job is there yet (pool.warm('cuda')): NVRTC's
 * first compile in a process costs ~150 ms of library start-up. nvcc is a fresh process per
 * compile: nothing to warm.
 */
export async function warmCompiler(): Promise<void> {
  if (selectCudaCompiler().kind !== 'nvrtc') return;
  await compileCuda({ key: 'warmup', kernelName: 'kiln_warmup', source: 'extern "C" __global__ void kiln_warmup(float* p) { p[0] = 1.0f; }', options: {} });
}
