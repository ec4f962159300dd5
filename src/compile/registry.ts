// The backends' part of compiling, registered by the backends (backends/register.ts): for each
// BackendName, the module that turns a kernel's source into a binary, the loader that turns a
// binary into what the backend's runtime calls, and the check of a stored binary's format.
// compile/ knows no backend; it asks here.
//
// The compiler is registered as a module URL, not a function: it runs in compile workers,
// processes of their own that import it (pool.ts hands them the registered URLs), and in this
// process only for workers: 0. The loader is a function that imports it on first use, so a
// CPU-only run never touches the CUDA driver.
import type { BackendName, CompiledKernel } from '../cache/compiled_kernel.js';
import type { CompileJob } from './types.js';

export interface CompilerOutput {
  binary: Uint8Array;
  log: string;
}

/** Compiles one job: a kernel, or a compile group's members as one program. */
export type CompileFn = (req: CompileJob) => Promise<CompilerOutput>;

/** What a backend's compiler module exports. */
export interface CompilerModule {
  compileKernel: CompileFn;
  /** Readies the compiler in a fresh worker before its first job (NVRTC's library start-up); optional. */
  warmCompiler?: () => Promise<void>;
}

/** Turns a binary into whatever the backend's runtime calls (a koffi library, a CUfunction...). */
export type Loader<T = unknown> = (k: CompiledKernel) => T | Promise<T>;

export interface BackendRegistration {
  /** URL of the backend's CompilerModule; imported only where compiles run. */
  compilerModule: string;
  /** The backend's loader, imported when one of its kernels is first loaded. */
  loader(): Promise<Loader>;
  /**
   * Why `binary` cannot be one of the backend's kernels on this host (not the ELF kind its
   * loader takes), or undefined: checked before a stored binary is used, never loaded if it fails.
   */
  binaryProblem(binary: Uint8Array): string | undefined;
}

/** Backend name → URL of its compiler module: what a compile worker is started with. */
export type CompilerModules = Partial<Record<BackendName, string>>;

const registered = new Map<BackendName, BackendRegistration>();
/** Loaders set by registerLoader, over the registered ones. */
const loaders = new Map<BackendName, Loader>();
/** Registered loaders once imported. */
const imported = new Map<BackendName, Loader>();

/** Registers (or replaces) a backend's compiler and loader. */
export function registerBackend(backend: BackendName, r: BackendRegistration): void {
  registered.set(backend, r);
  imported.delete(backend);
}

/** Sets how a backend's binaries are loaded in this process, over its registered loader (tests time loads with it). */
export function registerLoader<T>(backend: BackendName, fn: Loader<T>): void {
  loaders.set(backend, fn as Loader);
}

function registration(backend: BackendName): BackendRegistration {
  const r = registered.get(backend);
  if (r === undefined) throw new Error(`no backend '${String(backend)}' is registered with the compiler: import backends/register.js first`);
  return r;
}

/** The loader of `backend`'s binaries in this process. */
export async function loaderFor(backend: BackendName): Promise<Loader> {
  const l = loaders.get(backend) ?? imported.get(backend);
  if (l !== undefined) return l;
  const fresh = await registration(backend).loader();
  imported.set(backend, fresh);
  return fresh;
}

/** Why `binary` cannot be a kernel of `backend` here (its backend's check), or undefined. */
export function binaryProblem(backend: BackendName, binary: Uint8Array): string | undefined {
  const r = registered.get(backend);
  return r === undefined ? `no backend '${String(backend)}' is registered` : r.binaryProblem(binary);
}

/** The registered compiler modules, for a compile worker to import. */
export function compilerModules(): CompilerModules {
  return Object.fromEntries([...registered].map(([b, r]) => [b, r.compilerModule]));
}

/** The compiler module of `backend` among `modules` (a worker's, or this process's), imported now. */
export async function importCompiler(backend: BackendName, modules: CompilerModules = compilerModules()): Promise<CompilerModule> {
  const url = modules[backend];
  if (url === undefined) throw new Error(`no compiler registered for backend '${String(backend)}': import backends/register.js first`);
  return (await import(url)) as CompilerModule;
}
