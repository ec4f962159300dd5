// One-time warnings on stderr (stdout belongs to the user). In the bottom layer because a
// setting with a bad value warns from here (config/read.ts), and every stage above warns too
// (through observe/log.ts, which re-exports this).

const warned = new Set<string>();

/** Warns at most once per key per process (e.g. a cache dir that cannot be written). */
export function warnOnce(key: string, msg: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  process.stderr.write(`kiln warning: ${msg}\n`);
}
