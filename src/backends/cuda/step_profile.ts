// KILN_PROFILE=1 on CUDA: GPU time of every step of every CUDA plan run, from events recorded
// right before and right after each step's launches, summed by kernel in observe/step_profile.ts's
// table (printed to stderr at exit, slowest first). A
// step's time is its own (plus the host's cuBLAS call inside it, when the GPU waits for that);
// the time the GPU spent idle between steps, waiting for the host to launch the next, is summed
// apart: a run whose gaps are large is host-bound. (Events only between steps, as first built,
// charged each gap to the next step: on an H100, Whisper's steps summed to 7.25 ms a run for a
// 3.94 ms call.) Events serialise nothing, but reading them does: profiled runs synchronise
// after each run, so only per-kernel figures are meaningful under it, not the time per call.

import { type StepLabel, profileTable } from '../../observe/step_profile.js';
import { type CUevent, eventCreate, eventDestroy, eventElapsedMs, eventRecord, eventSynchronize } from './driver.js';

/** Records events around the steps of one run; `finish` reads them (synchronising) into the totals. */
export class RunProfile {
  /** Per step: the event before its launches, then the one after. */
  private readonly events: CUevent[] = [];
  private readonly labels: StepLabel[] = [];

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
    const table = profileTable('cuda');
    let gapMs = 0;
    for (const [i, label] of this.labels.entries()) {
      table.add(label, eventElapsedMs(this.events[2 * i]!, this.events[2 * i + 1]!));
      if (i > 0) gapMs += eventElapsedMs(this.events[2 * i - 1]!, this.events[2 * i]!);
    }
    table.endRun(gapMs);
    for (const e of this.events) eventDestroy(e);
  }

  private event(): CUevent {
    const e = eventCreate();
    eventRecord(e);
    return e;
  }
}
