// KILN_DEBUG stage dumps and one-time warnings, all on stderr (stdout belongs to the user).

import { setting } from '../config/read.js';
import type { DebugStage } from '../config/settings.js';

export { DEBUG_STAGES, type DebugStage } from '../config/settings.js';
export { warnOnce } from '../config/warn.js';

// Read on every call (parsed only when the variable changes: config/read.ts), so
// debugEnabled() is cheap enough for hot paths and tests can still flip KILN_DEBUG at runtime.

/** The stages KILN_DEBUG enables now. */
export function debugStages(): DebugStage[] {
  return [...setting('KILN_DEBUG')];
}

export function debugEnabled(stage: DebugStage): boolean {
  return setting('KILN_DEBUG').includes(stage);
}

/** Prints `text` under a header naming the stage, only when that stage is enabled. */
export function debugPrint(stage: DebugStage, text: string): void {
  if (!debugEnabled(stage)) return;
  const body = text.endsWith('\n') ? text : text + '\n';
  process.stderr.write(`--- kiln ${stage} ---\n${body}`);
}
