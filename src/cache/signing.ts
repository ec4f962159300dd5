// Who made a binary: ed25519 signatures over exported artifacts (and, later, the remote cache's
// entries, which will use the same functions). `kiln cache export` signs with this machine's
// key; `kiln cache import` accepts only files signed by a trusted key, because an artifact is
// code that will run in the importing process.
//
//   machine key      KILN_SIGNING_KEY (a PEM PKCS#8 ed25519 private key file), else
//                    <config>/signing_key.pem, generated on first use (mode 0600; its public
//                    half beside it in signing_key.pub), <config> = $KILN_CONFIG_DIR, else
//                    $XDG_CONFIG_HOME/kiln, else ~/.config/kiln
//   trusted keys     the machine key's own public key; KILN_TRUSTED_KEYS (items separated by
//                    ':', each a public key file or an inline `ed25519:<base64>` key); and
//                    <config>/trusted_keys, one `ed25519 <base64> <comment>` line per key,
//                    appended by `kiln cache trust KEYFILE`
//
// A key file is PEM (SPKI public or PKCS#8 private: only its public half is taken) or one
// `ed25519 <base64 of the 32-byte key>` line. A private key file, and the trusted_keys list,
// must be ours and not writable (the private key: not readable) by group or others, or they
// are refused, as ssh refuses loose key files.
//
// The signature covers the domain string below and the whole inner payload (manifest and
// every blob), so nothing in an artifact can be changed, added or dropped without the key.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { closeSync, fstatSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { setting } from '../config/read.js';
import { ownershipProblem } from './entry_file.js';

const DOMAIN = Buffer.from('kiln-artifact-signature-v1\0', 'latin1');
/** DER prefix of an ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface SigningOptions {
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

export class SignatureError extends Error {
  override name = 'SignatureError';
}

export function kilnConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  const own = setting('KILN_CONFIG_DIR', env);
  if (own !== undefined) return resolve(own);
  const xdg = env.XDG_CONFIG_HOME?.trim();
  return resolve(xdg ? xdg : join(homedir(), '.config'), 'kiln');
}

/** The raw 32-byte public key of a key object. */
function rawPublic(key: KeyObject): Buffer {
  const der = (key.type === 'public' ? key : createPublicKey(key)).export({ type: 'spki', format: 'der' });
  if (der.length !== 44 || !der.subarray(0, 12).equals(SPKI_PREFIX)) throw new SignatureError('not an ed25519 key');
  return der.subarray(12);
}

