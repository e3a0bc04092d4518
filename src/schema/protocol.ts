// The helper protocol: frames between `ward` (unprivileged) and `ward-helper` (root).
// A frame is a u32 big-endian length and a JSON document; fds travel with SCM_RIGHTS.
// Requests are a closed union of verbs, each strict: unknown fields are rejected.
import { z } from 'zod';

import { PROTOCOL_VERSION } from './protocol-limits';
import { TpmLogRequest, TpmQuoteRequest } from './tpm-quote';
import { PodLabels, RunSelinuxMode } from './selinux';
import { AppCaps, AppName, AppSeccomp } from './app-security';
export { AppName };
import { NetworkName, PortMapping } from './cni';
import { MdsImage } from './mds-image';
export { PROTOCOL_VERSION, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, MAX_REQUEST_FDS } from './protocol-limits';

/** A digest the helper computed for a sealed tree. */
export const TreeDigest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex digits>');
export const PodUuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

const SafeText = (max: number) =>
  z.string().max(max).refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters');

/** An absolute path inside the pod: no NUL, no "..", no empty or "." components. */
export const PodPath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => p.startsWith('/'), 'must be absolute')
  .refine((p) => !p.includes('\u0000'), 'must not contain NUL')
  .refine((p) => p === '/' || p.slice(1).split('/').every((c) => c !== '' && c !== '.' && c !== '..'), 'must not contain empty, "." or ".." components');

export const EnvName = z.string().min(1).max(256).regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'must be a valid environment variable name');
export const Id = z.number().int().min(0).max(65535);
export const Hostname = z.string().min(1).max(63).regex(/^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/, 'must be a valid hostname label');

export const InsecureOption = z.enum(['image']);
export type InsecureOption = z.infer<typeof InsecureOption>;

/** Volumes (appc Volume, plus ward's relabel request); the helper checks every field against policy. */
export const MAX_VOLUMES = 8;
export const VolumeName = z.string().min(1).max(64).regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'must be an appc ACName (lower-case alphanumerics joined by single dashes)');
export const HostVolume = z.strictObject({
  name: VolumeName,
  kind: z.literal('host'),
  source: PodPath,
  readOnly: z.boolean().optional(),
  /** Default true: submounts of the source come along (as binds always are in ward). */
  recursive: z.boolean().optional(),
  /** podman's :z (shared: the container file type at s0) and :Z (private: the pod's own label). */
  selinuxRelabel: z.enum(['shared', 'private']).optional(),
});
export const EmptyVolume = z.strictObject({
  name: VolumeName,
  kind: z.literal('empty'),
  readOnly: z.boolean().optional(),
  /** Defaults 0755, 0, 0 (appc): ids inside the pod. */
  mode: z.number().int().min(0).max(0o7777).optional(),
  uid: Id.optional(),
  gid: Id.optional(),
});
export const Volume = z.discriminatedUnion('kind', [HostVolume, EmptyVolume]);
export type Volume = z.infer<typeof Volume>;
export const VolumeMount = z.strictObject({ volume: VolumeName, path: PodPath, readOnly: z.boolean().optional() });
export type VolumeMount = z.infer<typeof VolumeMount>;
const Exec = (max: number) => z.array(z.string().max(65536).refine((s) => !s.includes('\u0000'), 'must not contain NUL')).min(1).max(max)
  .refine((a) => PodPath.safeParse(a[0]).success || /^[^/\u0000]+$/.test(a[0] ?? '') && a[0] !== '.' && a[0] !== '..', 'exec[0] must be an absolute path or a command name');

/** Most apps in one pod (ward-stage1's SPEC_MAX_APPS). */
export const MAX_APPS = 16;

/** appc event handlers: pre-start runs before the app, post-stop after it, each in the app's root and confined as the app. */
export const EventHandler = z.strictObject({ name: z.enum(['pre-start', 'post-stop']), exec: Exec(256) });

export const AppSpec = z.strictObject({
  exec: Exec(1024),
  user: Id,
  group: Id,
  workingDirectory: PodPath,
  environment: z.array(z.strictObject({ name: EnvName, value: z.string().max(65536).refine((s) => !s.includes('\u0000')) })).max(4096),
  /** --name; absent: from AC_APP_NAME, as before. */
  name: AppName.optional(),
  /** --caps-retain / --caps-remove; absent: the appc default set. */
  caps: AppCaps.optional(),
  /** --seccomp; absent: the helper's default profile. */
  seccomp: AppSeccomp.optional(),
  /** appc supplementaryGIDs; absent: none. */
  supplementaryGids: z.array(Id).max(64).optional(),
  /** Volumes of the pod mounted into this app (volume-args.ts); absent: none. */
  mounts: z.array(VolumeMount).max(MAX_VOLUMES).optional(),
  /** The app's cgroup limits (appc resource/memory in bytes, resource/cpu in thousandths of a CPU). */
  isolators: z.strictObject({
    memory: z.number().int().min(4 * 1024 * 1024).max(2 ** 50).optional(),
    cpu: z.number().int().min(10).max(1024 * 1000).optional(),
  }).optional(),
  /** --readonly-rootfs: the app's root is mounted read-only. */
  readonlyRootfs: z.boolean().optional(),
  /** At most one of each name. */
  eventHandlers: z.array(EventHandler).max(2)
    .refine((hs) => new Set(hs.map((h) => h.name)).size === hs.length, 'at most one handler of each name').optional(),
});

