// The digest of the trust configuration a verdict was reached under, recorded with the image and
// measured with every pod that runs it, so an attestation says not only who signed but under
// which rules: for OCI images the policy.json bytes, for ACIs the effective keystore (every
// trusted key's scope and fingerprint after overlay and masking; a fingerprint names the key).
import crypto from 'node:crypto';
import type { KeyFile } from './keystore';

export function fileDigest(bytes: Buffer): string {
  return `sha256:${crypto.createHash('sha256').update(bytes).digest('hex')}`;
}

export function keystoreDigest(keys: readonly KeyFile[]): string {
  const lines = keys.map((k) => `${k.scope}\u0000${k.fingerprint}\n`).sort();
  return fileDigest(Buffer.from(`ward-keystore-v1\n${lines.join('')}`));
}
