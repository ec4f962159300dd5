// C source → shared object with the system C compiler. Runs ONLY inside a compile worker
// (or inline when the user asked for workers: 0): the main process may compute
// cCompilerIdentity(), which never starts the compiler, but never calls compileC().
import { hash } from 'node:crypto';
import { accessSync, closeSync, constants, openSync, readFileSync, readSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { arch, cpus } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { makeJobDir, runTool } from '../../compile/subprocess.js';
import type { CompileFn } from '../../compile/registry.js';
import type { CompileSource } from '../../compile/types.js';
import { setting } from '../../config/read.js';

/** Flags every kernel is built with; -march comes from options.arch (default native). */
export const C_BASE_FLAGS = ['-O3', '-fPIC', '-shared', '-fno-math-errno', '-fno-trapping-math', '-fopenmp-simd', '-std=c11'] as const;

/** The compiler command: KILN_CC may carry extra words (e.g. "clang -fcolor-diagnostics"). */
function compilerCommand(): readonly string[] {
  return setting('KILN_CC');
}

function cFlags(options: CompileSource['options']): string[] {
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

/**
 * The /proc/cpuinfo fields that decide what -march=native selects: the vendor, family and
 * model (x86: gcc picks the -march CPU name from them) and the feature flags (gcc enables
 * each ISA extension the CPU reports); on Arm the implementer/part and Features; elsewhere
 * the ISA line. Volatile fields (MHz, bogomips, core and apic ids, microcode) are left out,
 * so one machine keeps one identity across boots.
 */
const CPU_TARGET_FIELDS = new Set(['vendor_id', 'cpu family', 'model', 'flags', 'CPU implementer', 'CPU architecture', 'CPU variant', 'CPU part', 'Features', 'isa', 'cpu']);

/**
 * The first processor's block of /proc/cpuinfo (KILN_CPUINFO_FILE names another file: tests
 * use it to play a different CPU). Only the first 64 KB are read: the kernel formats the file
 * one processor at a time, so a many-core host does not pay for every core's entry.
 */
function firstCpuinfoBlock(): string | undefined {
  const file = setting('KILN_CPUINFO_FILE') ?? '/proc/cpuinfo';
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const buf = Buffer.alloc(64 * 1024);
    let len = 0;
    for (;;) {
      const n = readSync(fd, buf, len, buf.length - len, null);
      if (n <= 0) break;
      len += n;
      const text = buf.toString('utf8', 0, len);
      if (/\n\s*\n/.test(text) || len === buf.length) break;
    }
    const text = buf.toString('utf8', 0, len);
    return text.split(/\n\s*\n/)[0];
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * What -march=native means on this machine, found WITHOUT running the compiler: the CPU's
 * vendor/family/model and feature flags (sorted, so their order never matters), hashed. Two
 * hosts share an identity only when gcc and clang see the same CPU, so a cache exported from
 * an AVX-512 host is never used on an AVX2 one. Without /proc/cpuinfo (macOS, a sandbox) it
 * falls back to the CPU model string Node reports.
 */
export function cpuTarget(cpuinfo: string | undefined = firstCpuinfoBlock()): string {
  const fields: string[] = [];
  if (cpuinfo !== undefined) {
    for (const line of cpuinfo.split('\n')) {
      const m = /^([^:]+?)\s*:\s*(.*)$/.exec(line);
      if (m === null || !CPU_TARGET_FIELDS.has(m[1]!)) continue;
      const value = m[1] === 'flags' || m[1] === 'Features' ? [...new Set(m[2]!.trim().split(/\s+/))].sort().join(' ') : m[2]!.trim();
      fields.push(`${m[1]}=${value}`);
    }
  }
  const what = fields.length > 0 ? fields.join('\n') : `os.cpus=${cpus()[0]?.model ?? 'unknown'}`;
  return `native:${arch()}:${hash('sha256', what, 'hex').slice(0, 16)}`;
}

let identityCache: { cc: readonly string[]; cpuinfo: string | undefined; id: string } | undefined;

/**
 * Identifies the C compiler and its target for cache keys WITHOUT running it: the real path
 * of the binary (distros version the driver's file name: x86_64-linux-gnu-gcc-13), its size
 * and mtime (an upgrade in place changes them), the default flags, and the exact target
 * -march=native selects (cpuTarget: the CPU's model and feature flags). Cached per process.
 */
export function cCompilerIdentity(): string {
  const cc = compilerCommand();
  const cpuinfo = setting('KILN_CPUINFO_FILE');
  if (identityCache !== undefined && identityCache.cc === cc && identityCache.cpuinfo === cpuinfo) return identityCache.id;
  const [cmd, ...extra] = cc;
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
  const id = ['cc', binary, ...extra, ...C_BASE_FLAGS, '-lm', `arch=${arch()}`, `target=${cpuTarget()}`].join('|');
  identityCache = { cc, cpuinfo, id };
  return id;
}

/**
 * Compiles one kernel. The source goes to a fresh job directory (compile/subprocess.ts: cc
 * runs in its own process group, with the directory as its TMPDIR, and neither outlives this
 * process); on success the directory is removed, on failure the source is kept elsewhere and
 * the error names the kernel, quotes the compiler's stderr and says where the source is, so
 * the failing C can be inspected and recompiled by hand.
 */
export async function compileC(req: CompileSource): Promise<{ binary: Uint8Array; log: string }> {
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

/** The C backend's compiler, as compile workers call it (compile/registry.ts, CompilerModule). */
export const compileKernel: CompileFn = compileC;
