// From the document a reference names to the image manifest for our platform: through at most
// maxIndexDepth indexes (an index of indexes is 2), choosing the platform's entry in each, every
// document fetched by the digest its parent gives and checked against it.
import type { Manifest } from '../../schema/oci';
import type { RegistryClient } from './client';
import { fail, REMEDY } from './errors';
import { fetchManifest, type Fetched } from './manifest';
import type { Platform, RegistryLimits } from './options';
import { offered, platformText, selectPlatform } from './platform';

export interface Walked {
  manifest: Manifest;
  bytes: Buffer;
  digest: string;
  url: URL;
  /** The first index on the way, when the reference named one. */
  index?: { digest: string; bytes: Buffer };
}

export async function walkToManifest(client: RegistryClient, repo: string, reference: { tag: string | null; digest: string | null }, want: Platform, limits: RegistryLimits): Promise<Walked> {
  let doc: Fetched = await fetchManifest(client, repo, reference.digest ?? reference.tag!, reference.digest ? { digest: reference.digest } : {}, limits);
  let index: Walked['index'];
  for (let depth = 0; doc.kind === 'index'; depth++) {
    const site = client.site(doc.url);
    if (depth >= limits.maxIndexDepth) throw fail(site, 'ELIMIT', `indexes nest more than ${limits.maxIndexDepth} deep`, REMEDY.hostile);
    index ??= { digest: doc.digest, bytes: doc.bytes };
    const chosen = selectPlatform(doc.doc, want);
    if (!chosen) throw fail(site, 'EPLATFORM', `no image for ${platformText(want)}; the index offers ${offered(doc.doc)}`, `pick an image built for ${platformText(want)}`);
    // A document cannot contain its own digest, so this only says plainly what the digest check would.
    if (chosen.digest === doc.digest) throw fail(site, 'EIMAGE', 'the index points at itself', REMEDY.hostile);
    doc = await fetchManifest(client, repo, chosen.digest, { digest: chosen.digest, size: chosen.size, mediaType: chosen.mediaType }, limits);
  }
  return { manifest: doc.doc, bytes: doc.bytes, digest: doc.digest, url: doc.url, ...(index ? { index } : {}) };
}
