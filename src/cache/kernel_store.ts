// The persistent kernel cache, content-addressed by each kernel's key. Hit and miss
// counting belongs to the caller (AsyncCompile), which alone knows whether a lookup was the
// one that decided to compile; this store only counts corrupt entries.

import type { CompiledGroup, CompiledKernel } from './compiled_kernel.js';
import { type DecodedKernel, decodeKernelEntry, encodeKernel } from './kernel_codec.js';
import { warnOnce } from '../observe/log.js';
import type { EntryBackend } from './backend.js';
import { bump } from '../observe/counters.js';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { KERNELS_DIR, entryRelPath, isValidKey } from './layout.js';
import { loadEntry, storeEntry } from './store_io.js';
import { type CompileLock, tryCompileLock } from './compile_lock.js';

/** AsyncCompile's kernel store (compile/types.ts, KernelStoreLike): kiln's one implementation. */
export class KernelStore {
  constructor(readonly backend: EntryBackend) {}

  /**
   * Binaries of compile groups' entries, by entry key, once read: every member of a group
   * gets the same bytes (one object, which the loaders load once), read from disk once.
   */
  private readonly shared = new Map<string, Uint8Array>();
  /** Once the store was seen to hold a kernel (or stored one): compile() and compileGraph both ask. */
  private holdsKernels = false;

  /** The kernel stored under `key`; a miss for a compile group's entry (which holds a binary only). */
  get(key: string): CompiledKernel | undefined {
    const entry = this.entry(key);
    if (entry === undefined || entry.group !== undefined) return undefined;
    if (entry.binaryOf === undefined) return entry.kernel;
    // A compile group's member: its binary is the group entry's (stored once for all members).
    const binary = this.sharedBinary(entry.binaryOf, entry.kernel.backend);
    // The group's entry gone (evicted, removed): a miss, and the compile's put replaces both.
    return binary === undefined ? undefined : { ...entry.kernel, binary, binaryOf: entry.binaryOf };
  }

  private entry(key: string): DecodedKernel | undefined {
    if (!isValidKey(key)) return undefined;
    return loadEntry(this.backend, entryRelPath('kernel', key), (payload) => {
      const d = decodeKernelEntry(payload);
      // A valid entry under the wrong name (copied by hand, a bug) must not be served.
      if ((d.kernel ?? d.group).key !== key) throw new Error('key mismatch');
      return d;
    });
  }

  private sharedBinary(key: string, backend: CompiledKernel['backend']): Uint8Array | undefined {
    const known = this.shared.get(key);
    if (known !== undefined) return known;
    const entry = this.entry(key);
    // Only a plain entry of the same backend holds a binary (no chains of references).
    const holder = entry === undefined || entry.binaryOf !== undefined ? undefined : (entry.kernel ?? entry.group);
    if (holder === undefined || holder.backend !== backend) return undefined;
    bump('kernel_shared_binary_reads');
    this.shared.set(key, holder.binary);
    return holder.binary;
  }

  /**
   * Whether the store holds no kernel at all (one readdir, no entry read): the cheap
   * prediction that a compile is coming, made before tracing (api/program.ts, warmForCompile).
   */
  isEmpty(): boolean {
    if (this.holdsKernels) return false;
    this.holdsKernels = !this.listsNoKernel();
    return !this.holdsKernels;
  }

  private listsNoKernel(): boolean {
    const b = this.backend as EntryBackend & { hasAny?: (dirRel: string) => boolean };
    if (b.hasAny !== undefined) return !b.hasAny(KERNELS_DIR);
    if (b.dir === undefined) return true;
    try {
      return readdirSync(join(b.dir, KERNELS_DIR)).length === 0;
    } catch {
      return true;
    }
  }

  lockForCompile(key: string, staleMs: number): CompileLock {
    // Only a shared directory needs it; memory and disabled stores are private to this
    // process, and a read-only directory gets no entries from us to wait for.
    if (this.backend.dir === undefined || this.backend.readOnly === true || !isValidKey(key)) return { kind: 'owner', release: () => {} };
    return tryCompileLock(this.backend.dir, key, staleMs);
  }

  put(kernel: CompiledKernel | CompiledGroup): void {
    if (!isValidKey(kernel.key)) {
      warnOnce(`cache-bad-key:${kernel.key}`, `not caching kernel with unusable key ${JSON.stringify(kernel.key)}`);
      return;
    }
    storeEntry(this.backend, entryRelPath('kernel', kernel.key), () => encodeKernel(kernel));
    if (kernel.binaryOf === undefined) this.shared.delete(kernel.key);
  }
}
