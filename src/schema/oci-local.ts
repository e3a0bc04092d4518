// Formats of image files on the local disk (OCI image layouts, oci-archive, docker save) beyond
// what schema/oci.ts defines: the names and media types the local sources need to agree on.
import { MEDIA } from './oci';

/** The index.json annotation that names an image in an OCI layout (image-spec annotations.md). */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** Uncompressed Docker layer: what `docker save` stores (the registry type is always gzip). */
export const DOCKER_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar';

/** Layer media types ward can apply; anything else (encrypted, artifacts) is refused by name. */
export const LAYER_MEDIA_TYPES: readonly string[] = [
  MEDIA.ociLayer,
  MEDIA.ociLayerGzip,
  MEDIA.ociLayerZstd,
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  MEDIA.dockerLayerGzip,
  MEDIA.dockerForeignLayerGzip,
  DOCKER_LAYER_TAR,
];

export const CONFIG_MEDIA_TYPES: readonly string[] = [MEDIA.ociConfig, MEDIA.dockerConfig];

/** The oci-layout file is one tiny JSON object; anything bigger is not a layout. */
export const MAX_OCI_LAYOUT_BYTES = 4096;
