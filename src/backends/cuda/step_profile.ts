// KILN_PROFILE=1: GPU time of every step of every CUDA plan run, from events recorded right
// before and right after each step's launches (llm.c's habit: each kernel checked, then timed),
// summed by kernel and printed to stderr as a table, slowest first, when the process exits. A
// step's time is its own (plus the host's cuBLAS call inside it, when the GPU waits for that);
// the time the GPU spent idle between steps, waiting for the host to launch the next, is summed
// apart: a run whose gaps are large is host-bound. (Events only between steps, as first built,
// charged each gap to the next step: on an H100, Whisper's steps summed to 7.25 ms a run for a
// 3.94 ms call.) Events serialise nothing, but reading them does: profiled runs synchronise
// after each run, so only per-kernel figures are meaningful under it, not the time per call.

import { setting } from '../../config/read.js';
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
/** GPU time between one step's end and the next one's start, over all runs. */
let gapMs = 0;
let registered = false;

export function profilingEnabled(): boolean {
  return setting('KILN_PROFILE');
}

/** Records events around the steps of one run; `finish` reads them (synchronising) into the totals. */
export class RunProfile {
  /** Per step: the event before its launches, then the one after. */
  private readonly events: CUevent[] = [];
  private readonly labels: StepLabel[] = [];

  constructor() {
    if (!registered) {
      registered = true;
      process.once('exit', printProfile);
    }
  }

  /** Marks the start of one step (before its launches). */
  begin(): void {
    this.events.push(this.event());
  }

  /** Marks the end of the step begun last. */
  step(label: StepLabel): void {
    this.labels.push(label);
    this.events.push(this.event());
  }

  finish(): void {
    if (this.events.length === 0) return;
    eventSynchronize(this.events[this.events.length - 1]!);
    runs++;
    for (const [i, label] of this.labels.entries()) {
      const ms = eventElapsedMs(this.events[2 * i]!, this.events[2 * i + 1]!);
      if (i > 0) gapMs += eventElapsedMs(this.events[2 * i - 1]!, this.events[2 * i]!);
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
  const perRun = (ms: number) => (ms / Math.max(runs, 1)).toFixed(3);
  const lines = [`kiln profile: ${runs} CUDA plan run(s), ${total.toFixed(3)} ms of GPU time in steps (${perRun(total)} ms a run); the GPU idle between steps, waiting for the host: ${perRun(gapMs)} ms a run`];
  lines.push('  ms/run    share  launches/run  kind      kernel                  what');
  for (const r of all) {
    lines.push(
      `${(r.ms / Math.max(runs, 1)).toFixed(4).padStart(8)}  ${((100 * r.ms) / Math.max(total, 1e-9)).toFixed(1).padStart(5)}%  ${(r.launches / Math.max(runs, 1)).toFixed(1).padStart(12)}  ${r.kind.padEnd(8)}  ${r.kernel.padEnd(22)}  ${r.what}`,
    );
  }
  process.stderr.write(`${lines.join('\n')}\n`);
}
