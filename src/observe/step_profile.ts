// KILN_PROFILE=1: time every step of every plan run, summed by kernel, printed to stderr as a
// table per device, slowest first, when the process exits (llm.c's habit: each kernel checked,
// then timed). The backends measure: CUDA with events around each step's launches (GPU time,
// plus the GPU's idle gaps between steps, summed apart: a run whose gaps are large is
// host-bound), the CPU with the host clock around each kernel call (kernels are synchronous
// calls, so each step's wall time is its own). Profiled CUDA runs synchronise after each run, so
// there only the per-kernel figures are meaningful, not the time per call.

import { setting } from '../config/read.js';

export interface StepLabel {
  kernel: string;
  kind: string;
  /** What the step computes: its graph ops and, for cuBLAS products, batch×M×N×K. */
  what: string;
}

interface Row extends StepLabel {
  ms: number;
  launches: number;
}

/** One device's totals over the process. */
class ProfileTable {
  private readonly rows = new Map<string, Row>();
  private runs = 0;
  /** CUDA: GPU time between one step's end and the next one's start, over all runs. */
  private gapMs = 0;

  constructor(private readonly device: 'cpu' | 'cuda') {}

  add(label: StepLabel, ms: number): void {
    const key = `${label.kernel}|${label.what}`;
    const row = this.rows.get(key) ?? { ...label, ms: 0, launches: 0 };
    row.ms += ms;
    row.launches++;
    this.rows.set(key, row);
  }

  endRun(gapMs = 0): void {
    this.runs++;
    this.gapMs += gapMs;
  }

  print(): void {
    if (this.runs === 0) return;
    const all = [...this.rows.values()].sort((a, b) => b.ms - a.ms);
    const total = all.reduce((s, r) => s + r.ms, 0);
    const perRun = (ms: number) => (ms / this.runs).toFixed(3);
    const head =
      this.device === 'cuda'
        ? `kiln profile: ${this.runs} CUDA plan run(s), ${total.toFixed(3)} ms of GPU time in steps (${perRun(total)} ms a run); the GPU idle between steps, waiting for the host: ${perRun(this.gapMs)} ms a run`
        : `kiln profile: ${this.runs} CPU plan run(s), ${total.toFixed(3)} ms in kernel calls (${perRun(total)} ms a run, host clock)`;
    const lines = [head, '  ms/run    share  launches/run  kind      kernel                  what'];
    for (const r of all) {
      lines.push(
        `${(r.ms / this.runs).toFixed(4).padStart(8)}  ${((100 * r.ms) / Math.max(total, 1e-9)).toFixed(1).padStart(5)}%  ${(r.launches / this.runs).toFixed(1).padStart(12)}  ${r.kind.padEnd(8)}  ${r.kernel.padEnd(22)}  ${r.what}`,
      );
    }
    process.stderr.write(`${lines.join('\n')}\n`);
  }
}

const tables = new Map<'cpu' | 'cuda', ProfileTable>();

export function profilingEnabled(): boolean {
  return setting('KILN_PROFILE');
}

/** The device's table, printed at exit (made on first use). */
export function profileTable(device: 'cpu' | 'cuda'): ProfileTable {
  let t = tables.get(device);
  if (!t) {
    if (tables.size === 0) process.once('exit', () => tables.forEach((x) => x.print()));
    tables.set(device, (t = new ProfileTable(device)));
  }
  return t;
}

/** A plan step's label from the plan's kernel info (`extra`: a backend's detail, such as a cuBLAS shape). */
export function stepLabel(name: string, info: { kind: string; ops: string[] } | undefined, extra = ''): StepLabel {
  return { kernel: name, kind: info?.kind ?? '?', what: `${(info?.ops ?? []).join(',')}${extra}` };
}
