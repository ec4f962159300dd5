// Three processes writing the same and different keys into one cache directory at once,
// reading each other's entries meanwhile: no reader ever sees a torn entry, and afterwards
// every entry is valid and equal to one writer's complete version.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openCache } from '../src/cache/open_cache.js';
import { counters } from '../src/observe/counters.js';


// These tests are about the default behaviour; the environment running them must not change it.
delete process.env.KILN_NO_CACHE;
delete process.env.KILN_CACHE_MAX_MB;
const root = mkdtempSync(join(tmpdir(), 'kiln-cache-conc-'));
after(() => rmSync(root, { recursive: true, force: true }));

const here = dirname(fileURLToPath(import.meta.url)); // dist/test
const cacheModule = pathToFileURL(join(here, '..', 'src', 'cache', 'open_cache.js')).href;
const countersModule = pathToFileURL(join(here, '..', 'src', 'observe', 'counters.js')).href;

const WRITERS = 3;
const SHARED = 8;
const OWN = 8;
/** Each writer keeps going this long after a common start time, so the three really overlap. */
const RUN_MS = 1500;

// Shared with the children as source text, so parent and children derive identical bytes.
const helpers = `
const { createHash } = await import('node:crypto');
function keyOf(name) { return createHash('sha256').update(name).digest('hex'); }
// Deterministic, never-zero-filled bytes: a sha256 counter stream seeded by name.
function bytesOf(seed) {
  const size = 20000 + (parseInt(createHash('sha256').update('size' + seed).digest('hex').slice(0, 6), 16) % 180000);
  const out = new Uint8Array(size);
  for (let off = 0, i = 0; off < size; off += 32, i++) out.set(createHash('sha256').update(seed + ':' + i).digest().subarray(0, Math.min(32, size - off)), off);
  return out;
}
function kernelOf(name, writer) {
  return { key: keyOf(name), backend: 'c', kernelName: name, binary: bytesOf(name + '@' + writer), meta: { params: writer }, log: '', compileMs: 1 };
}
function sameBytes(a, b) { return a.byteLength === b.byteLength && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0; }
`;

const child = `
${helpers}
const { openCache } = await import(${JSON.stringify(cacheModule)});
const { counters } = await import(${JSON.stringify(countersModule)});
const writer = Number(process.env.WRITER);
const { kernels } = openCache();
const names = [];
for (let j = 0; j < ${SHARED}; j++) names.push('shared' + j);
for (let w = 0; w < ${WRITERS}; w++) for (let j = 0; j < ${OWN}; j++) names.push('own' + w + '_' + j);
// Common start line: node startup times differ by more than one writer's round takes.
while (Date.now() < Number(process.env.START_AT)) await new Promise((r) => setTimeout(r, 2));
let rounds = 0;
for (const stop = Number(process.env.START_AT) + ${RUN_MS}; rounds < 3 || Date.now() < stop; rounds++) {
  for (let j = 0; j < ${SHARED}; j++) kernels.put(kernelOf('shared' + j, writer));
  for (let j = 0; j < ${OWN}; j++) kernels.put(kernelOf('own' + writer + '_' + j, writer));
  for (const name of names) {
    const k = kernels.get(keyOf(name));
    if (k === undefined) continue; // not written yet by its owner
    if (!sameBytes(k.binary, bytesOf(name + '@' + k.meta.params))) { console.error('torn read of ' + name); process.exit(2); }
  }
}
if (counters().cache_corrupt !== 0) { console.error('corrupt reads: ' + counters().cache_corrupt); process.exit(3); }
`;

function runChild(dir: string, writer: number, startAt: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', child], {
      env: { ...process.env, KILN_CACHE_DIR: dir, WRITER: String(writer), START_AT: String(startAt), KILN_NO_CACHE: '', KILN_CACHE_MAX_MB: '' },
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += String(d)));
    p.on('close', (code) => resolve({ code, stderr }));
  });
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [e.name]));
}

test('three processes writing one directory at once leave only valid entries', async () => {
  const dir = join(root, 'shared');
  const startAt = Date.now() + 1000;
  const results = await Promise.all(Array.from({ length: WRITERS }, (_, w) => runChild(dir, w, startAt)));
  for (const [w, r] of results.entries()) assert.equal(r.code, 0, `writer ${w} failed: ${r.stderr}`);

  // Evaluate the same helpers here, so the expected bytes come from the very same code.
  const { keyOf, bytesOf, sameBytes } = (await import(
    `data:text/javascript,${encodeURIComponent(`${helpers}\nexport { keyOf, bytesOf, sameBytes };`)}`
  )) as { keyOf: (n: string) => string; bytesOf: (s: string) => Uint8Array; sameBytes: (a: Uint8Array, b: Uint8Array) => boolean };

  const { kernels } = openCache({ cacheDir: dir });
  const before = counters().cache_corrupt;
  for (let j = 0; j < SHARED; j++) {
    const name = `shared${j}`;
    const k = kernels.get(keyOf(name));
    assert.ok(k !== undefined, `${name} present`);
    const writer = k.meta.params;
    assert.ok(sameBytes(k.binary, bytesOf(`${name}@${writer}`)), `${name} is writer ${writer}'s complete entry`);
  }
  for (let w = 0; w < WRITERS; w++) {
    for (let j = 0; j < OWN; j++) {
      const name = `own${w}_${j}`;
      const k = kernels.get(keyOf(name));
      assert.ok(k !== undefined, `${name} present`);
      assert.equal(k.meta.params, w);
      assert.ok(sameBytes(k.binary, bytesOf(`${name}@${w}`)), `${name} intact`);
    }
  }
  assert.equal(counters().cache_corrupt, before);
  const files = walk(dir);
  assert.equal(files.filter((f) => f.includes('.tmp.')).length, 0, 'no temporary files left');
  assert.equal(files.filter((f) => f.endsWith('.kentry')).length, SHARED + WRITERS * OWN);
});
