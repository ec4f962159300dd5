#!/usr/bin/env node
// The kiln command line. Every command has --help; exit codes: 0 ok, 1 a compile or run
// failure (unsupported models included), 2 bad usage or a missing or unreadable file.

import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { registerBench } from './bench_cmd.js';
import { registerCache } from './cache_cmd.js';
import { registerCompile } from './compile_cmd.js';
import { registerDemo } from './demo.js';
import { EXIT_USAGE, exitCodeFor } from './errors.js';
import { registerInspect } from './inspect_cmd.js';
import { registerRun } from './run_cmd.js';
import { setting } from '../config/read.js';

function version(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const p of ['../../../package.json', '../../package.json']) {
    try {
      return (JSON.parse(readFileSync(path.resolve(here, p), 'utf8')) as { version: string }).version;
    } catch {
      // try the next layout (dist/src/cli or src/cli)
    }
  }
  return 'unknown';
}

export function buildProgram(): Command {
  const program = new Command('kiln')
    .description('kiln: a tensor compiler for Node.js — compile and run ONNX models on the CPU or a CUDA GPU')
    .version(version(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    // Throw instead of exiting so main() picks the exit code (commander's own is 1 for usage errors).
    .exitOverride();
  registerRun(program);
  registerCompile(program);
  registerBench(program);
  registerInspect(program);
  registerDemo(program);
  registerCache(program);
  program.addHelpText(
    'after',
    '\nExit codes: 0 ok, 1 compile or run failure (or unsupported model), 2 bad usage or missing file.\nEnvironment: KILN_DEVICE, KILN_CACHE_DIR, KILN_NO_CACHE, KILN_WORKERS, KILN_DEBUG, KILN_TRACE.',
  );
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const json = argv.includes('--json');
  try {
    if (argv.length <= 2) {
      program.outputHelp();
      return EXIT_USAGE;
    }
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version arrive here too, with exit code 0 (text already printed).
      return e.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    const err = e as Error;
    const code = exitCodeFor(err);
    if (json) process.stdout.write(JSON.stringify({ error: { name: err.name, message: err.message, exitCode: code } }) + '\n');
    process.stderr.write(`kiln: ${err.message}\n`);
    if (setting('KILN_DEBUG').length > 0 && err.stack) process.stderr.write(err.stack + '\n');
    return code;
  }
}

process.exitCode = await main(process.argv);
