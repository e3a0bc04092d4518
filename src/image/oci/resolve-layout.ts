// An OCI image layout read through a LayoutReader (a directory or an oci-archive), resolved to
// the ResolvedImage of one image: oci-layout and index.json checked, the image picked by its
// org.opencontainers.image.ref.name, indexes followed to this host's platform, manifest and config
// digest-checked here, every layer's blob checked to exist with the size its descriptor says.
import type { Readable } from 'node:stream';
import { Index, ImageConfig, MAX_MANIFEST_BYTES, OciLayoutFile, type Descriptor } from '../../schema/oci';
import { MAX_OCI_LAYOUT_BYTES, REF_NAME_ANNOTATION } from '../../schema/oci-local';
import { ImageSourceError, type LayerRef, type ResolvedImage } from '../source';
import { checkConfigPlatform, checkManifestShape, hostPlatform, pickPlatform, resolveToManifest, type WantedPlatform } from './select';
import { checkBlob, exactly, parseDoc } from './verify';

export interface LayoutReader {
  /** How messages name the layout: oci:/dir or oci-archive:/file. */
  readonly what: string;
  /** A file at the layout's top (oci-layout, index.json), refused if larger than max. */
  readFile(name: 'oci-layout' | 'index.json', max: number): Buffer;
  /** The size of a blob's file, checking that it is a regular file inside the layout. */
  blobSize(digest: string): number;
  /** Up to max bytes of a blob (the caller checks size and digest). */
  readBlob(digest: string, max: number): Buffer;
  /** Bytes [start, end) of a blob. */
  openBlob(digest: string, start: number, end: number): Readable;
  close(): Promise<void>;
}

export interface LayoutResolveOptions {
  transport: 'oci' | 'oci-archive';
  /** The layout's location as the user should see it (an absolute path). */
  location: string;
  platform?: WantedPlatform;
}

/** The index.json entries a reference names: by ref.name, else "latest", else the only one. */
export function entriesForRef(index: Index, ref: string | undefined, what: string): { entries: Descriptor[]; ref: string | undefined } {
  const named = (r: string) => index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === r);
  const names = [...new Set(index.manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION]).filter((n): n is string => !!n))];
  if (ref !== undefined) {
    const entries = named(ref);
    if (entries.length === 0) throw new ImageSourceError('ENOTFOUND', `${what} has no image named '${ref}' (it has: ${names.join(', ') || 'no named images'})`);
    return { entries, ref };
  }
  if (index.manifests.length === 1) return { entries: index.manifests, ref: names[0] };
  const latest = named('latest');
  if (latest.length > 0) return { entries: latest, ref: 'latest' };
  throw new ImageSourceError('ENOTFOUND', `${what} holds ${index.manifests.length} images and none is named 'latest'; name one as ${what}:REF (it has: ${names.join(', ') || 'no named images'})`);
}

export async function resolveLayout(reader: LayoutReader, ref: string | undefined, o: LayoutResolveOptions): Promise<ResolvedImage> {
  const what = reader.what;
  const want = o.platform ?? hostPlatform();
  parseDoc(OciLayoutFile, reader.readFile('oci-layout', MAX_OCI_LAYOUT_BYTES), `${what}: oci-layout`);
  const index = parseDoc(Index, reader.readFile('index.json', MAX_MANIFEST_BYTES), `${what}: index.json`);
  const picked = entriesForRef(index, ref, what);
  // Several entries under one name are a multi-platform set (allowed by the layout spec).
  const top = picked.entries.length === 1 ? picked.entries[0]! : pickPlatform(picked.entries, want, `${what}: index.json`);

  const fetchSmall = async (d: Descriptor): Promise<Buffer> => {
    if (d.size > MAX_MANIFEST_BYTES) {
      throw new ImageSourceError('ELIMIT', `${what}: blob ${d.digest} is ${d.size} bytes, more than the ${MAX_MANIFEST_BYTES} ward reads for a manifest or config; the image is hostile`);
    }
    const actual = reader.blobSize(d.digest);
    if (actual !== d.size) throw new ImageSourceError('EIMAGE', `${what}: blob ${d.digest} has ${actual} bytes, its descriptor says ${d.size}; the image is corrupt or hostile`);
    const bytes = reader.readBlob(d.digest, MAX_MANIFEST_BYTES);
    checkBlob(bytes, d, what);
    return bytes;
  };

  const sel = await resolveToManifest(top, fetchSmall, { what, platform: want });
  const configBytes = await fetchSmall(sel.manifest.config);
  const config = parseDoc(ImageConfig, configBytes, `${what}: config ${sel.manifest.config.digest}`);
  checkManifestShape(sel.manifest, config, what);
  checkConfigPlatform(config, sel.claimed, want, what);

  const layers: LayerRef[] = sel.manifest.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType }));
  for (const l of layers) {
    const actual = reader.blobSize(l.digest);
    if (actual !== l.size) throw new ImageSourceError('EIMAGE', `${what}: layer ${l.digest} has ${actual} bytes, its descriptor says ${l.size}; the image is corrupt or hostile`);
  }
  return {
    transport: o.transport,
    name: `${o.transport}:${o.location}${picked.ref !== undefined ? `:${picked.ref}` : ''}`,
    manifestDigest: sel.descriptor.digest,
    manifest: sel.bytes,
    configDigest: sel.manifest.config.digest,
    config,
    configBytes,
    layers,
    openLayer: async (layer, offset = 0) => {
      const known = layers.find((l) => l.digest === layer.digest && l.size === layer.size);
      if (!known) throw new ImageSourceError('EIMAGE', `${what}: ${layer.digest} is not a layer of this image`);
      if (!Number.isSafeInteger(offset) || offset < 0 || offset > known.size) throw new ImageSourceError('EIMAGE', `${what}: offset ${offset} is outside layer ${known.digest}`);
      const actual = reader.blobSize(known.digest);
      if (actual !== known.size) throw new ImageSourceError('EIMAGE', `${what}: layer ${known.digest} now has ${actual} bytes, its descriptor says ${known.size}; the layout changed or is hostile`);
      return exactly(reader.openBlob(known.digest, offset, known.size), known.size - offset, `${what}: layer ${known.digest}`);
    },
    close: () => reader.close(),
  };
}
