// docker-archive:FILE[:REF], what `docker save` (and skopeo) write: manifest.json naming a config
// file and layer tars per image. The tar is indexed in place and members are streamed from their
// offsets. There are no descriptors, so digests are computed here from the bytes as stored: the
// config's from its file, each layer's by one hashing pass over its member; an uncompressed layer
// must then equal the config's diff_id (what docker load checks), and a file named by a digest
// must have that digest. A Docker v2 schema 2 manifest is made from these, so the store sees the
// same shape as from a registry. Paths in manifest.json are hostile: '..' or absolute is refused.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { DockerArchiveManifest, ImageConfig, MAX_MANIFEST_BYTES, MEDIA } from '../../schema/oci';
import { DOCKER_LAYER_TAR } from '../../schema/oci-local';
import { ImageSourceError, type LayerRef, type ResolvedImage } from '../source';
import { openArchive, type ArchiveFile, type ArchiveOptions } from './archive-file';
import { familiarName } from './reference';
import { checkConfigPlatform, hostPlatform, type WantedPlatform } from './select';
import { indexTar, lookupMember, normaliseMemberName, type TarIndex, type TarMember } from './tar-index';
import { digestOf, exactly, parseDoc } from './verify';

type Entry = DockerArchiveManifest[number];

/** The image a REF names: a RepoTag (exact, else in docker's familiar form), or @N as skopeo writes it. */
export function pickEntry(mf: DockerArchiveManifest, ref: string | undefined, what: string): { entry: Entry; ref: string | undefined } {
  const tags = mf.flatMap((e) => e.RepoTags ?? []);
  if (ref === undefined) {
    if (mf.length !== 1) throw new ImageSourceError('ENOTFOUND', `${what} holds ${mf.length} images; name one as ${what}:REF (it has: ${tags.join(', ') || 'untagged images'}; @N picks the Nth)`);
    return { entry: mf[0]!, ref: mf[0]!.RepoTags?.[0] };
  }
  const at = /^@(\d{1,4})$/.exec(ref);
  if (at) {
    const entry = mf[Number(at[1])];
    if (!entry) throw new ImageSourceError('ENOTFOUND', `${what} has no image ${ref} (it holds ${mf.length})`);
    return { entry, ref };
  }
  let found = mf.filter((e) => e.RepoTags?.includes(ref));
  if (found.length === 0) found = mf.filter((e) => e.RepoTags?.some((t) => familiarName(t) === familiarName(ref)));
  if (found.length > 1) throw new ImageSourceError('EIMAGE', `${what}: ${found.length} images are tagged ${ref}; pick one with @N`);
  if (found.length === 0) throw new ImageSourceError('ENOTFOUND', `${what} has no image tagged ${ref} (it has: ${tags.join(', ') || 'untagged images'})`);
  return { entry: found[0]!, ref };
}

const MAGIC: [string, Buffer][] = [
  ['gzip', Buffer.from([0x1f, 0x8b])],
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ['bzip2', Buffer.from('BZh')],
];

class DockerArchive {
  constructor(readonly archive: ArchiveFile, readonly index: TarIndex, readonly what: string) {}

  /** A member manifest.json names, refused if the name could climb out of the archive. */
  member(name: string, field: string): TarMember {
    try {
      normaliseMemberName(name, this.what);
    } catch (e) {
      throw new ImageSourceError('EIMAGE', `${this.what}: manifest.json names ${field} '${name.slice(0, 200)}', which is not a path inside the archive; the archive is hostile`);
    }
    return lookupMember(this.index, name, this.what);
  }

  read(m: TarMember, start = 0, len = m.size): Buffer {
    const n = Math.min(len, m.size - start);
    const buf = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const r = fs.readSync(this.archive.fd, buf, got, n - got, m.offset + start + got);
      if (r === 0) throw new ImageSourceError('EIMAGE', `${this.what}: ${m.name} is truncated`);
      got += r;
    }
    return buf;
  }

  stream(m: TarMember, start = 0): Readable {
    return this.archive.stream(m.offset + start, m.offset + m.size, `${this.what}: ${m.name}`);
  }

  async sha256(m: TarMember): Promise<string> {
    const h = crypto.createHash('sha256');
    for await (const c of this.stream(m)) h.update(c as Buffer);
    return `sha256:${h.digest('hex')}`;
  }

  compression(m: TarMember): string {
    const head = this.read(m, 0, 6);
    return MAGIC.find(([, b]) => head.subarray(0, b.length).equals(b))?.[0] ?? 'none';
  }
}

