// The appc pod manifest (appc/spec 0.8.11, schema/pod.go) as ward generates it for each pod: the
// helper writes it into the pod record, `ward cat-manifest` prints it. apps is an array so pods
// of several apps, volumes and isolators add entries, not a new shape.
import { z } from 'zod';
import { AppcAcName } from './appc-app';

const NameValue = z.strictObject({ name: z.string().min(1).max(512), value: z.string().max(65536) });

export const AppcPodApp = z.strictObject({
  name: AppcAcName,
  image: z.strictObject({ name: z.string().min(1).max(512), id: z.string().min(1).max(200) }),
  app: z.strictObject({
    exec: z.array(z.string()).min(1),
    user: z.string().min(1),
    group: z.string().min(1),
    workingDirectory: z.string().min(1),
    environment: z.array(NameValue),
    eventHandlers: z.array(z.strictObject({ name: z.enum(['pre-start', 'post-stop']), exec: z.array(z.string()).min(1) })).optional(),
  }),
  readOnlyRootFS: z.boolean().optional(),
  annotations: z.array(NameValue).optional(),
});

export const AppcPodManifest = z.strictObject({
  acVersion: z.literal('0.8.11'),
  acKind: z.literal('PodManifest'),
  apps: z.array(AppcPodApp).min(1).max(64),
  volumes: z.array(z.unknown()).max(0).optional(),
  isolators: z.array(z.unknown()).max(0).optional(),
  annotations: z.array(NameValue).optional(),
  ports: z.array(z.unknown()).max(0).optional(),
});
export type AppcPodManifest = z.infer<typeof AppcPodManifest>;
