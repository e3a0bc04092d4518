// cosign signatures stored beside an image: the manifest at tag sha256-<hex>.sig in the same
// repository, and for each of its layers of the simple-signing media type, the payload blob
// (digest- and size-checked, small) and the signature annotation. Nothing here is trusted: the
// caller checks each signature before it reads a payload.
import type { Manifest } from '../../schema/oci';
import { readBlob } from './blob';
import type { RegistryClient } from './client';
import { fail, REMEDY } from './errors';
import { fetchManifest } from './manifest';
import type { RegistryLimits } from './options';
import { ImageSourceError } from '../source';

export const COSIGN_PAYLOAD_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
const MAX_PAYLOAD_BYTES = 64 * 1024;
const MAX_SIGNATURES = 64;

export interface CosignSignature {
  payload: Buffer;
  signature: string;
}

export function cosignTag(manifestDigest: string): string {
  return `${manifestDigest.replace(':', '-')}.sig`;
}

/** The cosign signatures of `manifestDigest`; [] when the repository has no such tag. */
export async function fetchCosignSignatures(client: RegistryClient, repo: string, manifestDigest: string, limits: RegistryLimits): Promise<CosignSignature[]> {
  let manifest: Manifest;
  try {
    const doc = await fetchManifest(client, repo, cosignTag(manifestDigest), {}, limits);
    if (doc.kind !== 'manifest') throw fail(client.site(doc.url), 'EIMAGE', `the tag ${cosignTag(manifestDigest)} is an index, not a cosign signature manifest`, REMEDY.hostile);
    manifest = doc.doc;
  } catch (e) {
    if (e instanceof ImageSourceError && e.code === 'ENOTFOUND') return [];
    throw e;
  }
  const layers = manifest.layers.filter((l) => l.mediaType === COSIGN_PAYLOAD_TYPE);
  const site = client.site(client.url(`/v2/${repo}/manifests/${cosignTag(manifestDigest)}`));
  if (layers.length > MAX_SIGNATURES) throw fail(site, 'ELIMIT', `${layers.length} cosign signatures, more than the ${MAX_SIGNATURES} ward reads`, REMEDY.hostile);
  const out: CosignSignature[] = [];
  for (const l of layers) {
    const signature = l.annotations?.[COSIGN_SIGNATURE_ANNOTATION];
    if (signature === undefined) continue;
    const payload = await readBlob(client, repo, l, MAX_PAYLOAD_BYTES, 'cosign signature payload');
    out.push({ payload, signature });
  }
  return out;
}
