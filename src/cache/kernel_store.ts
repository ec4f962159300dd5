// The persistent kernel cache, content-addressed by CompileRequest.key. Hit and miss
// counting belongs to the caller (AsyncCompile), which alone knows whether a lookup was the
// one that decided to compile; this store only counts corrupt entries.

import type { CompiledKernel, KernelStoreLike } from '../compile/types.js';
import { warnOnce } from '../observe/log.js';
import type { EntryBackend } from './backend.js';
import { decodeKernel, encodeKernel } from './kernel_codec.js';
import { entryRelPath, isValidKey } from './layout.js';
import { loadEntry, storeEntry } from './store_io.js';
import { type CompileLock, tryCompileLock } from './compile_lock.js';

export class KernelStore implements KernelStoreLike {
  constructor(readonly backend: EntryBackend) {}

  get(key: string): CompiledKernel | undefined {
    if (!isValidKey(key)) return undefined;
    return loadEntry(this.backend, entryRelPath('kernel', key), (payload) => {
      const k = decodeKernel(payload);
      // A valid entry under the wrong name (copied by hand, a bug) must not be served.
      if (k.key !== key) throw new Error('key mismatch');
      return k;
    });
  }

  lockForCompile(key: string, staleMs: number): CompileLock {
    // Only a shared directory needs it; memory and disabled stores are private to this
    // process, and a read-only directory gets no entries from us to wait for.
    if (this.backend.dir === undefined || this.backend.readOnly === true || !isValidKey(key)) return { kind: 'owner', release: () => {} };
    return tryCompileLock(this.backend.dir, key, staleMs);
  }

  put(kernel: CompiledKernel): void {
    if (!isValidKey(kernel.key)) {
      warnOnce(`cache-bad-key:${kernel.key}`, `not caching kernel with unusable key ${JSON.stringify(kernel.key)}`);
      return;
    }
    storeEntry(this.backend, entryRelPath('kernel', kernel.key), () => encodeKernel(kernel));
  }
}
