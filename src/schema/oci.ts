// OCI image-spec and Docker image formats: index / manifest list, manifest, config, layout.
// Registry JSON is hostile: these schemas bound every collection and check every digest's shape.
// Objects stay open to unknown fields where the specs say implementations must ignore them.
import { z } from 'zod';

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export const MANIFEST_MEDIA_TYPES = [MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerList, MEDIA.dockerManifest] as const;

/** Largest manifest, index or config ward reads (REFERENCE §10: oversize > 4 MiB is hostile). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export const Digest = z.string().regex(/^sha256:[0-9a-f]{64}$|^sha512:[0-9a-f]{128}$/, 'must be sha256:<64 hex> or sha512:<128 hex>');

export const Platform = z.object({
  architecture: z.string().max(64),
  os: z.string().max(64),
  'os.version': z.string().max(256).optional(),
  'os.features': z.array(z.string().max(256)).max(64).optional(),
  variant: z.string().max(64).optional(),
});
export type Platform = z.infer<typeof Platform>;

const Annotations = z.record(z.string().max(1024), z.string().max(65536));

export const Descriptor = z.object({
  mediaType: z.string().min(1).max(256),
  digest: Digest,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  urls: z.array(z.string().max(4096)).max(16).optional(),
  annotations: Annotations.optional(),
  platform: Platform.optional(),
});
export type Descriptor = z.infer<typeof Descriptor>;

/** An OCI image index or a Docker manifest list. */
export const Index = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.enum([MEDIA.ociIndex, MEDIA.dockerList]).optional(),
  manifests: z.array(Descriptor).max(1024),
  annotations: Annotations.optional(),
});
export type Index = z.infer<typeof Index>;

/** An OCI image manifest or a Docker image manifest v2 schema 2. */
export const Manifest = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.enum([MEDIA.ociManifest, MEDIA.dockerManifest]).optional(),
  config: Descriptor,
  layers: z.array(Descriptor).max(1024),
  annotations: Annotations.optional(),
});
export type Manifest = z.infer<typeof Manifest>;

/** The image config (OCI image-spec config.md; Docker's is a superset we read the same way). */
export const ImageConfig = z.object({
  architecture: z.string().max(64).optional(),
  os: z.string().max(64).optional(),
  config: z
    .object({
      User: z.string().max(256).optional(),
      ExposedPorts: z.record(z.string().max(64), z.object({})).nullable().optional(),
      Env: z.array(z.string().max(65536)).max(4096).nullable().optional(),
      Entrypoint: z.array(z.string().max(65536)).max(4096).nullable().optional(),
      Cmd: z.array(z.string().max(65536)).max(4096).nullable().optional(),
      Volumes: z.record(z.string().max(4096), z.object({})).nullable().optional(),
      WorkingDir: z.string().max(4096).optional(),
      Labels: z.record(z.string().max(1024), z.string().max(65536)).nullable().optional(),
      StopSignal: z.string().max(32).optional(),
    })
    .nullable()
    .optional(),
  rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(Digest).max(1024) }),
  history: z.array(z.object({}).passthrough()).max(4096).optional(),
  created: z.string().max(64).optional(),
});
export type ImageConfig = z.infer<typeof ImageConfig>;

/** oci-layout file of an OCI image layout. */
export const OciLayoutFile = z.object({ imageLayoutVersion: z.literal('1.0.0') });

/** manifest.json of a docker-archive (docker save). */
export const DockerArchiveManifest = z
  .array(
    z.object({
      Config: z.string().max(4096),
      RepoTags: z.array(z.string().max(1024)).max(256).nullable().optional(),
      Layers: z.array(z.string().max(4096)).max(1024),
    }),
  )
  .min(1)
  .max(64);

/**
 * What a manifest document is, judged by its content and not only by the media type the server
 * claimed (REFERENCE §10: media type lying about content, manifest vs index ambiguity).
 */
export function classifyManifest(doc: unknown): 'index' | 'manifest' | 'unknown' {
  if (typeof doc !== 'object' || doc === null) return 'unknown';
  const hasManifests = 'manifests' in doc;
  const hasLayers = 'layers' in doc || 'config' in doc;
  if (hasManifests && hasLayers) return 'unknown';
  if (hasManifests) return 'index';
  if (hasLayers) return 'manifest';
  return 'unknown';
}

export type OciLayoutFile = z.infer<typeof OciLayoutFile>;
export type DockerArchiveManifest = z.infer<typeof DockerArchiveManifest>;
