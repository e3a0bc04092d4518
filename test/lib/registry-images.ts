// OCI image layouts written by hand for the registry tests: a busybox-static layer, configs,
// manifests and indexes in either OCI or Docker media types, tagged in index.json so that
// `skopeo copy oci:DIR:TAG docker://…` pushes these bytes unchanged (unless told to convert). Everything is
// deterministic (fixed mtimes, fixed JSON) so digests are stable across runs.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { tarOf, type Entry } from './layers';

export const M = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}

export const sha256 = (b: Buffer | string): string => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

const BUSYBOX_LINKS = ['sh', 'ls', 'cat', 'echo', 'true', 'uname'];

/** A tar of bin/busybox and a few applet symlinks; `extra` adds a marker file so variants differ. */
export async function busyboxTar(extra?: string): Promise<Buffer> {
  const entries: Entry[] = [
    { name: 'bin', type: 'directory', mode: 0o755 },
    { name: 'bin/busybox', mode: 0o755, body: fs.readFileSync('/bin/busybox') },
    ...BUSYBOX_LINKS.map((l): Entry => ({ name: `bin/${l}`, type: 'symlink', linkname: 'busybox' })),
  ];
  if (extra) entries.push({ name: 'etc/variant', mode: 0o644, body: extra });
  return tarOf(entries);
}

export class OciLayout {
  private readonly tags: Desc[] = [];

  constructor(readonly dir: string) {
    fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }

  /** Stores a blob and returns its digest and size. */
  blob(data: Buffer | string): { digest: string; size: number; bytes: Buffer } {
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
    const digest = sha256(bytes);
    fs.writeFileSync(path.join(this.dir, 'blobs', 'sha256', digest.slice(7)), bytes);
    return { digest, size: bytes.length, bytes };
  }

  /**
   * One image: config for `arch`, the given (already compressed) layers. Returns the manifest's
   * descriptor, with the platform filled in for use in an index.
   */
  image(o: { arch: string; variant?: string; docker?: boolean; layers: Buffer[]; diffIds: string[]; cmd?: string[] }): Desc & { configDigest: string; layerDigests: string[]; bytes: Buffer } {
    const config = this.blob(
      JSON.stringify({
        architecture: o.arch,
        os: 'linux',
        ...(o.variant ? { variant: o.variant } : {}),
        config: { Cmd: o.cmd ?? ['/bin/sh'], Env: ['PATH=/bin'] },
        rootfs: { type: 'layers', diff_ids: o.diffIds },
      }),
    );
    const layers = o.layers.map((l) => this.blob(l));
    const mediaType = o.docker ? M.dockerManifest : M.ociManifest;
    const manifest = this.blob(
      JSON.stringify({
        schemaVersion: 2,
        mediaType,
        config: { mediaType: o.docker ? M.dockerConfig : M.ociConfig, digest: config.digest, size: config.size },
        layers: layers.map((l) => ({ mediaType: o.docker ? M.dockerLayerGzip : M.ociLayerGzip, digest: l.digest, size: l.size })),
      }),
    );
    return {
      mediaType,
      digest: manifest.digest,
      size: manifest.size,
      platform: { architecture: o.arch, os: 'linux', ...(o.variant ? { variant: o.variant } : {}) },
      configDigest: config.digest,
      layerDigests: layers.map((l) => l.digest),
      bytes: manifest.bytes,
    };
  }

  /** An OCI index or a Docker manifest list over `manifests`. */
  index(manifests: Desc[], o: { docker?: boolean } = {}): Desc & { bytes: Buffer } {
    const mediaType = o.docker ? M.dockerList : M.ociIndex;
    const b = this.blob(JSON.stringify({ schemaVersion: 2, mediaType, manifests: manifests.map(({ mediaType: mt, digest, size, platform }) => ({ mediaType: mt, digest, size, platform })) }));
    return { mediaType, digest: b.digest, size: b.size, bytes: b.bytes };
  }

  /** Names `desc` TAG in index.json, as `oci:DIR:TAG` expects. */
  tag(tag: string, desc: Desc): void {
    this.tags.push({ mediaType: desc.mediaType, digest: desc.digest, size: desc.size, annotations: { 'org.opencontainers.image.ref.name': tag } });
    fs.writeFileSync(path.join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: this.tags }));
  }
}

/** A gzip-compressed busybox layer and the digest of its uncompressed tar (the config's diff_id). */
export async function busyboxLayer(extra?: string): Promise<{ gz: Buffer; diffId: string }> {
  const t = await busyboxTar(extra);
  return { gz: zlib.gzipSync(t, { level: 6 }), diffId: sha256(t) };
}
