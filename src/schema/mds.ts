// The appc metadata service (appc/spec 0.8.11, ace.md "App Container Metadata Service"): what the
// helper registers on the service's root-only Unix socket, and the limits of both its sides.
// The pod manifest is the helper's own (schema/appc-pod.ts); each app's image manifest travels as
// text with its annotations beside it (schema/mds-image.ts): nothing of an image is parsed as root.
import net from 'node:net';
import { z } from 'zod';
import { AppcAcName } from './appc-app';
import { AppcPodManifest } from './appc-pod';
import { PodUuid } from './protocol';
import { MdsImage } from './mds-image';
export { MDS_MAX_IMAGE_MANIFEST_BYTES, MDS_MAX_IMAGES_BYTES, MdsImage } from './mds-image';

/** rkt's registration socket and port, so an rkt user finds them where they were. */
export const MDS_DEFAULT_SOCKET = '/run/ward/metadata-svc.sock';
export const MDS_DEFAULT_PORT = 18112;

export const MDS_MAX_APPS = 16;
/** A registration: the pod manifest and the apps' images, each from a helper frame of at most 64 KiB, with room for JSON escaping. */
export const MDS_MAX_REGISTRATION_BYTES = 1024 * 1024;
/** A form posted by an app (sign, verify). */
export const MDS_MAX_FORM_BYTES = 64 * 1024;
/** A pod on several networks has an address on each. */
export const MDS_MAX_ADDRESSES = 16;

/** The token in AC_METADATA_URL's path: 32 random bytes, base64url (the spec asks for >= 128 bits). */
export const MdsSecret = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 bytes in unpadded base64url');

/** An address the pod's requests come from, written as node reports a peer (no brackets, no zone). */
export const MdsAddress = z.string().max(45).refine((a) => net.isIP(a) !== 0 && !a.includes('%'), 'must be an IPv4 or IPv6 address');

/** One app: its name in the pod manifest and its image's manifest and annotations. */
export const MdsApp = z.strictObject({
  name: AppcAcName.max(64),
  image: MdsImage,
});

/** PUT /pods/<uuid> on the registration socket. */
export const MdsRegistration = z
  .strictObject({
    uuid: PodUuid,
    secret: MdsSecret,
    addresses: z.array(MdsAddress).min(1).max(MDS_MAX_ADDRESSES),
    manifest: AppcPodManifest,
    apps: z.array(MdsApp).min(1).max(MDS_MAX_APPS),
  })
  .superRefine((r, ctx) => {
    const inManifest = r.manifest.apps.map((a) => a.name).sort();
    const given = r.apps.map((a) => a.name).sort();
    if (new Set(given).size !== given.length) ctx.addIssue({ code: 'custom', message: 'an app is named twice', path: ['apps'] });
    if (inManifest.join('\n') !== given.join('\n')) ctx.addIssue({ code: 'custom', message: "apps must name exactly the pod manifest's apps", path: ['apps'] });
  });
export type MdsRegistration = z.infer<typeof MdsRegistration>;
