// OpenPGP keys as ward accepts them: openpgp (v6) loaded only by the commands that need it,
// with a policy config (RSA under 2048 bits and SHA-1, MD5, RIPEMD-160 signatures refused), and
// the checks openpgp leaves to its caller: revocation, expiry now and at signing time, a
// signing-capable (sub)key.
import fs from 'node:fs';
import type * as OpenPGP from 'openpgp';
import { WardError } from '../schema/errors';

export type Pgp = typeof OpenPGP;
let lib: Pgp | null = null;

export async function pgp(): Promise<Pgp> {
  lib ??= (await import('openpgp')) as Pgp;
  return lib;
}

export const MIN_RSA_BITS = 2048;

/** openpgp's full config with ward's policy (key methods want a whole Config, not a partial one). */
export async function policyConfig(): Promise<OpenPGP.Config> {
  const { enums, config } = await pgp();
  const weak = new Set([enums.hash.md5, enums.hash.ripemd, enums.hash.sha1]);
  return { ...config, minRSABits: MIN_RSA_BITS, rejectMessageHashAlgorithms: weak, rejectHashAlgorithms: new Set([enums.hash.md5, enums.hash.ripemd]) };
}

/** Reads one public key, armored or binary. Refuses secret keys and files holding several. */
export async function readPublicKey(bytes: Buffer, what: string): Promise<OpenPGP.PublicKey> {
  const openpgp = await pgp();
  const config = await policyConfig();
  let keys: OpenPGP.Key[];
  try {
    const text = bytes.toString('latin1').trimStart();
    keys = text.startsWith('-----BEGIN PGP')
      ? await openpgp.readKeys({ armoredKeys: bytes.toString('utf8'), config })
      : await openpgp.readKeys({ binaryKeys: new Uint8Array(bytes), config });
  } catch (e) {
    throw new WardError('ESIGNATURE', `${what} is not an OpenPGP public key (${(e as Error).message}); export it with gpg --armor --export`);
  }
  if (keys.length !== 1) throw new WardError('ESIGNATURE', `${what} holds ${keys.length} keys; give one key per file`);
  const key = keys[0]!;
  if (key.isPrivate()) throw new WardError('ESIGNATURE', `${what} is a secret key; give the public key (gpg --armor --export)`);
  return key as OpenPGP.PublicKey;
}

/** A stored trusted key; its file must be named by its fingerprint (as rkt checks). */
export async function readKeyFile(file: string, fingerprint: string): Promise<OpenPGP.PublicKey> {
  const key = await readPublicKey(fs.readFileSync(file), `trusted key ${file}`);
  const got = key.getFingerprint().toUpperCase();
  if (got !== fingerprint) throw new WardError('ESIGNATURE', `trusted key ${file} holds key ${got}, not the ${fingerprint} its name says; remove or rename the file`);
  return key;
}

export function fingerprintOf(key: OpenPGP.Key): string {
  return key.getFingerprint().toUpperCase();
}

/**
 * Why key (or its subkey keyID) may not sign at `at` (the signature's time) and now, or null.
 * openpgp's getSigningKey checks revocation, expiry and signing capability at one date; ward asks
 * at both, names the reason, and refuses short RSA keys itself for a clear message.
 */
export async function signingProblem(key: OpenPGP.PublicKey, keyID: OpenPGP.KeyID, at: Date, now: Date): Promise<string | null> {
  const config = await policyConfig();
  if (await key.isRevoked(undefined, undefined, now, config)) return 'the key is revoked';
  const expires = await key.getExpirationTime(undefined, config).catch(() => null);
  if (expires instanceof Date && expires.getTime() <= now.getTime()) return `the key expired on ${expires.toISOString()}`;
  const sub = key.getKeys(keyID)[0];
  if (!sub) return `the key has no (sub)key ${keyID.toHex().toUpperCase()}`;
  const info = sub.getAlgorithmInfo();
  if (/^rsa/.test(String(info.algorithm)) && (info.bits ?? 0) < MIN_RSA_BITS) return `its RSA key has ${info.bits} bits, fewer than ${MIN_RSA_BITS}`;
  if (sub !== key) {
    const subExpires = await (sub as OpenPGP.Subkey).getExpirationTime(now, config).catch(() => null);
    if (subExpires instanceof Date && subExpires.getTime() <= now.getTime()) return `its signing subkey ${fingerprintOf(sub as unknown as OpenPGP.Key)} expired on ${subExpires.toISOString()}`;
  }
  for (const [when, date] of [['now', now], ['when it signed', at]] as const) {
    try {
      await key.getSigningKey(keyID, date, undefined, config);
    } catch (e) {
      const why = (e as Error).message.replace(/^Could not find valid signing key packet in key [0-9a-f]+:?\s*/i, '').trim() || 'no valid signing (sub)key';
      return `${why.replace(/\.$/, '')} (${when})`;
    }
  }
  return null;
}

/** Why a key may not be trusted to sign now (revoked, expired, no signing key, short RSA), or null. */
export async function trustProblem(key: OpenPGP.PublicKey): Promise<string | null> {
  const config = await policyConfig();
  const now = new Date();
  let signing: OpenPGP.PublicKey | OpenPGP.Subkey;
  try {
    signing = await key.getSigningKey(undefined, now, undefined, { ...config, minRSABits: 0 });
  } catch (e) {
    if (await key.isRevoked(undefined, undefined, now, config)) return 'the key is revoked';
    const expires = await key.getExpirationTime(undefined, config).catch(() => null);
    if (expires instanceof Date && expires.getTime() <= now.getTime()) return `the key expired on ${expires.toISOString()}`;
    return (e as Error).message.replace(/^Could not find valid signing key packet in key [0-9a-f]+:?\s*/i, '').trim() || 'it has no valid signing (sub)key';
  }
  return signingProblem(key, signing.getKeyID(), now, now);
}

/** What a person reviews before trusting a key. */
export async function describeKey(key: OpenPGP.PublicKey): Promise<{ fingerprint: string; userIds: string[]; algorithm: string; created: string; expires: string | null }> {
  const info = key.getAlgorithmInfo();
  const exp = await key.getExpirationTime().catch(() => null);
  return {
    fingerprint: fingerprintOf(key),
    userIds: key.getUserIDs(),
    algorithm: `${info.algorithm}${info.bits ? ` ${info.bits}` : info.curve ? ` ${info.curve}` : ''}`,
    created: key.getCreationTime().toISOString(),
    expires: exp instanceof Date ? exp.toISOString() : null,
  };
}
