// How the kiln command maps failures to exit codes: 2 for a wrong invocation (bad flags, a
// KILN_* variable with a bad value, missing or unreadable files, inputs that do not fit the
// model), 1 for everything that fails while compiling or running a valid request (including
// unsupported models).

import { CommanderError } from 'commander';
import { SettingError } from '../config/read.js';
import { OnnxInputError, OnnxParseError } from '../onnx/errors.js';
import { NpyError } from '../onnx/npy.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A problem with how the command was invoked. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A usage error for symbolic dims given no size (a command may add its own way out: inspect's --no-kernels). */
export class MissingSizesError extends UsageError {}

export function exitCodeFor(e: unknown): number {
  if (e instanceof UsageError || e instanceof CommanderError || e instanceof SettingError) return EXIT_USAGE;
  if (e instanceof OnnxParseError || e instanceof OnnxInputError || e instanceof NpyError) return EXIT_USAGE;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES' || code === 'ENOTDIR') return EXIT_USAGE;
  return EXIT_FAILURE;
}
