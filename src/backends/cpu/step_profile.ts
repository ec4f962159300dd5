// KILN_PROFILE=1 on the CPU: each step of each plan run timed on the host clock around its
// kernel call (a call is synchronous: the time is the kernel's, threads included, plus the
// koffi call of a microsecond or so), summed by kernel and printed to stderr as a table,
// slowest first, when the process exits. Where a model's time goes, kernel by kernel.

import { setting } from '../../config/read.js';
import type { Plan } from '../../schedule/plan.js';
import { StepTotals } from '../step_totals.js';

const totals = new StepTotals();
let registered = false;

export function profilingEnabled(): boolean {
  return setting('KILN_PROFILE');
}

/** Runs `steps` in order, each timed, into the process's totals (a run of `plan`). */
export function runProfiled(plan: Plan, steps: readonly { kernel: number; call: () => void }[]): void {
  if (!registered) {
    registered = true;
    process.once('exit', () => {
      const total = totals.total();
      process.stderr.write(totals.table(`kiln profile: ${totals.runs} CPU plan run(s), ${total.toFixed(3)} ms in kernel calls (${totals.perRun(total)} ms a run)`));
    });
  }
  totals.runs++;
  for (const s of steps) {
    const t0 = performance.now();
    s.call();
    const ms = performance.now() - t0;
    const info = plan.info[s.kernel];
    totals.add({ kernel: plan.kernels[s.kernel]!.name, kind: info?.kind ?? '?', what: (info?.ops ?? []).join(',') }, ms);
  }
}
