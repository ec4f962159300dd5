// "compiling 37/120 kernels" on stderr while compiles are awaited. Only on a TTY: logs,
// CI and pipes must stay clean, so anywhere else this is silent.
import cliProgress from 'cli-progress';

export class CompileProgress {
  private bar: cliProgress.SingleBar | undefined;
  private readonly enabled: boolean;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.enabled = stream.isTTY === true && process.env.CI === undefined;
  }

  get active(): boolean {
    return this.bar !== undefined;
  }

  /** Shows (or updates) the bar; a no-op when the stream is not a TTY. */
  update(done: number, total: number): void {
    if (!this.enabled) return;
    if (this.bar === undefined) {
      this.bar = new cliProgress.SingleBar(
        {
          stream: this.stream,
          format: 'compiling {value}/{total} kernels [{bar}] {duration}s',
          hideCursor: false,
          clearOnComplete: true,
          // Redraw on every update is fine: updates are one per finished compile.
          fps: 10,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, done);
      return;
    }
    this.bar.setTotal(total);
    this.bar.update(done);
  }

  stop(): void {
    if (this.bar === undefined) return;
    this.bar.stop();
    this.bar = undefined;
  }
}
