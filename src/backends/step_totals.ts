// KILN_PROFILE's totals, shared by the CPU and CUDA runtimes (cpu/step_profile.ts,
// cuda/step_profile.ts): each kernel's time summed over the plan runs of the process, keyed by
// kernel and what it computes, and the table printed at exit, slowest first. How a step is
// timed is each backend's own (host clock around a synchronous call; GPU events).

export interface StepLabel {
  kernel: string;
  kind: string;
  /** What the step computes: its graph ops (and, for cuBLAS products, batch×M×N×K). */
  what: string;
}

interface Row extends StepLabel {
  ms: number;
  launches: number;
}

export class StepTotals {
  private readonly rows = new Map<string, Row>();
  runs = 0;

  add(label: StepLabel, ms: number): void {
    const key = `${label.kernel}|${label.what}`;
    const row = this.rows.get(key) ?? { ...label, ms: 0, launches: 0 };
    row.ms += ms;
    row.launches++;
    this.rows.set(key, row);
  }

  /** The sum over every step of every run, in ms. */
  total(): number {
    let t = 0;
    for (const r of this.rows.values()) t += r.ms;
    return t;
  }

  /** ms a run. */
  perRun(ms: number): string {
    return (ms / Math.max(this.runs, 1)).toFixed(3);
  }

  /** `heading`, then one line per kernel, slowest first: ms a run, share, launches a run, kind, name, ops. */
  table(heading: string): string {
    const all = [...this.rows.values()].sort((a, b) => b.ms - a.ms);
    const total = this.total();
    const n = Math.max(this.runs, 1);
    const lines = [heading, '  ms/run    share  launches/run  kind      kernel                  what'];
    for (const r of all) {
      lines.push(
        `${(r.ms / n).toFixed(4).padStart(8)}  ${((100 * r.ms) / Math.max(total, 1e-9)).toFixed(1).padStart(5)}%  ${(r.launches / n).toFixed(1).padStart(12)}  ${r.kind.padEnd(8)}  ${r.kernel.padEnd(22)}  ${r.what}`,
      );
    }
    return `${lines.join('\n')}\n`;
  }
}
