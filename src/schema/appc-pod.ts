// The appc pod manifest (appc/spec 0.8.11, schema/pod.go) as ward generates it for each pod: the
// helper writes it into the pod record, `ward cat-manifest` prints it. apps is an array so pods
// of several apps, volumes and isolators add entries, not a new shape.
import { z } from 'zod';
import { AppcAcName } from './appc-app';

const NameValue = z.strictObject({ name: z.string().min(1).max(512), value: z.string().max(65536) });

/** appc Volume (schema/types/volume.go): mode is an octal string, as appc writes it. */
export const AppcVolume = z.strictObject({
  name: AppcAcName,
  kind: z.enum(['empty', 'host']),
  source: z.string().min(1).max(4096).optional(),
  readOnly: z.boolean().optional(),
  recursive: z.boolean().optional(),
  mode: z.string().regex(/^0?[0-7]{1,4}$/).optional(),
  uid: z.number().int().min(0).optional(),
  gid: z.number().int().min(0).optional(),
});
export type AppcVolume = z.infer<typeof AppcVolume>;

export const AppcMount = z.strictObject({ volume: AppcAcName, path: z.string().min(1).max(4096), readOnly: z.boolean().optional() });

export const AppcPodApp = z.strictObject({
  name: AppcAcName,
  image: z.strictObject({ name: z.string().min(1).max(512), id: z.string().min(1).max(200) }),
  app: z.strictObject({
    exec: z.array(z.string()).min(1),
    user: z.string().min(1),
    group: z.string().min(1),
    workingDirectory: z.string().min(1),
    environment: z.array(NameValue),
    supplementaryGIDs: z.array(z.number().int().min(0).max(65535)).max(64).optional(),
    eventHandlers: z.array(z.strictObject({ name: z.enum(['pre-start', 'post-stop']), exec: z.array(z.string()).min(1) })).optional(),
  }),
  mounts: z.array(AppcMount).max(64).optional(),
  readOnlyRootFS: z.boolean().optional(),
  annotations: z.array(NameValue).optional(),
});

export const AppcPodManifest = z.strictObject({
  acVersion: z.literal('0.8.11'),
  acKind: z.literal('PodManifest'),
  apps: z.array(AppcPodApp).min(1).max(64),
  volumes: z.array(AppcVolume).max(64).optional(),
  isolators: z.array(z.unknown()).max(0).optional(),
  annotations: z.array(NameValue).optional(),
  ports: z.array(z.unknown()).max(0).optional(),
});
export type AppcPodManifest = z.infer<typeof AppcPodManifest>;