export const ImageRef = z.strictObject({
  name: SafeText(512),
  /** Digest of the image as fetched (sha512-… for ACIs), for audit and measurement. */
  id: z.string().regex(/^(sha512-[0-9a-f]{128}|sha256:[0-9a-f]{64})$/),
  /** "unverified" or the accepted signer's fingerprint; policy decides if unverified may run. */
  signer: z.union([z.literal('unverified'), z.string().regex(/^[0-9A-F]{40,64}$/)]),
  /** The digest of the trust configuration the frontend reached that verdict under (absent: none applied). */
  trustPolicy: z.string().regex(/^sha256:[0-9a-f]{64}$/).optional(),
});

export const HelloRequest = z.strictObject({ verb: z.literal('hello'), version: z.literal(PROTOCOL_VERSION) });
/** fds: [rootfs directory of the extracted tree] */
export const SealRequest = z.strictObject({ verb: z.literal('seal'), image: ImageRef });
/** --net: none, host, or CNI networks by name (absent: the helper's default network where policy grants it, else none). */
export const NetRequest = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('none') }),
  z.strictObject({ mode: z.literal('host') }),
  z.strictObject({ mode: z.literal('cni'), networks: z.array(NetworkName).min(1).max(8) }),
]);
export type NetRequest = z.infer<typeof NetRequest>;
const DnsText = z.string().min(1).max(253).regex(/^[A-Za-z0-9_.:-]+$/, 'must be a name, address or option (letters, digits, "_", ".", ":" and "-")');
/** One app of a pod: its sealed tree, the image it came from, what runs. */
export const PodAppRequest = z.strictObject({ tree: TreeDigest, image: ImageRef, app: AppSpec });
export type PodAppRequest = z.infer<typeof PodAppRequest>;

/** fds: [stdin, stdout, stderr] */
export const RunRequest = z.strictObject({
  verb: z.literal('run'),
  /** The pod's apps; names (AppSpec.name, or the default the helper gives) unique. */
  apps: z.array(PodAppRequest).min(1).max(MAX_APPS),
  hostname: Hostname.optional(),
  /** The pod's volumes (names unique); each app's AppSpec.mounts names them. */
  volumes: z.array(Volume).max(MAX_VOLUMES).optional(),
  net: NetRequest.optional(),
  /** --port, resolved by the frontend against the image's ports; the helper checks them against policy. */
  ports: z.array(PortMapping).max(64).optional(),
  dns: z.array(DnsText).max(16).optional(),
  dnsSearch: z.array(DnsText).max(16).optional(),
  dnsOptions: z.array(DnsText).max(16).optional(),
  insecureOptions: z.array(InsecureOption).max(8),
  /** --selinux: absent means the helper policy's mode. */
  selinux: RunSelinuxMode.optional(),
  /** true: the helper answers 'started' and the pod outlives this connection. */
  detach: z.boolean().optional(),
  /** --mds-register: register the pod with the metadata service; mdsImages then has each app's image, in the apps' order. */
  mdsRegister: z.boolean().optional(),
  mdsImages: z.array(MdsImage).min(1).max(16).optional(),
});
/** What run takes, without starting it: the pod is kept as prepared. No fds. */
export const PrepareRequest = RunRequest.omit({ verb: true, detach: true }).extend({ verb: z.literal('prepare') });
/** fds: [stdin, stdout, stderr]. Of two run-prepared of one pod exactly one starts it. */
export const RunPreparedRequest = z.strictObject({ verb: z.literal('run-prepared'), uuid: PodUuid, detach: z.boolean() });
/** The caller's pods (every pod for members of the admin group). */
export const ListRequest = z.strictObject({ verb: z.literal('list') });
/** One pod; wait: answer once it has exited. */
export const StatusRequest = z.strictObject({ verb: z.literal('status'), uuid: PodUuid, wait: z.boolean() });
/** SIGTERM to the pod (force: SIGKILL), through a pidfd. */
export const StopRequest = z.strictObject({ verb: z.literal('stop'), uuid: PodUuid, force: z.boolean() });
/** Removes an exited or prepared pod at once. */
export const RmRequest = z.strictObject({ verb: z.literal('rm'), uuid: PodUuid });
const Seconds = z.number().int().min(0).max(10 * 365 * 24 * 3600);
/** Marks exited pods as garbage, removes garbage older than the grace period and prepared pods older than expirePrepared. */
export const GcRequest = z.strictObject({ verb: z.literal('gc'), gracePeriod: Seconds, expirePrepared: Seconds, markOnly: z.boolean() });
/** fds: [stdin, stdout, stderr]. Runs exec (default /bin/sh) in the running pod, confined as app (default its first) is. */
export const EnterRequest = z.strictObject({
  verb: z.literal('enter'),
  uuid: PodUuid,
  app: AppName.optional(),
  exec: AppSpec.shape.exec.optional(),
});
export type EnterRequest = z.infer<typeof EnterRequest>;
/** Answered with one fd: a read-only detached mount of the exited pod's root filesystem. */
export const ExportRequest = z.strictObject({ verb: z.literal('export'), uuid: PodUuid });
export const CatManifestRequest = z.strictObject({ verb: z.literal('cat-manifest'), uuid: PodUuid });
/** Sent on a run connection while the pod runs. */
export const SignalRequest = z.strictObject({ verb: z.literal('signal'), signal: z.enum(['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGKILL']) });

