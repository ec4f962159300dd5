// KILN_PROFILE=1: GPU time of every step of every CUDA plan run, from events recorded between
// launches (llm.c's habit: each kernel checked, then timed), summed by kernel and printed to
// stderr as a table, slowest first, when the process exits. Events serialise nothing, but
// reading them does: profiled runs synchronise after each run, so only per-kernel figures are
// meaningful under it, not the time per call.

import { type CUevent, eventCreate, eventDestroy, eventElapsedMs, eventRecord, eventSynchronize } from './driver.js';

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

const rows = new Map<string, Row>();
let runs = 0;
let registered = false;

export function profilingEnabled(): boolean {
  return process.env.KILN_PROFILE === '1';
}

/** Records events around the steps of one run; `finish` reads them (synchronising) into the totals. */
export class RunProfile {
  private readonly events: CUevent[] = [];
  private readonly labels: StepLabel[] = [];

  constructor() {
    this.events.push(this.event());
    if (!registered) {
      registered = true;
      process.once('exit', printProfile);
    }
  }

  /** Marks the end of one step. */
  step(label: StepLabel): void {
    this.labels.push(label);
    this.events.push(this.event());
  }

  finish(): void {
    eventSynchronize(this.events[this.events.length - 1]!);
    runs++;
    for (const [i, label] of this.labels.entries()) {
      const ms = eventElapsedMs(this.events[i]!, this.events[i + 1]!);
      const key = `${label.kernel}|${label.what}`;
      const row = rows.get(key) ?? { ...label, ms: 0, launches: 0 };
      row.ms += ms;
      row.launches++;
      rows.set(key, row);
    }
    for (const e of this.events) eventDestroy(e);
  }

  private event(): CUevent {
    const e = eventCreate();
    eventRecord(e);
    return e;
  }
}

function printProfile(): void {
  const all = [...rows.values()].sort((a, b) => b.ms - a.ms);
  const total = all.reduce((s, r) => s + r.ms, 0);
  const lines = [`kiln profile: ${runs} CUDA plan run(s), ${total.toFixed(3)} ms of GPU time in steps (${(total / Math.max(runs, 1)).toFixed(3)} ms a run)`];
  lines.push('  ms/run    share  launches/run  kind      kernel                  what');
  for (const r of all) {
    lines.push(
      `${(r.ms / Math.max(runs, 1)).toFixed(4).padStart(8)}  ${((100 * r.ms) / Math.max(total, 1e-9)).toFixed(1).padStart(5)}%  ${(r.launches / Math.max(runs, 1)).toFixed(1).padStart(12)}  ${r.kind.padEnd(8)}  ${r.kernel.padEnd(22)}  ${r.what}`,
    );
  }
  process.stderr.write(`${lines.join('\n')}\n`);
}
