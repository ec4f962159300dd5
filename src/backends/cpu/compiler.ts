// C source → shared object with the system C compiler. Runs ONLY inside a compile worker
// (or inline when the user asked for workers: 0): the main process may compute
// cCompilerIdentity(), which never starts the compiler, but never calls compileC().
import { accessSync, constants, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { arch } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { makeJobDir, runTool } from '../../compile/subprocess.js';
import type { CompileRequest } from '../../compile/types.js';

/** Flags every kernel is built with; -march comes from options.arch (default native). */
export const C_BASE_FLAGS = ['-O3', '-fPIC', '-shared', '-fno-math-errno', '-fno-trapping-math', '-fopenmp-simd', '-std=c11'] as const;

/** The compiler command: KILN_CC may carry extra words (e.g. "clang -fcolor-diagnostics"). */
function compilerCommand(): string[] {
  const raw = (process.env.KILN_CC ?? '').trim();
  const words = raw === '' ? ['cc'] : raw.split(/\s+/);
  return words;
}

function cFlags(options: CompileRequest['options']): string[] {
  return [...C_BASE_FLAGS, `-march=${options.arch ?? 'native'}`, ...(options.flags ?? [])];
}

/** Finds an executable the way a shell would, without running anything. */
function findOnPath(name: string): string | undefined {
  if (name.includes('/')) return isAbsolute(name) ? name : join(process.cwd(), name);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

let identityCache: { env: string | undefined; id: string } | undefined;

/**
 * Identifies the C compiler for cache keys WITHOUT running it: the real path of the binary
 * (distros version the driver's file name: x86_64-linux-gnu-gcc-13), its size and mtime
 * (an upgrade in place changes them), the default flags and the host architecture
 * (-march=native means the binary depends on the machine). Cached per process.
 */
export function cCompilerIdentity(): string {
  const env = process.env.KILN_CC;
  if (identityCache !== undefined && identityCache.env === env) return identityCache.id;
  const [cmd, ...extra] = compilerCommand();
  const found = findOnPath(cmd!);
  let binary = `missing:${cmd}`;
  if (found !== undefined) {
    try {
      const real = realpathSync(found);
      const st = statSync(real);
      binary = `${real}:${st.size}:${Math.floor(st.mtimeMs)}`;
    } catch {
      binary = `unreadable:${found}`;
    }
  }
  const id = ['cc', binary, ...extra, ...C_BASE_FLAGS, '-lm', `arch=${arch()}`].join('|');
  identityCache = { env, id };
  return id;
}

/**
 * Compiles one kernel. The source goes to a fresh job directory (compile/subprocess.ts: cc
 * runs in its own process group, with the directory as its TMPDIR, and neither outlives this
 * process); on success the directory is removed, on failure the source is kept elsewhere and
 * the error names the kernel, quotes the compiler's stderr and says where the source is, so
 * the failing C can be inspected and recompiled by hand.
 */
export async function compileC(req: CompileRequest): Promise<{ binary: Uint8Array; log: string }> {
  const dir = makeJobDir('kiln-cc-');
  try {
    const src = join(dir.path, `${req.kernelName}.c`);
    const out = join(dir.path, `${req.kernelName}.so`);
    writeFileSync(src, req.source);
    const [cmd, ...extra] = compilerCommand();
    const args = [...extra, ...cFlags(req.options), '-o', out, src, '-lm'];
    const r = await runTool(cmd!, args, dir.path);
    if (r.code !== 0 || r.error !== undefined) {
      const how =
        r.signal !== null ? `was killed by ${r.signal}` : r.code === null ? `could not be started (${r.error?.message ?? 'unknown error'})` : r.code !== 0 ? `exited with status ${r.code}` : `failed (${r.error!.message})`;
      const kept = dir.keep(src);
      throw new Error(
        `C compile of kernel ${req.kernelName} failed: ${cmd} ${how}\n` +
          `${(r.stderr + r.stdout).trim()}\n` +
          `source kept at ${kept}\n` +
          `command: ${[cmd, ...args.map((a) => (a === src ? kept : a))].join(' ')}`,
      );
    }
    const binary = new Uint8Array(readFileSync(out));
    return { binary, log: (r.stderr + r.stdout).trim() };
  } finally {
    dir.remove();
  }
}
