// What the frontend sends, per app, for --mds-register: the image manifest as text (served back
// verbatim by the metadata service, never parsed as root) and its annotations, which the frontend
// read from the manifest it verified and which are checked here as any request field is.
import { z } from 'zod';
import { AcIdentifier } from './aci';

// Helper frames are at most 64 KiB (protocol-limits.ts): the images of a whole pod get 40 KiB.
export const MDS_MAX_IMAGE_MANIFEST_BYTES = 16 * 1024;
export const MDS_MAX_IMAGES_BYTES = 40 * 1024;

export const MdsAnnotations = z.array(z.strictObject({ name: AcIdentifier, value: z.string().max(4096) })).max(64);
export type MdsAnnotations = z.infer<typeof MdsAnnotations>;

export const MdsImage = z.strictObject({
  manifest: z.string().min(2).max(MDS_MAX_IMAGE_MANIFEST_BYTES),
  annotations: MdsAnnotations,
});
export type MdsImage = z.infer<typeof MdsImage>;
