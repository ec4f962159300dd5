// KILN_NO_CACHE=1: nothing is stored or found, so every run is a cold compile (what the
// variable is for: measuring compile latency). In-process sharing of kernels still happens
// in AsyncCompile's future cache, which is not a cache in this sense.

import type { EntryBackend } from './backend.js';

export class DisabledBackend implements EntryBackend {
  readonly description = '(disabled)';
  readonly dir = undefined;
  read(): 'missing' {
    return 'missing';
  }
  write(): void {}
  remove(): void {}
  touch(): void {}
}
