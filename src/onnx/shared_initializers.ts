// Initializers shared by every load of one model file in a process: a model loaded twice (for
// two input shapes, say) binds the same NDArray per weight, so a device keeps one copy of its
// weights (CUDA uploads once per NDArray) and the second load reads none of them again. A
// tensor is known by its name, type and dims and where its bytes are: its external data
// file's identity (device, inode, size, modification time in ns) and region, or the model
// file's identity; a file changed since gives another key. A file modified in the last
// STABLE_MS is not shared: file times tick coarsely (a few ms), so a rewrite within one tick of
// the read could keep the key; a file older than that when first read gets a later time when
// rewritten. Entries go when their tensor is collected.

import { statSync } from 'node:fs';
import * as path from 'node:path';
import type { ConstTensor } from './const_tensor.js';
import { externalDataFields } from './external_data.js';
import type { TensorProto } from './proto.js';

const live = new Map<string, WeakRef<ConstTensor>>();
const collected = new FinalizationRegistry<string>((key) => {
  if (live.get(key)?.deref() === undefined) live.delete(key);
});

const STABLE_MS = 2000;

function fileIdentity(file: string): string | undefined {
  try {
    const st = statSync(file, { bigint: true });
    if (Date.now() - Number(st.mtimeMs) < STABLE_MS) return undefined;
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
  } catch {
    return undefined; // the reader reports a missing file, naming the tensor
  }
}

/** Where the tensor's bytes are, or undefined for a model given as bytes. */
function tensorIdentity(modelFile: string, baseDir: string | undefined, t: TensorProto): string | undefined {
  if (baseDir === undefined) return undefined;
  // The name too: a build records value reads by it (const_tensor.ts), so a tensor is shared
  // only under its own name.
  const shape = `${t.name ?? ''}:${t.dataType}:${(t.dims ?? []).join(',')}`;
  const kv = externalDataFields(t);
  if (kv.size > 0) {
    const file = path.resolve(baseDir, kv.get('location') ?? '');
    const id = fileIdentity(file);
    return id && `ext:${file}:${id}:${kv.get('offset') ?? 0}:${kv.get('length') ?? ''}:${shape}`;
  }
  const file = path.resolve(modelFile);
  const id = fileIdentity(file);
  return id && `model:${file}:${id}:${shape}`;
}

/** The process's tensor for this initializer, made by `make` the first time (and after a change of its file). */
export function sharedInitializer(modelFile: string, baseDir: string | undefined, t: TensorProto, make: () => ConstTensor): ConstTensor {
  const key = tensorIdentity(modelFile, baseDir, t);
  if (key === undefined) return make();
  const known = live.get(key)?.deref();
  if (known) return known;
  const c = make();
  live.set(key, new WeakRef(c));
  collected.register(c, key);
  return c;
}
