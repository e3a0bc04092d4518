// From a descriptor to one image manifest for the wanted platform, shared by every OCI source.
// Each document is judged by its content as well as by the media types around it (REFERENCE §10:
// media type lying about content, manifest vs index ambiguity); nested indexes are followed to a
// bounded depth; and the platform an index claims is checked against the config it leads to, so
// an index cannot substitute another platform's image under linux/amd64.
import { classifyManifest, Index, Manifest, MEDIA, type Descriptor, type ImageConfig, type Platform } from '../../schema/oci';
import { CONFIG_MEDIA_TYPES, LAYER_MEDIA_TYPES } from '../../schema/oci-local';
import { ImageSourceError } from '../source';
import { checkDoc, readJson } from './verify';

export interface WantedPlatform {
  os: string;
  architecture: string;
  variant?: string;
}

/** Indexes nest (a layout's index.json → a multi-arch index → a manifest); deeper is hostile. */
export const MAX_INDEX_DEPTH = 4;

const INDEX_TYPES: readonly string[] = [MEDIA.ociIndex, MEDIA.dockerList];
const MANIFEST_TYPES: readonly string[] = [MEDIA.ociManifest, MEDIA.dockerManifest];

/** The platform this host runs, in OCI/Go terms. */
export function hostPlatform(): WantedPlatform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: '386', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return { os: 'linux', architecture: arch[process.arch] ?? process.arch };
}

export const platformString = (p: { os?: string; architecture?: string; variant?: string }): string =>
  `${p.os ?? '?'}/${p.architecture ?? '?'}${p.variant ? `/${p.variant}` : ''}`;

export type ManifestDoc = { kind: 'index'; index: Index } | { kind: 'manifest'; manifest: Manifest };

/**
 * Parses a manifest or an index. The kind comes from the content; the document's own mediaType
 * and the one its descriptor claimed (if any) must both agree with it and with each other.
 */
export function parseManifestDoc(bytes: Buffer, claimed: string | undefined, what: string): ManifestDoc {
  const doc = readJson(bytes, what);
  const kind = classifyManifest(doc);
  if (kind === 'unknown') throw new ImageSourceError('EIMAGE', `${what} is neither an image manifest nor an index`);
  const own = (doc as { mediaType?: unknown }).mediaType;
  const allowed = kind === 'index' ? INDEX_TYPES : MANIFEST_TYPES;
  for (const [who, type] of [['its descriptor', claimed], ['the document', own]] as const) {
    if (type !== undefined && (typeof type !== 'string' || !allowed.includes(type))) {
      throw new ImageSourceError('EIMAGE', `${what}: ${who} says media type ${JSON.stringify(type)} but the content is ${kind === 'index' ? 'an index' : 'a manifest'}; the image is corrupt or hostile`);
    }
  }
  if (claimed !== undefined && own !== undefined && claimed !== own) {
    throw new ImageSourceError('EIMAGE', `${what}: its descriptor says ${claimed} but the document says ${String(own)}; the image is corrupt or hostile`);
  }
  return kind === 'index' ? { kind, index: checkDoc(Index, doc, what) } : { kind, manifest: checkDoc(Manifest, doc, what) };
}

const isImageEntry = (d: Descriptor) => INDEX_TYPES.includes(d.mediaType) || MANIFEST_TYPES.includes(d.mediaType);

/** The index entry for the wanted platform: the first exact match, else a lone entry without a platform. */
export function pickPlatform(entries: readonly Descriptor[], want: WantedPlatform, what: string): Descriptor {
  const images = entries.filter(isImageEntry);
  const match = images.find((d) => d.platform && d.platform.os === want.os && d.platform.architecture === want.architecture && (!want.variant || d.platform.variant === want.variant));
  if (match) return match;
  const untagged = images.filter((d) => !d.platform);
  if (untagged.length === 1 && images.length === 1) return untagged[0]!;
  const have = images.map((d) => (d.platform ? platformString(d.platform) : 'unspecified')).join(', ') || 'none';
  throw new ImageSourceError('EPLATFORM', `${what} has no image for ${platformString(want)} (it has: ${have})`);
}

export interface SelectedManifest {
  descriptor: Descriptor;
  bytes: Buffer;
  manifest: Manifest;
  /** The platform an index (or the top descriptor) claimed for this manifest, if any. */
  claimed?: Platform;
}

/**
 * Follows `start` through indexes to a manifest. `fetch` returns a blob's bytes already checked
 * against the descriptor's size and digest (so a document can never lead back to itself: its
 * digest would have to be inside it).
 */
export async function resolveToManifest(
  start: Descriptor,
  fetch: (d: Descriptor) => Promise<Buffer>,
  o: { what: string; platform: WantedPlatform; maxDepth?: number },
): Promise<SelectedManifest> {
  const maxDepth = o.maxDepth ?? MAX_INDEX_DEPTH;
  let desc = start;
  let claimed = start.platform;
  for (let depth = 0; depth <= maxDepth; depth++) {
    const what = `${o.what}: ${depth === 0 ? '' : 'nested '}${desc.digest}`;
    const bytes = await fetch(desc);
    const doc = parseManifestDoc(bytes, desc.mediaType, what);
    if (doc.kind === 'manifest') return { descriptor: desc, bytes, manifest: doc.manifest, ...(claimed ? { claimed } : {}) };
    desc = pickPlatform(doc.index.manifests, o.platform, what);
    claimed = desc.platform ?? claimed;
  }
  throw new ImageSourceError('ELIMIT', `${o.what}: indexes nest deeper than ${maxDepth}; the image is hostile`);
}

/** Media types and the layer count of a manifest, checked once its config is known. */
export function checkManifestShape(manifest: Manifest, config: ImageConfig, what: string): void {
  if (!CONFIG_MEDIA_TYPES.includes(manifest.config.mediaType)) {
    throw new ImageSourceError('EIMAGE', `${what}: config media type ${manifest.config.mediaType} is not a container image config (this is not a container image)`);
  }
  for (const l of manifest.layers) {
    if (!LAYER_MEDIA_TYPES.includes(l.mediaType)) {
      throw new ImageSourceError('EIMAGE', `${what}: layer ${l.digest} has media type ${l.mediaType}, which ward cannot apply`);
    }
  }
  if (manifest.layers.length !== config.rootfs.diff_ids.length) {
    throw new ImageSourceError('EIMAGE', `${what}: the manifest lists ${manifest.layers.length} layers but the config's rootfs has ${config.rootfs.diff_ids.length}; the image is corrupt or hostile`);
  }
}

/**
 * The platform-substitution check: the config says what the image really is; it must be what
 * this host runs and what the index claimed.
 */
export function checkConfigPlatform(config: ImageConfig, claimed: Platform | undefined, want: WantedPlatform, what: string): void {
  if (!config.os || !config.architecture) {
    throw new ImageSourceError('EPLATFORM', `${what}: the config names no os/architecture (both are required by the OCI image spec)`);
  }
  const actual = { os: config.os, architecture: config.architecture };
  if (claimed && (claimed.os !== actual.os || claimed.architecture !== actual.architecture)) {
    throw new ImageSourceError('EPLATFORM', `${what}: the index says ${platformString(claimed)} but the config says ${platformString(actual)} (platform substitution); the image is hostile`);
  }
  if (actual.os !== want.os || actual.architecture !== want.architecture) {
    throw new ImageSourceError('EPLATFORM', `${what} is for ${platformString(actual)}; this host runs ${platformString(want)}`);
  }
}
