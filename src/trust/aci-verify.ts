// appc ACI signatures: a detached OpenPGP signature (armored or binary) over the whole ACI file,
// by a key the keystore trusts. Verification is split so the ACI's bytes flow only once:
// prepareAciVerify reads the signature and picks and checks the signing key (nothing from the
// ACI needed), verifyAciStream then hashes the bytes as they stream past. The verdict is the
// signer's primary key fingerprint and the scopes it is trusted for; authorizeName checks the
// image's name against those scopes.
import type * as OpenPGP from 'openpgp';
import { WardError } from '../schema/errors';
import { covers, Keystore, type Scope } from './keystore';
import { keystoreDigest } from './policy-digest';
import type { ConfigDirs } from './dirs';
import { fingerprintOf, pgp, policyConfig, readKeyFile, signingProblem } from './pgp';

const MAX_SIGNATURE_BYTES = 1024 * 1024;

export interface Verdict {
  /** The signing key's primary fingerprint, uppercase hex. */
  signer: string;
  /** Where the keystore trusts it: 'root' or image name prefixes. */
  scopes: Scope[];
  /** The digest of the effective keystore the verdict was reached under (keystoreDigest). */
  policy: string;
}

export interface PreparedVerify {
  what: string;
  signature: OpenPGP.Signature;
  key: OpenPGP.PublicKey;
  verdict: Verdict;
}

const refuse = (what: string, why: string, remedy: string) => new WardError('ESIGNATURE', `${what} cannot be verified: ${why}; ${remedy}`);

export async function readSignature(bytes: Buffer, what: string): Promise<OpenPGP.Signature> {
  const openpgp = await pgp();
  const config = await policyConfig();
  if (bytes.length > MAX_SIGNATURE_BYTES) throw refuse(what, `its signature is ${bytes.length} bytes`, 'a detached signature is a few hundred bytes; the source is broken or hostile');
  try {
    return bytes.toString('latin1').trimStart().startsWith('-----BEGIN PGP')
      ? await openpgp.readSignature({ armoredSignature: bytes.toString('utf8'), config })
      : await openpgp.readSignature({ binarySignature: new Uint8Array(bytes), config });
  } catch (e) {
    throw refuse(what, `its signature is malformed (${(e as Error).message})`, 'sign it again (gpg --detach-sign [--armor])');
  }
}

/**
 * Picks the trusted key that made the signature and checks it and the signature's own fields.
 * name: the image name when known before the bytes (discovery): the signer must be trusted for it
 * before a byte of the image is read.
 */