export const Request = z.discriminatedUnion('verb', [
  HelloRequest, SealRequest, RunRequest, SignalRequest, TpmQuoteRequest, TpmLogRequest,
  PrepareRequest, RunPreparedRequest, ListRequest, StatusRequest, StopRequest, RmRequest, GcRequest, CatManifestRequest, EnterRequest, ExportRequest,
]);
export type Request = z.infer<typeof Request>;
export type RunRequest = z.infer<typeof RunRequest>;
export type SealRequest = z.infer<typeof SealRequest>;
export type PrepareRequest = z.infer<typeof PrepareRequest>;
export type GcRequest = z.infer<typeof GcRequest>;
export type AppSpec = z.infer<typeof AppSpec>;
export type ImageRef = z.infer<typeof ImageRef>;
export const VERBS = ['hello', 'seal', 'run', 'signal', 'tpm-quote', 'tpm-log', 'prepare', 'run-prepared', 'list', 'status', 'stop', 'rm', 'gc', 'cat-manifest', 'enter', 'export'] as const;
export type Verb = (typeof VERBS)[number];

/** Error codes the helper answers with; the frontend maps each to an exit status. */
export const ErrorCode = z.enum([
  'EFRAME',      // malformed frame: size, UTF-8, JSON, schema, fds
  'EVERB',       // unknown verb or verb not valid here
  'EDENIED',     // policy refuses the caller this verb or option
  'ENOTREE',     // tree digest unknown for this caller
  'ESEAL',       // the tree handed over cannot be sealed (type, owner, limits)
  'ENOSUBID',    // caller has no subordinate id range
  'ELAUNCH',     // ward-stage1 failed to set the pod up
  'ESELINUX',    // SELinux required but not enabled (or not enforcing), or labelling failed
  'ETPM',        // TPM measurement required by policy but failed, or no TPM to attest with
  'ENETWORK',    // the pod's network could not be set up (CNI configuration or plugin failure)
  'ENOPOD',      // no pod with this uuid
  'EPODSTATE',   // the pod is not in a state that allows this (rm of a running pod, run-prepared twice)
  'EINTERNAL',   // the helper's own failure
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const ErrorResponse = z.strictObject({ ok: z.literal(false), code: ErrorCode, message: z.string() });
export const HelloResponse = z.strictObject({ ok: z.literal(true), version: z.number(), uid: z.number(), gid: z.number(), pid: z.number(), verbs: z.array(z.string()) });
export const SealResponse = z.strictObject({ ok: z.literal(true), tree: TreeDigest, entries: z.number(), bytes: z.number(), cached: z.boolean() });
/** selinux: the pod's labels, null when it runs unlabelled. */
/** measured: whether the helper measured the pod into the TPM before launching it. */
export const StartedEvent = z.strictObject({ ok: z.literal(true), event: z.literal('started'), uuid: PodUuid, selinux: PodLabels.nullable(), measured: z.boolean().optional() });
export const ExitedEvent = z.strictObject({ ok: z.literal(true), event: z.literal('exited'), uuid: PodUuid, code: z.number().int(), signal: z.string().nullable() });
export const RunEvent = z.union([StartedEvent, ExitedEvent, ErrorResponse]);
export type ErrorResponse = z.infer<typeof ErrorResponse>;
