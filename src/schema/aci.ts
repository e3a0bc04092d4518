// The appc image manifest (appc spec 0.8.11), the parts ward uses. Unknown top-level fields are
// kept out by strictObject at the top; nested appc extension points stay open where the spec allows.
import { z } from 'zod';

export const AcName = z.string().min(1).max(512).regex(/^[a-z0-9]+([-._~/][a-z0-9]+)*$/, 'must be an appc AC Name (lower-case alphanumerics and -._~/)');
export const AcIdentifier = z.string().min(1).max(512).regex(/^[a-z0-9]+([-._~/@:+][a-z0-9]+)*$/);

const NameValue = z.strictObject({ name: z.string().min(1), value: z.string() });

export const AppcApp = z.object({
  exec: z.array(z.string()).min(1).optional(),
  user: z.string().min(1),
  group: z.string().min(1),
  workingDirectory: z.string().optional(),
  environment: z.array(NameValue).optional(),
  eventHandlers: z.array(z.unknown()).optional(),
  isolators: z.array(z.unknown()).optional(),
  mountPoints: z.array(z.unknown()).optional(),
  ports: z.array(z.unknown()).optional(),
  supplementaryGIDs: z.array(z.number().int().nonnegative()).optional(),
});

export const ImageManifest = z.strictObject({
  acKind: z.literal('ImageManifest'),
  acVersion: z.string().regex(/^\d+\.\d+\.\d+/),
  name: AcIdentifier,
  labels: z.array(z.strictObject({ name: AcIdentifier, value: z.string() })).optional(),
  app: AppcApp.optional(),
  annotations: z.array(z.strictObject({ name: AcIdentifier, value: z.string() })).optional(),
  dependencies: z.array(z.unknown()).optional(),
  pathWhitelist: z.array(z.string()).optional(),
});
export type ImageManifest = z.infer<typeof ImageManifest>;
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