export async function prepareAciVerify(dirs: ConfigDirs, sigBytes: Buffer, what: string, name?: string): Promise<PreparedVerify> {
  const { enums } = await pgp();
  const signature = await readSignature(sigBytes, what);
  const packets = signature.packets as unknown as OpenPGP.SignaturePacket[];
  if (packets.length !== 1) throw refuse(what, `its signature file holds ${packets.length} signatures`, 'give exactly one detached signature');
  const sig = packets[0]!;
  const created = sig.created;
  if (!created) throw refuse(what, 'its signature has no creation time', 'sign it again');
  const now = new Date();
  if (sig.signatureType !== enums.signature.binary) throw refuse(what, `its signature is of type ${sig.signatureType}, not a signature of a binary document`, 'sign the file with gpg --detach-sign');
  const weak: Record<number, string> = { [enums.hash.sha1]: 'SHA-1', [enums.hash.md5]: 'MD5', [enums.hash.ripemd]: 'RIPEMD-160' };
  if (weak[sig.hashAlgorithm as number]) {
    throw refuse(what, `it is signed with the weak digest ${weak[sig.hashAlgorithm as number]}`, 'sign it again with SHA-256 or stronger (gpg --digest-algo SHA512)');
  }
  if (sig.isExpired(now)) throw refuse(what, `its signature expired (made ${created.toISOString()})`, 'sign it again');
  if (created.getTime() > now.getTime() + 5 * 60_000) throw refuse(what, `its signature is dated in the future (${created.toISOString()})`, 'check the clocks and sign it again');
  const keyID = sig.issuerKeyID;
  const store = new Keystore(dirs);
  const files = store.list();
  // Every trusted key is read (each file checked against its name); those holding the issuer's
  // (sub)key are the candidates, with every scope they are trusted for.
  const candidates = new Map<string, { key: OpenPGP.PublicKey; scopes: Scope[] }>();
  for (const f of files) {
    const key = await readKeyFile(f.file, f.fingerprint);
    if (key.getKeys(keyID).length === 0) continue;
    const c = candidates.get(f.fingerprint) ?? { key, scopes: [] };
    c.scopes.push(f.scope);
    candidates.set(f.fingerprint, c);
  }
  const issuer = (sig.issuerFingerprint ? Buffer.from(sig.issuerFingerprint).toString('hex') : keyID.toHex()).toUpperCase();
  if (candidates.size === 0) {
    throw refuse(what, `it is signed by key ${issuer}, which is not trusted${name ? ` for ${name}` : ''}`, `trust the signer's key with ward trust --prefix=${name ?? 'NAME'} KEYFILE, or pass --insecure-options=image`);
  }
  const [fpr, { key, scopes }] = [...candidates.entries()][0]!;
  const problem = await signingProblem(key, keyID, created, now);
  if (problem) throw refuse(what, `key ${fpr}: ${problem}`, 'ask the publisher to sign it with a valid key, then trust that key');
  const verdict = { signer: fingerprintOf(key), scopes, policy: keystoreDigest(files) };
  if (name !== undefined) authorizeName(verdict, name, what);
  return { what, signature, key, verdict };
}

/** Hashes the ACI's bytes as they stream and resolves with the verdict, or throws ESIGNATURE. */
export async function verifyAciStream(p: PreparedVerify, bytes: ReadableStream<Uint8Array>): Promise<Verdict> {
  const openpgp = await pgp();
  const config = await policyConfig();
  const message = await openpgp.createMessage({ binary: bytes });
  const result = await openpgp.verify({ message, signature: p.signature, verificationKeys: [p.key], format: 'binary', config, expectSigned: true }).catch((e: Error) => {
    throw refuse(p.what, `key ${p.verdict.signer}: ${e.message}`, 'fetch it again from a trusted source');
  });
  // The data must be read through for the digest to be computed (getReader: see REFERENCE §1).
  const reader = (result.data as ReadableStream<Uint8Array>).getReader();
  try {
    for (;;) if ((await reader.read()).done) break;
    const v = result.signatures[0];
    if (!v) throw new Error('no signature');
    await v.verified;
  } catch (e) {
    if (e instanceof WardError) throw e;
    const msg = (e as Error).message;
    const why = /digest did not match|signature did not match|invalid signature|verification failed/i.test(msg) ? 'the signature does not match its content (the image was changed after signing, or the signature is for another image)' : msg;
    throw refuse(p.what, `key ${p.verdict.signer}: ${why}`, 'fetch the image and its signature again from a trusted source');
  }
  return p.verdict;
}

/** Refuses an image whose name the signer is not trusted for (prefixes match whole segments). */
export function authorizeName(v: Verdict, name: string, what: string): void {
  if (v.scopes.some((s) => covers(s, name))) return;
  throw refuse(what, `it is named ${name} but signed by key ${v.signer}, which is trusted only for ${v.scopes.join(', ')}`, `trust the key for ${name} (ward trust --prefix=${name}) if its publisher owns that name`);
}

/** Checks a stored ACI again against today's keystore (ward image verify). */
export async function verifyAciFile(dirs: ConfigDirs, file: string, sigBytes: Buffer, what: string, name: string): Promise<Verdict> {
  const fs = await import('node:fs');
  const { Readable } = await import('node:stream');
  const prepared = await prepareAciVerify(dirs, sigBytes, what, name);
  return verifyAciStream(prepared, Readable.toWeb(fs.createReadStream(file, { highWaterMark: 1 << 20 })) as ReadableStream<Uint8Array>);
}