/** A member named after a digest (<hex>.json, blobs/sha256/<hex>) must have that digest. */
function checkNamedDigest(name: string, digest: string, what: string): void {
  const m = /(?:^|\/)([0-9a-f]{64})(?:\.json)?$/.exec(name);
  if (m && `sha256:${m[1]}` !== digest) throw new ImageSourceError('EIMAGE', `${what}: ${name} has digest ${digest}; the archive is corrupt or hostile`);
}

async function resolve(a: DockerArchive, ref: string | undefined, location: string, want: WantedPlatform): Promise<ResolvedImage> {
  const what = a.what;
  const mfMember = lookupMember(a.index, 'manifest.json', what);
  if (mfMember.size > MAX_MANIFEST_BYTES) throw new ImageSourceError('ELIMIT', `${what}: manifest.json is ${mfMember.size} bytes, more than the ${MAX_MANIFEST_BYTES} ward reads; the archive is hostile`);
  const mf = parseDoc(DockerArchiveManifest, a.read(mfMember), `${what}: manifest.json`);
  const picked = pickEntry(mf, ref, what);

  const cfgMember = a.member(picked.entry.Config, 'the config');
  if (cfgMember.size > MAX_MANIFEST_BYTES) throw new ImageSourceError('ELIMIT', `${what}: config ${picked.entry.Config} is ${cfgMember.size} bytes, more than the ${MAX_MANIFEST_BYTES} ward reads; the archive is hostile`);
  const configBytes = a.read(cfgMember);
  const configDigest = digestOf(configBytes);
  checkNamedDigest(picked.entry.Config, configDigest, what);
  const config = parseDoc(ImageConfig, configBytes, `${what}: config ${picked.entry.Config}`);
  checkConfigPlatform(config, undefined, want, what);
  const diffIds = config.rootfs.diff_ids;
  if (picked.entry.Layers.length !== diffIds.length) {
    throw new ImageSourceError('EIMAGE', `${what}: manifest.json lists ${picked.entry.Layers.length} layers but the config's rootfs has ${diffIds.length}; the archive is corrupt or hostile`);
  }

  const layers: (LayerRef & { member: TarMember })[] = [];
  for (const [i, name] of picked.entry.Layers.entries()) {
    const m = a.member(name, `layer ${i + 1}`);
    const digest = await a.sha256(m);
    const comp = a.compression(m);
    if (comp === 'none' && digest !== diffIds[i]) {
      throw new ImageSourceError('EIMAGE', `${what}: layer ${i + 1} (${name}) has digest ${digest} but the config says ${diffIds[i]}; the archive is corrupt or hostile`);
    }
    if (/^blobs\/sha256\//.test(name)) checkNamedDigest(name, digest, what);
    // Compression is found again by magic when the layer is applied, as docker load does.
    const mediaType = comp === 'gzip' ? MEDIA.dockerLayerGzip : comp === 'zstd' ? MEDIA.ociLayerZstd : DOCKER_LAYER_TAR;
    layers.push({ digest, size: m.size, mediaType, member: m });
  }

  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.dockerManifest,
      config: { mediaType: MEDIA.dockerConfig, size: configBytes.length, digest: configDigest },
      layers: layers.map((l) => ({ mediaType: l.mediaType, size: l.size, digest: l.digest })),
    }),
  );
  const refs: LayerRef[] = layers.map(({ digest, size, mediaType }) => ({ digest, size, mediaType }));
  return {
    transport: 'docker-archive',
    name: `docker-archive:${location}${picked.ref !== undefined ? `:${picked.ref}` : ''}`,
    manifestDigest: digestOf(manifest),
    manifest,
    configDigest,
    config,
    configBytes,
    layers: refs,
    openLayer: async (layer, offset = 0) => {
      const l = layers.find((x) => x.digest === layer.digest && x.size === layer.size);
      if (!l) throw new ImageSourceError('EIMAGE', `${what}: ${layer.digest} is not a layer of this image`);
      if (!Number.isSafeInteger(offset) || offset < 0 || offset > l.size) throw new ImageSourceError('EIMAGE', `${what}: offset ${offset} is outside layer ${l.digest}`);
      return exactly(a.stream(l.member, offset), l.size - offset, `${what}: layer ${l.digest}`);
    },
    close: async () => a.archive.close(),
  };
}

export async function openDockerArchive(file: string, ref: string | undefined, o: ArchiveOptions & { platform?: WantedPlatform } = {}): Promise<ResolvedImage> {
  const location = path.resolve(file);
  const what = `docker-archive:${location}`;
  const archive = openArchive(file, what, o);
  try {
    return await resolve(new DockerArchive(archive, indexTar(archive.fd, archive.size, what), what), ref, location, o.platform ?? hostPlatform());
  } catch (e) {
    archive.close();
    throw e;
  }
}
