// The parts of an appc app that schema/aci.ts leaves open (ports, mount points), as appc/spec
// 0.8.11 (schema/types/port.go, mountpoint.go, acname.go) defines them. Manifests ward makes from
// Docker/OCI configs are checked against these, so a converted image is a valid appc image.
import { z } from 'zod';

/** appc ACName: lower-case alphanumerics joined by single dashes (narrower than an AC Identifier). */
export const AppcAcName = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'must be an appc ACName (lower-case alphanumerics joined by single dashes)');

export const AppcPort = z.strictObject({
  name: AppcAcName,
  protocol: z.string().min(1).max(32),
  port: z.number().int().min(1).max(65535),
  count: z.number().int().min(1).max(65535).optional(),
  socketActivated: z.boolean().optional(),
});
export type AppcPort = z.infer<typeof AppcPort>;

export const AppcMountPoint = z.strictObject({
  name: AppcAcName,
  path: z.string().min(1).max(4096).startsWith('/', 'must be an absolute path'),
  readOnly: z.boolean().optional(),
});
export type AppcMountPoint = z.infer<typeof AppcMountPoint>;
