// --mds-register, the frontend's part: each app's image manifest (as text) and its annotations
// go with the request, for the metadata service to serve to the pod. Read here, unprivileged,
// from the manifest ward verified; the helper only checks their shape and size.
import { WardError } from '../schema/errors';
import type { ImageManifest } from '../schema/aci';
import { MDS_MAX_IMAGE_MANIFEST_BYTES, MDS_MAX_IMAGES_BYTES, MdsAnnotations, type MdsImage } from '../schema/mds-image';

export function mdsImageOf(imageName: string, manifest: ImageManifest): MdsImage {
  const text = JSON.stringify(manifest);
  if (Buffer.byteLength(text) > MDS_MAX_IMAGE_MANIFEST_BYTES) {
    throw new WardError('EIMAGE', `image ${imageName}: its manifest is larger than the ${MDS_MAX_IMAGE_MANIFEST_BYTES} bytes the metadata service takes; run it without --mds-register`);
  }
  const annotations = MdsAnnotations.safeParse(manifest.annotations ?? []);
  if (!annotations.success) throw new WardError('EIMAGE', `image ${imageName}: its annotations cannot be served by the metadata service (${annotations.error.issues[0]?.message}); run it without --mds-register`);
  return { manifest: text, annotations: annotations.data };
}

/** Each app's image, within what one request to the helper can carry. */
export function mdsImagesOf(images: { name: string; manifest: ImageManifest }[]): MdsImage[] {
  const out = images.map((i) => mdsImageOf(i.name, i.manifest));
  const total = Buffer.byteLength(JSON.stringify(out));
  if (total > MDS_MAX_IMAGES_BYTES) throw new WardError('EIMAGE', `the pod's image manifests take ${total} bytes, more than the ${MDS_MAX_IMAGES_BYTES} a --mds-register request carries; run it without --mds-register`);
  return out;
}
