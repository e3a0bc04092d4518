// Fetching one manifest or index and deciding what it is. Its bytes are hashed and the hash is
// what we trust: it must equal the digest we asked for (by digest, or from a parent index), and
// a Docker-Content-Digest header that disagrees with it is a lie we refuse. What the document is
// (index or manifest) is judged by its content; a Content-Type, mediaType field or parent
// descriptor that says otherwise is refused (REFERENCE §10: media type lying about content).
import crypto from 'node:crypto';
import { classifyManifest, Index, Manifest, MANIFEST_MEDIA_TYPES, MEDIA } from '../../schema/oci';
import { parseStrictJson } from '../../schema/strict-json';
import { contentLength, readLimited } from './body';
import type { RegistryClient } from './client';
import { clean, fail, REMEDY, type Site } from './errors';
import type { RegistryLimits } from './options';

export type Fetched =
  | { kind: 'index'; doc: Index; bytes: Buffer; digest: string; url: URL }
  | { kind: 'manifest'; doc: Manifest; bytes: Buffer; digest: string; url: URL };

export interface Expect {
  /** The digest asked for: the reference's, or a parent index's descriptor's. */
  digest?: string;
  size?: number;
  /** The media type a parent index's descriptor claims. */
  mediaType?: string;
}

const INDEX_TYPES: readonly string[] = [MEDIA.ociIndex, MEDIA.dockerList];
const MANIFEST_TYPES: readonly string[] = [MEDIA.ociManifest, MEDIA.dockerManifest];
const ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');
/** Content types that say nothing either way (some registries and static servers use them). */
const NEUTRAL = new Set(['', 'application/json', 'application/octet-stream', 'text/plain']);

export function digestOf(bytes: Buffer, alg: 'sha256' | 'sha512' = 'sha256'): string {
  return `${alg}:${crypto.createHash(alg).update(bytes).digest('hex')}`;
}

function algOf(digest: string): 'sha256' | 'sha512' {
  return digest.startsWith('sha512:') ? 'sha512' : 'sha256';
}

function issueText(e: unknown): string {
  const issue = (e as { issues?: { path: PropertyKey[]; message: string }[] }).issues?.[0];
  return issue ? `${issue.path.map(String).join('.') || 'document'}: ${issue.message}` : clean((e as Error).message.replace(/^frame /, ''), 120);
}

/** GET /v2/NAME/manifests/REFERENCE, checked as the header comment says. */
export async function fetchManifest(client: RegistryClient, repository: string, reference: string, expect: Expect, limits: RegistryLimits): Promise<Fetched> {
  const url = client.url(`/v2/${repository}/manifests/${reference}`);
  if (expect.size !== undefined && expect.size > limits.maxManifestBytes) {
    throw fail(client.site(url), 'ELIMIT', `the manifest ${expect.digest} is ${expect.size} bytes by its descriptor, more than the ${limits.maxManifestBytes} allowed`, REMEDY.hostile);
  }
  const { res, url: at } = await client.get(url, { Accept: ACCEPT });
  const site: Site = client.site(at);
  if (res.statusCode !== 200) return client.statusError(res, at, 'manifest');
  const declared = contentLength(res, site);
  if (expect.size !== undefined && declared !== null && declared !== expect.size) {
    res.destroy();
    throw fail(site, 'EIMAGE', `the registry sends ${declared} bytes for a manifest its index says is ${expect.size}`, REMEDY.hostile);
  }
  const bytes = await readLimited(res, limits.maxManifestBytes, site, 'manifest');
  if (expect.size !== undefined && bytes.length !== expect.size) {
    throw fail(site, 'EIMAGE', `the manifest is ${bytes.length} bytes, its index says ${expect.size}`, REMEDY.hostile);
  }

  const digest = digestOf(bytes, expect.digest ? algOf(expect.digest) : 'sha256');
  if (expect.digest && digest !== expect.digest) throw fail(site, 'EIMAGE', `the manifest has digest ${digest}, not the ${expect.digest} asked for`, REMEDY.hostile);
  const raw = res.headers['docker-content-digest'];
  const header = Array.isArray(raw) ? raw.join(', ') : raw;
  if (header !== undefined) {
    if (!/^sha256:[0-9a-f]{64}$|^sha512:[0-9a-f]{128}$/.test(header)) throw fail(site, 'EIMAGE', `malformed Docker-Content-Digest '${clean(header, 80)}'`, REMEDY.hostile);
    const mine = algOf(header) === algOf(digest) ? digest : digestOf(bytes, algOf(header));
    if (mine !== header) throw fail(site, 'EIMAGE', `Docker-Content-Digest says ${header} but the manifest's bytes hash to ${mine}`, REMEDY.hostile);
  }

  let doc: unknown;
  try {
    doc = parseStrictJson(bytes);
  } catch (e) {
    throw fail(site, 'EIMAGE', `the manifest is not valid JSON (${issueText(e)})`, REMEDY.hostile);
  }
  if (typeof doc === 'object' && doc !== null && (doc as { schemaVersion?: unknown }).schemaVersion === 1) {
    throw fail(site, 'EIMAGE', 'a Docker schema 1 manifest, which ward does not read (it has no content digests)', 'push the image again with a current docker, podman or skopeo');
  }
  const kind = classifyManifest(doc);
  if (kind === 'unknown') throw fail(site, 'EIMAGE', 'the document is neither an image manifest nor an index (it has both or neither of "manifests" and "layers"/"config")', REMEDY.hostile);

  // Every claim about the type must agree with the content.
  const contentType = (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const field = (doc as { mediaType?: unknown }).mediaType;
  const claims: [string, unknown][] = [
    ['Content-Type', NEUTRAL.has(contentType) ? undefined : contentType],
    ['mediaType field', field],
    ["parent index's descriptor", expect.mediaType],
  ];
  const fits = kind === 'index' ? INDEX_TYPES : MANIFEST_TYPES;
  for (const [who, claim] of claims) {
    if (claim === undefined) continue;
    if (typeof claim !== 'string' || !fits.includes(claim)) {
      throw fail(site, 'EIMAGE', `the ${who} says ${clean(String(claim), 100)} but the content is an ${kind === 'index' ? 'index' : 'image manifest'}`, REMEDY.hostile);
    }
  }

  const list = kind === 'index' ? (doc as { manifests?: unknown }).manifests : (doc as { layers?: unknown }).layers;
  if (kind === 'manifest' && Array.isArray(list) && list.length > limits.maxLayers) {
    throw fail(site, 'ELIMIT', `the image has ${list.length} layers, more than the ${limits.maxLayers} allowed`, REMEDY.hostile);
  }
  try {
    if (kind === 'index') return { kind, doc: Index.parse(doc), bytes, digest, url: at };
    return { kind, doc: Manifest.parse(doc), bytes, digest, url: at };
  } catch (e) {
    throw fail(site, 'EIMAGE', `the ${kind === 'index' ? 'index' : 'manifest'} is malformed (${issueText(e)})`, REMEDY.hostile);
  }
}
