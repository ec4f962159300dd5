// KILN_DEBUG stage dumps and one-time warnings, all on stderr (stdout belongs to the user).

export type DebugStage = 'graph' | 'loops' | 'schedule' | 'source' | 'plan';

/** Every stage KILN_DEBUG may name, in pipeline order (`all` or `1` enables them all). */
export const DEBUG_STAGES: readonly DebugStage[] = ['graph', 'loops', 'schedule', 'source', 'plan'];

// Parsed lazily and re-parsed only when the variable changes, so debugEnabled() is cheap
// enough to call in hot paths and tests can still flip KILN_DEBUG at runtime.
let lastRaw: string | undefined;
let all = false;
let stages = new Set<string>();

function parse(): void {
  const raw = process.env.KILN_DEBUG;
  if (raw === lastRaw) return;
  lastRaw = raw;
  const items = (raw ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0);
  all = items.includes('all') || items.includes('1');
  stages = new Set(items);
  const unknown = items.filter((s) => s !== 'all' && s !== '1' && !(DEBUG_STAGES as readonly string[]).includes(s));
  if (unknown.length > 0) {
    warnOnce(`debug:${raw}`, `KILN_DEBUG: unknown stage${unknown.length > 1 ? 's' : ''} ${unknown.map((s) => `'${s}'`).join(', ')} ignored (stages: ${DEBUG_STAGES.join(', ')}, or all)`);
  }
}

/** The stages KILN_DEBUG enables now. */
export function debugStages(): DebugStage[] {
  parse();
  return DEBUG_STAGES.filter((s) => all || stages.has(s));
}

export function debugEnabled(stage: DebugStage): boolean {
  parse();
  return all || stages.has(stage);
}

/** Prints `text` under a header naming the stage, only when that stage is enabled. */
export function debugPrint(stage: DebugStage, text: string): void {
  if (!debugEnabled(stage)) return;
  const body = text.endsWith('\n') ? text : text + '\n';
  process.stderr.write(`--- kiln ${stage} ---\n${body}`);
}

const warned = new Set<string>();

/** Warns at most once per key per process (e.g. a cache dir that cannot be written). */
export function warnOnce(key: string, msg: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  process.stderr.write(`kiln warning: ${msg}\n`);
}
