// The on-disk entry format: round trip, and every kind of damage is detected.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ENTRY_HEADER_BYTES, readEntryVerified, writeEntryAtomic } from '../src/cache/entry_file.js';

const root = mkdtempSync(join(tmpdir(), 'kiln-cache-entry-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('an entry round-trips and leaves no temporary file', () => {
  const path = join(root, 'a', 'b', 'x.kentry'); // parents are created on demand
  const payload = new Uint8Array(randomBytes(5000));
  writeEntryAtomic(path, payload);
  assert.deepEqual(readEntryVerified(path), payload);
  assert.equal(readFileSync(path).byteLength, ENTRY_HEADER_BYTES + payload.byteLength);
  assert.deepEqual(readdirSync(join(root, 'a', 'b')), ['x.kentry']);
});

test('a missing file is missing; an empty payload is valid', () => {
  assert.equal(readEntryVerified(join(root, 'nope.kentry')), 'missing');
  assert.equal(readEntryVerified(join(root, 'nope', 'deeper.kentry')), 'missing');
  const path = join(root, 'empty.kentry');
  writeEntryAtomic(path, new Uint8Array(0));
  assert.deepEqual(readEntryVerified(path), new Uint8Array(0));
});

test('any flipped byte, truncation or extension is corrupt', () => {
  const path = join(root, 'flip.kentry');
  writeEntryAtomic(path, new Uint8Array(randomBytes(300)));
  const good = readFileSync(path);
  for (let i = 0; i < good.byteLength; i++) {
    const bad = Buffer.from(good);
    bad[i] = bad[i]! ^ 0xff;
    writeFileSync(path, bad);
    assert.equal(readEntryVerified(path), 'corrupt', `flipped byte ${i}`);
  }
  for (const len of [0, 1, 4, 47, 48, 49, 100, good.byteLength - 1]) {
    writeFileSync(path, good.subarray(0, len));
    assert.equal(readEntryVerified(path), 'corrupt', `truncated to ${len}`);
  }
  writeFileSync(path, Buffer.concat([good, Buffer.from([7])]));
  assert.equal(readEntryVerified(path), 'corrupt', 'extended by one byte');
  writeFileSync(path, good);
  assert.notEqual(readEntryVerified(path), 'corrupt');
});
