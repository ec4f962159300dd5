// Issue 14, item 2 (artifacts): `kiln cache import` accepts only artifacts signed by a trusted
// ed25519 key, refuses others saying how to trust them, and validates every key before it
// comes near a path.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { exportArtifacts, importArtifacts } from '../src/cache/artifacts.js';
import { readEntryVerified, writeEntryAtomic } from '../src/cache/entry_file.js';
import { packJsonAndBlobs, unpackJsonAndBlobs } from '../src/cache/framing.js';
import { graphKey } from '../src/cache/graph_store.js';
import { encodeKernel } from '../src/cache/kernel_codec.js';
import { openCache } from '../src/cache/open_cache.js';
import { CACHE_FORMAT_VERSION } from '../src/cache/format.js';
import { machineSigningKey, signPayload, trustKeyFile } from '../src/cache/signing.js';
import type { CompiledKernel } from '../src/cache/compiled_kernel.js';

delete process.env.KILN_NO_CACHE;
delete process.env.KILN_SIGNING_KEY;
delete process.env.KILN_TRUSTED_KEYS;
const root = mkdtempSync(join(tmpdir(), 'kiln-sec-art-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const newDir = (name: string): string => join(root, `${name}-${n++}`);
/** A machine: its own config directory (keys, trust list). */
const machine = (name: string): NodeJS.ProcessEnv => ({ ...process.env, XDG_CONFIG_HOME: newDir(`config-${name}`) });

function kernel(name: string): CompiledKernel {
  return { key: createHash('sha256').update(name).digest('hex'), backend: 'c', kernelName: name, binary: new Uint8Array(randomBytes(700)), meta: { params: 1 }, log: '', compileMs: 1 };
}

function populated(): string {
  const dir = newDir('cache');
  const { kernels, graphs } = openCache({ cacheDir: dir });
  const ks = [kernel('a1'), kernel('a2')];
  for (const k of ks) kernels.put(k);
  graphs.putBundle(graphKey(['art']), { plan: { p: 1 }, kernels: ks }, 'm.onnx');
  return dir;
}

const builder = machine('builder');
const server = machine('server');
const src = populated();
const artifact = join(root, 'shipped.kiln');
const exported = exportArtifacts(src, artifact, { env: builder });

test('export signs with a key generated 0600 on first use; the own machine imports it', () => {
  const key = machineSigningKey({ env: builder })!;
  assert.equal(statSync(key.path).mode & 0o777, 0o600);
  assert.match(exported.signer, /^SHA256:/);
  const r = importArtifacts(newDir('own'), artifact, { env: builder });
  assert.deepEqual({ kernels: r.kernels, graphs: r.graphs, skipped: r.skipped, signer: r.signer }, { kernels: 2, graphs: 1, skipped: 0, signer: exported.signer });
});

test('another machine refuses it, saying how to trust the key; after `trust` (or KILN_TRUSTED_KEYS) it imports', () => {
  const dir = newDir('server');
  assert.throws(() => importArtifacts(dir, artifact, { env: server }), (e: Error) => {
    assert.match(e.message, new RegExp(`signed by key ${exported.signer.replace(/[+/]/g, '\\$&')}, which this machine does not trust`));
    assert.match(e.message, /kiln cache trust KEYFILE/);
    assert.match(e.message, /KILN_TRUSTED_KEYS/);
    return true;
  });
  assert.ok(!existsSync(dir), 'nothing imported');
  const pub = machineSigningKey({ env: builder })!.publicPath!;
  assert.equal(importArtifacts(dir, artifact, { env: { ...server, KILN_TRUSTED_KEYS: pub } }).kernels, 2);
  assert.equal(trustKeyFile(pub, { env: server }).added, true);
  assert.equal(trustKeyFile(pub, { env: server }).added, false);
  assert.equal(importArtifacts(newDir('server2'), artifact, { env: server }).graphs, 1);
});

test('foreign binaries with fixed checksums: re-signed by an untrusted key, or altered after signing, are refused', () => {
  const payload = readEntryVerified(artifact) as Uint8Array;
  const { json, blobs } = unpackJsonAndBlobs(payload);
  const inner = blobs[0]!.slice();
  inner[inner.byteLength - 10]! ^= 0xff; // a byte of the last binary
  // Altered, old signature kept, entry checksum fixed:
  const altered = join(root, 'altered.kiln');
  writeEntryAtomic(altered, packJsonAndBlobs(json, [inner]));
  assert.throws(() => importArtifacts(newDir('alt'), altered, { env: builder }), /bad signature: it was changed after it was signed/);
  // Re-signed by an attacker's key:
  const mallory = machine('mallory');
  const mk = machineSigningKey({ env: mallory, create: true })!;
  const forged = join(root, 'forged.kiln');
  writeEntryAtomic(forged, packJsonAndBlobs({ kind: 'kiln-signed-artifact', ...signPayload(inner, mk) }, [inner]));
  assert.throws(() => importArtifacts(newDir('forged'), forged, { env: builder }), /does not trust/);
});

test('an unsigned artifact (the old format) is refused', () => {
  const payload = readEntryVerified(artifact) as Uint8Array;
  const inner = unpackJsonAndBlobs(payload).blobs[0]!;
  const old = join(root, 'old.kiln');
  writeEntryAtomic(old, inner);
  assert.throws(() => importArtifacts(newDir('old'), old, { env: builder }), /is not signed/);
});

test('a trusted artifact with ../../x keys writes nothing outside the cache', () => {
  const key = machineSigningKey({ env: builder })!;
  const evilKernel = { ...kernel('evil'), key: '../../x' };
  const goodKernel = kernel('good');
  const bundleWithEvilKernel = packJsonAndBlobs({ key: graphKey(['g']), label: null, plan: {}, planIsJson: true, kernels: [{ key: '../../y', backend: 'c', kernelName: 'e', binary: 0, meta: {}, log: '', compileMs: 0 }] }, [new Uint8Array(8)]);
  const manifest = {
    kind: 'kiln-cache-artifacts',
    formatVersion: CACHE_FORMAT_VERSION,
    label: null,
    createdAt: new Date().toISOString(),
    entries: [
      { type: 'kernel', key: '../../x' },
      { type: 'graph', key: '../../../z' },
      { type: 'graph', key: graphKey(['g']) },
      { type: 'kernel', key: goodKernel.key },
    ],
  };
  const inner = packJsonAndBlobs(manifest, [encodeKernel(evilKernel), bundleWithEvilKernel, bundleWithEvilKernel, encodeKernel(goodKernel)]);
  const file = join(root, 'evil.kiln');
  writeEntryAtomic(file, packJsonAndBlobs({ kind: 'kiln-signed-artifact', ...signPayload(inner, key) }, [inner]));
  const dir = join(newDir('evil-parent'), 'a', 'b', 'cache');
  const r = importArtifacts(dir, file, { env: builder });
  assert.deepEqual({ kernels: r.kernels, graphs: r.graphs, skipped: r.skipped }, { kernels: 1, graphs: 0, skipped: 3 });
  for (const p of [join(dir, '..', '..', 'x.kentry'), join(dir, 'kernels', '..', '..', 'x.kentry'), join(dir, 'graphs', '..', '..', '..', 'z.gentry')]) assert.ok(!existsSync(p), p);
  assert.deepEqual(readdirSync(join(dir, '..')), ['cache']);
  assert.deepEqual(readdirSync(join(dir, '..', '..')), ['b']);
});

test('a signing key readable by others is refused (KILN_SIGNING_KEY)', () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const file = join(root, 'loose.pem');
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o644 });
  chmodSync(file, 0o644);
  assert.throws(() => exportArtifacts(src, join(root, 'x.kiln'), { env: { ...builder, KILN_SIGNING_KEY: file } }), /readable by group or others.*chmod 600/);
  chmodSync(file, 0o600);
  const r = exportArtifacts(src, join(root, 'x.kiln'), { env: { ...builder, KILN_SIGNING_KEY: file } });
  assert.throws(() => importArtifacts(newDir('x'), join(root, 'x.kiln'), { env: builder }), /does not trust/);
  assert.equal(importArtifacts(newDir('x'), join(root, 'x.kiln'), { env: { ...builder, KILN_SIGNING_KEY: file } }).signer, r.signer);
});

test('command line: import refuses an untrusted artifact (exit 1, how to trust it); `kiln cache key` + `kiln cache trust` fix it', () => {
  const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
  const other = machine('cli');
  const cacheDir = newDir('cli-cache');
  const kiln = (args: string[], env: NodeJS.ProcessEnv) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...env, KILN_CACHE_DIR: cacheDir } });
  const refused = kiln(['cache', 'import', artifact], other);
  assert.equal(refused.status, 1, refused.stderr);
  assert.match(refused.stderr, /does not trust.*kiln cache trust KEYFILE/);
  const key = kiln(['cache', 'key'], builder);
  assert.equal(key.status, 0, key.stderr);
  const keyFile = join(root, 'builder.pub');
  writeFileSync(keyFile, key.stdout);
  const trusted = kiln(['cache', 'trust', keyFile], other);
  assert.equal(trusted.status, 0, trusted.stderr);
  assert.match(trusted.stdout, /now trusting SHA256:/);
  const ok = kiln(['cache', 'import', artifact], other);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /imported 2 kernels, 1 graphs signed by SHA256:/);
  assert.ok(readFileSync(join(other.XDG_CONFIG_HOME!, 'kiln', 'trusted_keys'), 'utf8').startsWith('ed25519 '));
});