function publicFromRaw(raw: Uint8Array): KeyObject {
  if (raw.byteLength !== 32) throw new SignatureError(`an ed25519 public key is 32 bytes, not ${raw.byteLength}`);
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** `SHA256:<base64>` of the raw public key, as ssh names keys. */
export function fingerprint(raw: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(raw).digest('base64').replace(/=+$/, '')}`;
}

/** The one-line text form of a public key: `ed25519 <base64>`. */
export function publicKeyLine(raw: Uint8Array, comment = ''): string {
  return `ed25519 ${Buffer.from(raw).toString('base64')}${comment ? ` ${comment}` : ''}`;
}

/** The raw public key in a key file's text (PEM public or private, or an `ed25519 <base64>` line); throws if none. */
export function parsePublicKeyText(text: string, what: string): Buffer {
  const trimmed = text.trim();
  const line = /^ed25519[ :]([A-Za-z0-9+/]{43}=)(\s.*)?$/.exec(trimmed.split('\n')[0]!.trim());
  if (line) return rawPublic(publicFromRaw(Buffer.from(line[1]!, 'base64')));
  try {
    if (trimmed.includes('PRIVATE KEY')) return rawPublic(createPrivateKey(trimmed));
    return rawPublic(createPublicKey(trimmed));
  } catch (e) {
    throw new SignatureError(`${what} holds no ed25519 public key (${(e as Error).message})`);
  }
}

export interface SigningKey {
  privateKey: KeyObject;
  publicRaw: Buffer;
  /** Where it was read from (for messages). */
  path: string;
  /** Where its public half lies, when kiln generated it. */
  publicPath?: string;
}

function readPrivateKey(path: string): SigningKey {
  const fd = openSync(path, 'r');
  let text: string;
  try {
    const st = fstatSync(fd);
    const problem = ownershipProblem(st) ?? ((st.mode & 0o044) !== 0 ? `readable by group or others (mode ${(st.mode & 0o777).toString(8)})` : undefined);
    if (problem !== undefined) throw new SignatureError(`signing key ${path} is ${problem}; refusing to use it (chmod 600 ${path})`);
    text = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(text);
  } catch (e) {
    throw new SignatureError(`signing key ${path} is not a PEM private key (${(e as Error).message})`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new SignatureError(`signing key ${path} is a ${privateKey.asymmetricKeyType} key, not ed25519`);
  return { privateKey, publicRaw: rawPublic(privateKey), path };
}

function defaultKeyPaths(env: NodeJS.ProcessEnv): { key: string; pub: string } {
  const dir = kilnConfigDir(env);
  return { key: join(dir, 'signing_key.pem'), pub: join(dir, 'signing_key.pub') };
}

/**
 * This machine's signing key: KILN_SIGNING_KEY, else the generated one (created now, 0600,
 * when `create` and there is none; two processes racing agree on one through link()).
 * undefined when there is none and `create` is false.
 */
export function machineSigningKey(opts: SigningOptions & { create?: boolean } = {}): SigningKey | undefined {
  const env = opts.env ?? process.env;
  const explicit = setting('KILN_SIGNING_KEY', env);
  if (explicit !== undefined) return readPrivateKey(resolve(explicit));
  const { key, pub } = defaultKeyPaths(env);
  try {
    return { ...readPrivateKey(key), publicPath: pub };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    if (opts.create !== true) return undefined;
  }
  mkdirSync(kilnConfigDir(env), { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const tmp = `${key}.tmp.${process.pid}`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, pem);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, key); // atomic, and fails if another process made one first: then theirs is used
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    unlinkSync(tmp);
  }
  const mine = readPrivateKey(key);
  try {
    writeFileSync(pub, `${publicKeyLine(mine.publicRaw, `kiln@${fingerprint(mine.publicRaw)}`)}\n`, { mode: 0o644 });
  } catch {
    // only a convenience copy; `kiln cache key` prints it too
  }
  return { ...mine, publicPath: pub };
}

function trustedListPath(env: NodeJS.ProcessEnv): string {
  return join(kilnConfigDir(env), 'trusted_keys');
}

export interface TrustedKey {
  raw: Buffer;
  /** Where trust comes from, for messages: 'own key', 'KILN_TRUSTED_KEYS', the list's path. */
  source: string;
}

/** Every trusted public key. Bad items are reported by throwing, so a typo is never silent. */
export function trustedKeys(opts: SigningOptions = {}): TrustedKey[] {
  const env = opts.env ?? process.env;
  const out: TrustedKey[] = [];
  const own = machineSigningKey({ env, create: false });
  if (own !== undefined) out.push({ raw: own.publicRaw, source: 'own key' });
  for (const item of setting('KILN_TRUSTED_KEYS', env)) {
    const text = /^ed25519:[A-Za-z0-9+/]{43}=$/.test(item) ? item : readFileSync(item, 'utf8');
    out.push({ raw: parsePublicKeyText(text, `KILN_TRUSTED_KEYS item ${item}`), source: 'KILN_TRUSTED_KEYS' });
  }
  const list = trustedListPath(env);
  let fd: number | undefined;
  try {
    fd = openSync(list, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (fd !== undefined) {
    try {
      const problem = ownershipProblem(fstatSync(fd));
      if (problem !== undefined) throw new SignatureError(`trusted key list ${list} is ${problem}; refusing to use it (chmod go-w ${list})`);
      for (const line of readFileSync(fd, 'utf8').split('\n')) {
        if (line.trim() === '' || line.trim().startsWith('#')) continue;
        out.push({ raw: parsePublicKeyText(line, `a line of ${list}`), source: list });
      }
    } finally {
      closeSync(fd);
    }
  }
  return out;
}

/** Adds the key in `keyFile` to the trusted list; returns its fingerprint and whether it was new. */
export function trustKeyFile(keyFile: string, opts: SigningOptions = {}): { fingerprint: string; added: boolean; list: string } {
  const env = opts.env ?? process.env;
  const raw = parsePublicKeyText(readFileSync(keyFile, 'utf8'), keyFile);
  const list = trustedListPath(env);
  const fp = fingerprint(raw);
  if (trustedKeys(opts).some((k) => k.source === list && k.raw.equals(raw))) return { fingerprint: fp, added: false, list };
  mkdirSync(kilnConfigDir(env), { recursive: true, mode: 0o700 });
  writeFileSync(list, `${publicKeyLine(raw, `${fp} from ${resolve(keyFile)}`)}\n`, { flag: 'a', mode: 0o600 });
  return { fingerprint: fp, added: true, list };
}

/** The signature block of `payload`. */
export function signPayload(payload: Uint8Array, key: SigningKey): { publicKey: string; signature: string } {
  const signature = sign(null, Buffer.concat([DOMAIN, payload]), key.privateKey);
  return { publicKey: key.publicRaw.toString('base64'), signature: signature.toString('base64') };
}

/**
 * Checks that `signature` by `publicKey` (base64, as signPayload wrote them) covers `payload`
 * and that the key is trusted; returns the signer's fingerprint. Throws SignatureError saying
 * what is wrong and, for an untrusted signer, how to trust it.
 */
export function verifyPayload(payload: Uint8Array, publicKey: unknown, signature: unknown, what: string, opts: SigningOptions = {}): string {
  if (typeof publicKey !== 'string' || typeof signature !== 'string') throw new SignatureError(`${what} is not signed`);
  const raw = Buffer.from(publicKey, 'base64');
  let key: KeyObject;
  try {
    key = publicFromRaw(raw);
  } catch (e) {
    throw new SignatureError(`${what} names no valid signing key (${(e as Error).message})`);
  }
  const sig = Buffer.from(signature, 'base64');
  if (sig.byteLength !== 64 || !verify(null, Buffer.concat([DOMAIN, payload]), key, sig)) {
    throw new SignatureError(`${what} has a bad signature: it was changed after it was signed`);
  }
  const fp = fingerprint(raw);
  if (!trustedKeys(opts).some((k) => k.raw.equals(raw))) {
    throw new SignatureError(
      `${what} is signed by key ${fp}, which this machine does not trust. If you trust its signer, get their public key ` +
        `(\`kiln cache key\` on their machine prints it and where it is) and run \`kiln cache trust KEYFILE\`, ` +
        `or add the key file to KILN_TRUSTED_KEYS.`,
    );
  }
  return fp;
}
