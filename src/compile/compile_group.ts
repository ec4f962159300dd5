// Compile groups: several kernels compiled as ONE program by one worker. NVRTC spends ~10 ms
// of fixed cost per program, and a small kernel adds ~1 ms to it (16 GEMM kernels on an H100:
// 188 ms one per program, 35 ms in groups of 8, 24 ms as one program; bench/RESULTS.md). So
// when a graph has more kernels than there are workers, each worker takes a group instead of
// a queue of single kernels, and the group's cubin is one module to load on a warm start.
//
// A group is transport only: every member keeps its own key, name, metadata and cache entry
// (the entry holds the group's binary), so a member is found, shared and reused exactly as a
// kernel compiled alone. Members' sources are concatenated: the backend's preludes are
// include-guarded, so each is defined once (CUDA: backends/cuda/prelude.ts).
import { createHash } from 'node:crypto';
import type { CompileRequest, CompiledKernel } from './types.js';

/** Largest group when the backend allows groups: KILN_COMPILE_GROUP_MAX (1 turns groups off). */
export function maxGroupSize(backendMax: number | undefined): number {
  if (backendMax === undefined) return 1;
  const raw = process.env.KILN_COMPILE_GROUP_MAX;
  if (raw === undefined || raw === '') return backendMax;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`KILN_COMPILE_GROUP_MAX must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * Kernels per group for `kernels` kernels on `workers` workers: as few groups as keep every
 * worker busy (one each), no more than `max` kernels in one. 1 = no grouping.
 */
export function groupSize(kernels: number, workers: number, max: number): number {
  if (workers <= 0 || kernels <= workers) return 1;
  return Math.max(1, Math.min(max, Math.ceil(kernels / workers)));
}

/** The one request that compiles `members` together; its key is derived from theirs. */
export function groupRequest(members: readonly CompileRequest[]): CompileRequest {
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
    meta: {},
  };
}

/** Each member as compiled by its group: the group's binary and log, the member's own identity. */
export function splitGroup(members: readonly CompileRequest[], group: CompiledKernel): CompiledKernel[] {
  return members.map((m) => ({
    key: m.key,
    backend: m.backend,
    kernelName: m.kernelName,
    binary: group.binary,
    meta: m.meta,
    log: group.log,
    compileMs: group.compileMs / members.length,
  }));
}

/** Options that must agree for requests to share one program. */
function compatible(a: CompileRequest, b: CompileRequest): boolean {
  return a.backend === b.backend && JSON.stringify(a.options) === JSON.stringify(b.options);
}

/**
 * Collects requests as codegen submits them and hands them on in groups of `size` (a request
 * whose options differ from the group's starts a new one); flush() hands on the rest.
 */
export class CompileGrouper {
  private pending: CompileRequest[] = [];

  constructor(
    private readonly size: number,
    private readonly submitGroup: (members: CompileRequest[]) => void,
  ) {}

  add(req: CompileRequest): void {
    if (this.pending.length > 0 && !compatible(this.pending[0]!, req)) this.flush();
    this.pending.push(req);
    if (this.pending.length >= this.size) this.flush();
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const members = this.pending;
    this.pending = [];
    this.submitGroup(members);
  }
}
