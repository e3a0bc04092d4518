// The verdict on one OCI/Docker image under the signature policy: every requirement of the scope
// that names it must pass. The result is the signer recorded with the image: the GPG primary key
// fingerprint (signedBy) or the SHA-256 of the cosign public key (sigstoreSigned); "unverified"
// when only insecureAcceptAnything applies. A refusal is one line: the image, the policy file,
// the scope and requirement, the key, the reason.
import fs from 'node:fs';
import path from 'node:path';
import { WardError } from '../schema/errors';
import type { PolicyTransport, Requirement } from '../schema/signature-policy';
import { checkSigstoreSigned, type CosignSignature } from './cosign';
import type { ConfigDirs } from './dirs';
import { readLookaside } from './lookaside';
import { selectScope, type LoadedPolicy } from './policy';
import { loadRegistriesD, lookasideFor, useSigstoreAttachments } from './registries-d';
import { dockerScopes, pathScopes, type DockerName } from './scopes';
import { checkSignedBy, type Outcome } from './simple-signing';

export const UNVERIFIED = 'unverified';

function refuse(image: string, loaded: LoadedPolicy, scope: string, i: number, req: Requirement, reason: string): WardError {
  const remedy = req.type === 'reject' ? 'the policy forbids this image' : 'fetch an image signed as the policy requires, or pass --insecure-options=image to fetch it unverified';
  return new WardError('ESIGNATURE', `${image}: refused by the signature policy ${loaded.file}, ${scope} requirement ${i + 1} (${req.type}): ${reason}; ${remedy}`);
}

/** docker://: after the top-level manifest digest is known, before the config or a layer is read. */
export async function verifyDockerImage(
  loaded: LoadedPolicy,
  dirs: ConfigDirs,
  image: string,
  name: DockerName,
  top: { digest: string; cosignSignatures(): Promise<CosignSignature[]> },
): Promise<string> {
  const scopes = dockerScopes(name);
  const sel = selectScope(loaded.policy, 'docker', scopes);
  const needsConfig = sel.requirements.some((r) => r.type === 'signedBy' || r.type === 'sigstoreSigned');
  const regd = needsConfig ? loadRegistriesD(dirs) : null;
  const img = { image, name, manifestDigest: top.digest };
  let simple: Buffer[] | null = null;
  let cosign: CosignSignature[] | null | undefined;
  let signer = UNVERIFIED;
  for (const [i, req] of sel.requirements.entries()) {
    let o: Outcome;
    switch (req.type) {
      case 'insecureAcceptAnything':
        continue;
      case 'reject':
        throw refuse(image, loaded, sel.scope, i, req, 'this scope rejects every image');
      case 'signedBy': {
        if (simple === null) {
          const base = lookasideFor(regd!, scopes);
          simple = base ? await readLookaside(image, base, name.repository, top.digest) : [];
          if (!base) {
            o = { ok: false, reason: `no simple signature: registries.d gives no lookaside for ${scopes[0]}` };
            break;
          }
        }
        o = await checkSignedBy(req, img, simple);
        break;
      }
      case 'sigstoreSigned': {
        if (cosign === undefined) cosign = useSigstoreAttachments(regd!, scopes) ? await top.cosignSignatures() : null;
        o = checkSigstoreSigned(req, img, cosign);
        break;
      }
    }
    if (!o.ok) throw refuse(image, loaded, sel.scope, i, req, o.reason);
    if (signer === UNVERIFIED) signer = o.signer;
  }
  return signer;
}

/**
 * oci:, oci-archive:, docker-archive: carry no signatures ward reads, so only
 * insecureAcceptAnything (or reject) can decide; decided before the image is opened.
 */
export function verifyLocalImage(loaded: LoadedPolicy, transport: Exclude<PolicyTransport, 'docker'>, image: string, file: string, ref?: string): string {
  let candidates: string[] = [];
  if (transport !== 'docker-archive') {
    let abs = path.resolve(file);
    try {
      abs = fs.realpathSync(abs);
    } catch {
      // The source reports a missing path itself.
    }
    candidates = pathScopes(abs, ref);
  }
  const sel = selectScope(loaded.policy, transport, candidates);
  for (const [i, req] of sel.requirements.entries()) {
    if (req.type === 'insecureAcceptAnything') continue;
    if (req.type === 'reject') throw refuse(image, loaded, sel.scope, i, req, 'this scope rejects every image');
    throw refuse(image, loaded, sel.scope, i, req, `the ${transport} transport carries no signatures ward can check`);
  }
  return UNVERIFIED;
}
