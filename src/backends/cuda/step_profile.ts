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
import { type StepLabel, StepTotals } from '../step_totals.js';
import { type CUevent, eventCreate, eventDestroy, eventElapsedMs, eventRecord, eventSynchronize } from './driver.js';

export type { StepLabel } from '../step_totals.js';

const totals = new StepTotals();
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
    totals.runs++;
    for (const [i, label] of this.labels.entries()) {
      if (i > 0) gapMs += eventElapsedMs(this.events[2 * i - 1]!, this.events[2 * i]!);
      totals.add(label, eventElapsedMs(this.events[2 * i]!, this.events[2 * i + 1]!));
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
  const total = totals.total();
  const heading = `kiln profile: ${totals.runs} CUDA plan run(s), ${total.toFixed(3)} ms of GPU time in steps (${totals.perRun(total)} ms a run); the GPU idle between steps, waiting for the host: ${totals.perRun(gapMs)} ms a run`;
  process.stderr.write(totals.table(heading));
}
