// sigstoreSigned with public keys: cosign signatures (cosign specs/SIGNATURE_SPEC.md). Each is a
// layer of the manifest at tag sha256-<hex>.sig, of media type
// application/vnd.dev.cosign.simplesigning.v1+json, whose blob is the payload and whose
// annotation dev.cosignproject.cosign/signature is the base64 ECDSA P-256 / SHA-256 signature
// (ASN.1 DER) over exactly those bytes. The signature is checked before the payload is parsed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { WardError } from '../schema/errors';
import type { SigstoreRequirement } from '../schema/signature-policy';
import { identityMismatch } from './identity';
import { parsePayload } from './payload';
import type { Outcome, SignedImage } from './simple-signing';

export interface CosignSignature {
  payload: Buffer;
  /** The annotation's value, base64 as cosign writes it (not yet decoded). */
  signature: string;
}

interface PublicKey {
  key: crypto.KeyObject;
  /** Uppercase hex SHA-256 of the DER SubjectPublicKeyInfo. */
  fingerprint: string;
}

function keyFrom(bytes: Buffer, what: string): PublicKey {
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey(bytes.subarray(0, 32).toString('latin1').includes('-----BEGIN') ? { key: bytes.toString('utf8'), format: 'pem' } : { key: bytes, format: 'der', type: 'spki' });
  } catch (e) {
    throw new WardError('ESIGNATURE', `the sigstore public key ${what} named by the signature policy is not a public key (${(e as Error).message.slice(0, 120)}); give a PEM "PUBLIC KEY" as cosign generate-key-pair writes it`);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new WardError('ESIGNATURE', `the sigstore public key ${what} is ${key.asymmetricKeyType}${key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ''}; ward verifies ECDSA P-256 cosign keys only`);
  }
  const der = key.export({ format: 'der', type: 'spki' });
  return { key, fingerprint: crypto.createHash('sha256').update(der).digest('hex').toUpperCase() };
}

export function loadSigstoreKeys(req: SigstoreRequirement): PublicKey[] {
  const out: PublicKey[] = [];
  for (const p of req.keyPaths ?? (req.keyPath ? [req.keyPath] : [])) {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(p);
    } catch (e) {
      throw new WardError('ESIGNATURE', `cannot read the sigstore public key ${p} named by the signature policy (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); fix keyPath in policy.json`);
    }
    out.push(keyFrom(bytes, p));
  }
  for (const [i, d] of (req.keyDatas ?? (req.keyData ? [req.keyData] : [])).entries()) out.push(keyFrom(Buffer.from(d, 'base64'), `keyData${req.keyDatas ? `[${i}]` : ''}`));
  return out;
}

function verifyOne(s: CosignSignature, keys: PublicKey[], img: SignedImage, req: SigstoreRequirement): Outcome {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s.signature) || s.signature.length > 1024) return { ok: false, reason: 'the signature annotation is not base64' };
  const sig = Buffer.from(s.signature, 'base64');
  const by = keys.find((k) => {
    try {
      return crypto.verify('sha256', s.payload, { key: k.key, dsaEncoding: 'der' }, sig);
    } catch {
      return false;
    }
  });
  if (!by) return { ok: false, reason: `the signature is not made by ${keys.length === 1 ? `the policy's key ${keys[0]!.fingerprint}` : `any of the policy's ${keys.length} keys`} over this payload` };
  const claim = parsePayload('cosign', s.payload);
  if (typeof claim === 'string') return { ok: false, reason: `key ${by.fingerprint}: ${claim}` };
  if (claim.manifestDigest !== img.manifestDigest) return { ok: false, reason: `key ${by.fingerprint}: the signature is for ${claim.manifestDigest}, not this image's manifest ${img.manifestDigest}` };
  const mismatch = identityMismatch(req.signedIdentity, img.name, claim.dockerReference);
  if (mismatch) return { ok: false, reason: `key ${by.fingerprint}: ${mismatch}` };
  return { ok: true, signer: by.fingerprint };
}

/** sigstoreSigned: accepted when at least one signature passes every check. */
export function checkSigstoreSigned(req: SigstoreRequirement, img: SignedImage, signatures: CosignSignature[] | null): Outcome {
  if (signatures === null) return { ok: false, reason: 'sigstore attachments are not read for this image; set use-sigstore-attachments: true for it in registries.d' };
  if (signatures.length === 0) return { ok: false, reason: `no cosign signature (no tag ${img.manifestDigest.replace(':', '-')}.sig in the repository)` };
  const keys = loadSigstoreKeys(req);
  const reasons = signatures.map((s) => verifyOne(s, keys, img, req));
  const ok = reasons.find((r) => r.ok);
  if (ok) return ok;
  const why = reasons.map((r) => (r as { reason: string }).reason);
  return { ok: false, reason: why.length === 1 ? why[0]! : `none of ${why.length} signatures is accepted: ${why.map((r, i) => `${i + 1}: ${r}`).join('; ')}` };
}
