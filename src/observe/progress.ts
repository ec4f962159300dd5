// "compiling 37/120 kernels" on stderr while compiles are awaited. Only on a TTY: logs,
// CI and pipes must stay clean, so anywhere else this is silent.
import { createRequire } from 'node:module';
import type cliProgress from 'cli-progress';

/** cli-progress, loaded the first time a bar is drawn (never on a non-TTY, never on a warm start). */
let lib: typeof cliProgress | undefined;
const progressLib = (): typeof cliProgress => (lib ??= createRequire(import.meta.url)('cli-progress') as typeof cliProgress);

export class CompileProgress {
  private bar: cliProgress.SingleBar | undefined;
  private given: NodeJS.WriteStream | undefined;
  private tty: boolean | undefined;

  /** `stream` defaults to process.stderr, looked up on first use: creating it costs ~0.5 ms of a warm start that never draws. */
  constructor(stream?: NodeJS.WriteStream) {
    this.given = stream;
  }

  private get stream(): NodeJS.WriteStream {
    this.given ??= process.stderr;
    return this.given;
  }

  private get enabled(): boolean {
    this.tty ??= this.stream.isTTY === true && process.env.CI === undefined;
    return this.tty;
  }

  get active(): boolean {
    return this.bar !== undefined;
  }

  /** Shows (or updates) the bar; a no-op when the stream is not a TTY. */
  update(done: number, total: number): void {
    if (!this.enabled) return;
    if (this.bar === undefined) {
      const cli = progressLib();
      this.bar = new cli.SingleBar(
        {
          stream: this.stream,
          format: 'compiling {value}/{total} kernels [{bar}] {duration}s',
          hideCursor: false,
          clearOnComplete: true,
          // Redraw on every update is fine: updates are one per finished compile.
          fps: 10,
        },
        cli.Presets.shades_classic,
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

/**
 * One status line on stderr ("loading model.onnx (201 MB)…") for the CLI's long steps, drawn
 * over itself and cleared when done. Only on a TTY (and not under CI), like the bar: piped
 * or logged output never sees it, nor any escape code.
 */
export class StatusLine {
  private shown = false;
  private readonly stream: NodeJS.WriteStream;
  readonly enabled: boolean;

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.stream = stream;
    this.enabled = stream.isTTY === true && process.env.CI === undefined;
  }

  show(msg: string): void {
    if (!this.enabled) return;
    this.stream.write(`\r\x1b[K${msg}`);
    this.shown = true;
  }

  clear(): void {
    if (!this.shown) return;
    this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}
