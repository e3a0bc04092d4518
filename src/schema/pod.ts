// A pod as the helper keeps it (STATE/pods/<state>/<uuid>/pod.json) and as list and status
// report it. The record is written only by the helper, atomically (write, then rename), and is
// parsed strictly all the same. Its state is not in it: that is the directory it sits in and
// whether stage1 still holds the pod's lock (rkt's model, REFERENCE §5).
import { z } from 'zod';
import { AppcPodManifest } from './appc-pod';
import { AppSpec, ImageRef, MAX_VOLUMES, NetRequest, PodUuid, RunRequest, TreeDigest, Volume } from './protocol';
import { PortMapping } from './cni';
import { PodLabels, RunSelinuxMode } from './selinux';
import { MdsImage } from './mds-image';

/** A process named by pid and its start time (/proc/<pid>/stat field 22): a reused pid does not match. */
export const ProcessRef = z.strictObject({ pid: z.number().int().positive(), startTime: z.string().regex(/^\d{1,20}$/) });
export type ProcessRef = z.infer<typeof ProcessRef>;

export const PodApp = z.strictObject({ name: z.string().min(1).max(512), image: ImageRef, tree: TreeDigest, spec: AppSpec });

export const PodRecord = z.strictObject({
  version: z.literal(1),
  uuid: PodUuid,
  owner: z.strictObject({ uid: z.number().int().min(0), gid: z.number().int().min(0) }),
  created: z.iso.datetime(),
  started: z.iso.datetime().nullable(),
  apps: z.array(PodApp).min(1).max(64),
  hostname: z.string().min(1).max(63),
  /** The pod's volumes as asked for (absent: none); sources are opened when it starts. */
  volumes: z.array(Volume).max(MAX_VOLUMES).optional(),
  /** What the caller asked for (absent: the helper policy's mode), applied when the pod starts. */
  selinuxMode: RunSelinuxMode.nullable(),
  /** The pod's labels once it has started, or null when it runs unlabelled. */
  selinux: PodLabels.nullable(),
  /** Whether the helper measured the pod into the TPM before launching it (null: not started). */
  measured: z.boolean().nullable(),
  manifest: AppcPodManifest,
  /** ward-stage1 (outside the pod) and the pod's init (its pid 1), once launched. */
  stage1: ProcessRef.nullable(),
  init: ProcessRef.nullable(),
  /** The caller passed --detach: the pod outlives its connection. */
  detached: z.boolean(),
  /** The pod's networking as resolved at prepare (absent: none, as pods made before networking). */
  network: z.strictObject({
    net: NetRequest,
    ports: z.array(PortMapping),
    dns: RunRequest.shape.dns,
    dnsSearch: RunRequest.shape.dnsSearch,
    dnsOptions: RunRequest.shape.dnsOptions,
  }).optional(),
  /** --mds-register: each app's image for the metadata service, in the apps' order (absent: not registered). */
  mdsImages: z.array(MdsImage).max(16).optional(),
});
export type PodRecord = z.infer<typeof PodRecord>;

export const PodState = z.enum(['embryo', 'prepared', 'running', 'exited', 'exited-garbage', 'garbage']);
export type PodState = z.infer<typeof PodState>;

export const AppStatus = z.strictObject({
  name: z.string(),
  /** Exit code (128+n when killed by signal n), or null while running or when unknown. */
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  /** The kernel's OOM killer killed a process of this app (its cgroup's memory events). */
  oomKilled: z.boolean().optional(),
});

/** One pod as list and status report it. */
export const PodInfo = z.strictObject({
  uuid: PodUuid,
  state: PodState,
  owner: z.number().int(),
  created: z.string(),
  started: z.string().nullable(),
  exited: z.string().nullable(),
  pid: z.number().int().nullable(),
  image: z.string(),
  imageId: z.string(),
  signer: z.string(),
  apps: z.array(AppStatus),
  selinux: PodLabels.nullable(),
  measured: z.boolean().nullable(),
  /** The pod's addresses on its CNI networks while it runs. */
  networks: z.array(z.strictObject({ network: z.string(), ifName: z.string(), address: z.string() })).optional(),
});
export type PodInfo = z.infer<typeof PodInfo>;

export const PodListResponse = z.strictObject({ ok: z.literal(true), pods: z.array(PodInfo) });
export const PodStatusResponse = z.strictObject({ ok: z.literal(true), pod: PodInfo });
export const PodGcResponse = z.strictObject({ ok: z.literal(true), marked: z.array(PodUuid), removed: z.array(PodUuid) });
export const PodDoneResponse = z.strictObject({ ok: z.literal(true), uuid: PodUuid });
export const PodManifestResponse = z.strictObject({ ok: z.literal(true), manifest: AppcPodManifest });
export const PreparedResponse = z.strictObject({ ok: z.literal(true), uuid: PodUuid });
