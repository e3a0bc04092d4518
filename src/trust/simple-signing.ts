// signedBy: GPG "simple signing" as `skopeo copy --sign-by` writes it. Each signature is an
// OpenPGP Signed Message (not cleartext, not detached) whose literal data is the JSON payload.
// Order matters: the message must carry exactly one signature, made by one of the policy's keys
// (SHA-1 and MD5 hashes, RSA under 2048 bits refused; the key valid both when it signed and now), over
// the literal data; only then is the payload parsed, and its manifest digest and identity
// compared with the image's.
import fs from 'node:fs';
import type * as OpenPGP from 'openpgp';
import { WardError } from '../schema/errors';
import type { SignedByRequirement } from '../schema/signature-policy';
import { identityMismatch } from './identity';
import { parsePayload } from './payload';
import type { DockerName } from './scopes';

export interface SignedImage {
  /** As the user named it, for messages. */
  image: string;
  name: DockerName;
  /** The digest of the manifest (or index) the reference resolves to. */
  manifestDigest: string;
}

export type Outcome = { ok: true; signer: string } | { ok: false; reason: string };

let pgp: typeof OpenPGP | null = null;
async function openpgp(): Promise<typeof OpenPGP> {
  pgp ??= await import('openpgp');
  return pgp;
}

async function pgpConfig(): Promise<Partial<OpenPGP.Config>> {
  const { enums } = await openpgp();
  const weak = new Set([enums.hash.md5, enums.hash.ripemd, enums.hash.sha1]);
  return { minRSABits: 2048, rejectHashAlgorithms: weak, rejectMessageHashAlgorithms: weak };
}

/** The keyring(s) a requirement names: binary (gpg --export) or ASCII-armored. */
export async function loadGpgKeys(req: SignedByRequirement): Promise<OpenPGP.PublicKey[]> {
  const { readKeys } = await openpgp();
  const sources: { what: string; bytes: Buffer }[] = [];
  for (const p of req.keyPaths ?? (req.keyPath ? [req.keyPath] : [])) {
    try {
      sources.push({ what: p, bytes: fs.readFileSync(p) });
    } catch (e) {
      throw new WardError('ESIGNATURE', `cannot read the GPG keyring ${p} named by the signature policy (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); fix keyPath in policy.json`);
    }
  }
  if (req.keyData) sources.push({ what: 'keyData', bytes: Buffer.from(req.keyData, 'base64') });
  const keys: OpenPGP.PublicKey[] = [];
  for (const s of sources) {
    try {
      const text = s.bytes.subarray(0, 64).toString('latin1');
      const read = text.includes('-----BEGIN PGP') ? await readKeys({ armoredKeys: s.bytes.toString('utf8') }) : await readKeys({ binaryKeys: s.bytes });
      keys.push(...read.map((k) => k.toPublic()));
    } catch (e) {
      throw new WardError('ESIGNATURE', `the GPG keyring ${s.what} named by the signature policy is not readable (${(e as Error).message.split('\n')[0]}); export it again with gpg --export`);
    }
  }
  return keys;
}

function fingerprintOf(keys: OpenPGP.PublicKey[], keyID: OpenPGP.KeyID): string | null {
  for (const k of keys) if (k.getKeys(keyID).length > 0) return k.getFingerprint().toUpperCase();
  return null;
}

/** Checks one signature blob against the keys; the signer's primary fingerprint, or why not. */
async function verifyOne(sig: Buffer, keys: OpenPGP.PublicKey[], img: SignedImage, req: SignedByRequirement): Promise<Outcome> {
  const lib = await openpgp();
  const config = await pgpConfig();
  let message: OpenPGP.Message<Uint8Array>;
  try {
    const head = sig.subarray(0, 64).toString('latin1');
    message = head.includes('-----BEGIN PGP') ? ((await lib.readMessage({ armoredMessage: sig.toString('utf8'), config })) as unknown as OpenPGP.Message<Uint8Array>) : await lib.readMessage({ binaryMessage: sig, config });
  } catch (e) {
    return { ok: false, reason: `the signature is not an OpenPGP message (${(e as Error).message.split('\n')[0]!.slice(0, 160)})` };
  }
  const signingIds = message.getSigningKeyIDs();
  if (signingIds.length !== 1) return { ok: false, reason: `the message carries ${signingIds.length} signatures, not one` };
  const keyHex = signingIds[0]!.toHex().toUpperCase();
  const fpr = fingerprintOf(keys, signingIds[0]!);
  if (!fpr) return { ok: false, reason: `signed by key ${keyHex}, which is not among the policy's keys` };
  let data: Uint8Array;
  try {
    // openpgp.js judges the key as of the signature's creation; a key that has since expired or
    // been revoked is refused too (as containers does).
    const key = keys.find((k) => k.getKeys(signingIds[0]!).length > 0)!;
    await key.getSigningKey(signingIds[0]!, new Date(), undefined, { ...lib.config, ...config });
    const r = await lib.verify({ message, verificationKeys: keys, expectSigned: true, format: 'binary', config });
    await r.signatures[0]!.verified;
    data = r.data as Uint8Array;
  } catch (e) {
    return { ok: false, reason: `key ${fpr}: the signature does not verify (${(e as Error).message.replace(/^Error verifying signed message: /, '').split('\n')[0]!.slice(0, 160)})` };
  }
  const claim = parsePayload('simple', data);
  if (typeof claim === 'string') return { ok: false, reason: `key ${fpr}: ${claim}` };
  if (claim.manifestDigest !== img.manifestDigest) return { ok: false, reason: `key ${fpr}: the signature is for ${claim.manifestDigest}, not this image's manifest ${img.manifestDigest}` };
  const mismatch = identityMismatch(req.signedIdentity, img.name, claim.dockerReference);
  if (mismatch) return { ok: false, reason: `key ${fpr}: ${mismatch}` };
  return { ok: true, signer: fpr };
}

/** signedBy: accepted when at least one signature passes every check. */
export async function checkSignedBy(req: SignedByRequirement, img: SignedImage, signatures: Buffer[]): Promise<Outcome> {
  if (signatures.length === 0) return { ok: false, reason: 'no simple signature found (none in the lookaside registries.d names for it)' };
  const keys = await loadGpgKeys(req);
  if (keys.length === 0) return { ok: false, reason: 'the policy names no GPG key' };
  const reasons: string[] = [];
  for (const s of signatures) {
    const o = await verifyOne(s, keys, img, req);
    if (o.ok) return o;
    reasons.push(o.reason);
  }
  return { ok: false, reason: reasons.length === 1 ? reasons[0]! : `none of ${reasons.length} signatures is accepted: ${reasons.map((r, i) => `${i + 1}: ${r}`).join('; ')}` };
}
