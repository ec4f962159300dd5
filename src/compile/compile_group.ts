// Compile groups: several kernels compiled as ONE program by one worker. A compiler's fixed
// cost per program is a large part of a small kernel's compile: NVRTC spends ~10 ms of it, and
// a kernel adds ~1-2 ms (16 GEMM kernels on an H100: 188 ms one per program, 35 ms in groups
// of 8); cc ~35 ms, and a kernel ~35 ms (8 kernels: 565 ms apart, 290-315 ms as one unit);
// bench/RESULTS.md. So when a graph has more kernels than there are workers, each worker takes
// a group instead of a queue of single kernels, and a group's binary is loaded once.
//
// A group is transport only: every member keeps its own key, name, metadata and cache entry
// (the entry names the group's entry, which holds the group's binary once for all members:
// `binaryOf`), so a member is found, shared and reused exactly as a
// kernel compiled alone. Members' sources are concatenated: the backends' preludes are
// include-guarded and every other top-level name derives from the kernel's name
// (schedule/backend.ts, includeGuarded).
import { createHash } from 'node:crypto';
import { setting } from '../config/read.js';
import { type CompiledGroup, type CompiledKernel, type CompilerResult, targetOf } from '../cache/compiled_kernel.js';
import type { CompileJob, CompileRequest, GroupRequest } from './types.js';

/** Largest group when the backend allows groups: KILN_COMPILE_GROUP_MAX (1 turns groups off). */
export function maxGroupSize(backendMax: number | undefined): number {
  if (backendMax === undefined) return 1;
  return setting('KILN_COMPILE_GROUP_MAX') ?? backendMax;
}

/**
 * Kernels per group for `kernels` kernels on `workers` workers: as few groups as keep every
 * worker busy (one each), no more than `max` kernels in one. 1 = no grouping.
 */
export function groupSize(kernels: number, workers: number, max: number): number {
  if (workers <= 0 || kernels <= workers) return 1;
  return Math.max(1, Math.min(max, Math.ceil(kernels / workers)));
}

/** The one job that compiles `members` together; its key is derived from theirs. */
export function groupRequest(members: readonly CompileRequest[]): GroupRequest {
  const first = members[0]!;
  const key = createHash('sha256')
    .update(`kiln-group\0${members.map((m) => m.key).join('\0')}`)
    .digest('hex');
  return {
    key,
    backend: first.backend,
    // Names the program (and its temporary files) after its first member.
    kernelName: `${first.kernelName}_group${members.length}`,
    source: members.map((m) => m.source).join('\n'),
    options: first.options,
    // The members' keys, so a compile span (KILN_TRACE) says which kernels the job compiled.
    groupMembers: members.map((m) => m.key),
  };
}

/** The kernel keys a job compiles: a group's members, or the kernel's own key. */
export function compiledKeys(job: CompileJob): string[] {
  return 'groupMembers' in job ? job.groupMembers : [job.key];
}

/** The kernel `req` asked for, as its compile produced it. */
export function compiledKernel(req: CompileRequest, out: CompilerResult): CompiledKernel {
  return { key: req.key, kernelName: req.kernelName, ...targetOf(req), binary: out.binary, log: out.log, compileMs: out.compileMs };
}

/** Each member as compiled by its group: the group's binary and log, the member's own identity. */
export function splitGroup(members: readonly CompileRequest[], group: CompiledGroup): CompiledKernel[] {
  return members.map((m) => ({
    ...compiledKernel(m, { binary: group.binary, log: group.log, compileMs: group.compileMs / members.length }),
    binaryOf: group.key,
  }));
}

/** Requests may share one program only when these agree: the backend and every compile option. */
function groupSignature(r: CompileRequest): string {
  return `${r.backend}\0${JSON.stringify(r.options)}`;
}

/**
 * Collects requests as codegen submits them and hands them on in groups of `size` (or fewer
 * whose sources reach `maxChars`: Backend.compileGroupChars), one
 * pending group per set of compile options (a C kernel with OpenMP and one without never
 * share a program); flush() hands on what is left.
 */
export class CompileGrouper {
  private readonly pending = new Map<string, CompileRequest[]>();

  constructor(
    private readonly size: number,
    private readonly submitGroup: (members: CompileRequest[]) => void,
    /** A group is handed on once its sources reach this many characters, whatever its count. */
    private readonly maxChars = Infinity,
  ) {}

  add(req: CompileRequest): void {
    const sig = groupSignature(req);
    const group = this.pending.get(sig) ?? [];
    group.push(req);
    if (group.length >= this.size || group.reduce((n, r) => n + r.source.length, 0) >= this.maxChars) {
      this.pending.delete(sig);
      this.submitGroup(group);
    } else {
      this.pending.set(sig, group);
    }
  }

  flush(): void {
    const groups = [...this.pending.values()];
    this.pending.clear();
    for (const g of groups) this.submitGroup(g);
  }
}
