// policies/helper.json: who may do what through ward-helper. Strict: an unknown field rejects
// the file, and a missing or invalid file stops the helper (fail closed).
import { z } from 'zod';
import { InsecureOption, VERBS } from './protocol';
import { PolicyTpm } from './tpm-policy';
import { PolicySelinux } from './selinux';
import { CapName, SyscallName } from './app-security';

/** "*", or an absolute path without ".", ".." or empty components (a prefix by whole segments). */
export const HostVolumeGrant = z.union([
  z.literal('*'),
  z.string().max(4096).regex(/^(\/[^/\u0000]+)+$/, 'must be "*" or an absolute path').refine((p) => p.split('/').every((c) => c !== '.' && c !== '..'), 'must not contain "." or ".." components'),
]);

export const Grant = z.strictObject({
  verbs: z.array(z.enum(VERBS)),
  insecureOptions: z.array(InsecureOption).default([]),
  /** Unverified images may run (with --insecure-options=image) for members. */
  allowUnverified: z.boolean().default(false),
  /** Capabilities members may add beyond appc's default set (--caps-retain). Absent: none. */
  caps: z.array(CapName).default([]),
  /** Syscalls members may keep beyond what the default seccomp profile allows (--seccomp mode=retain). Absent: none. */
  seccompAllow: z.array(SyscallName).max(1024).default([]),
  /** Host volumes members may mount: absolute path prefixes, by whole path segments, or "*" for any. Absent: none. */
  hostVolumes: z.array(HostVolumeGrant).max(256).optional(),
  /** CNI networks members may join by name ("*": any the helper knows). Absent: none (pods run with --net=none). */
  networks: z.union([z.array(z.string().min(1).max(63)), z.literal('*')]).optional(),
  /** --net=host: share the host's network namespace. Absent: refused. */
  hostNetwork: z.boolean().optional(),
  /** --port: "unprivileged" forwards host ports >= 1024 only, "any" every port. Absent: no forwarding. */
  ports: z.enum(['unprivileged', 'any']).optional(),
  /** Pods may be registered with the metadata service (--mds-register). */
  mdsRegister: z.boolean().default(false),
});

/**
 * A per-user override: each field given replaces what the user's groups grant (so a user can be
 * granted more, or denied what their group allows, e.g. unverified images).
 */
export const UserGrant = z.strictObject({
  verbs: z.array(z.enum(VERBS)).optional(),
  insecureOptions: z.array(InsecureOption).optional(),
  allowUnverified: z.boolean().optional(),
  caps: z.array(CapName).optional(),
  seccompAllow: z.array(SyscallName).max(1024).optional(),
  hostVolumes: z.array(HostVolumeGrant).max(256).optional(),
  networks: z.union([z.array(z.string().min(1).max(63)), z.literal('*')]).optional(),
  hostNetwork: z.boolean().optional(),
  ports: z.enum(['unprivileged', 'any']).optional(),
  mdsRegister: z.boolean().optional(),
});

export const HelperPolicy = z.strictObject({
  version: z.literal(1),
  /** Group whose members may connect (the socket is root:<group> 0660). */
  socketGroup: z.string().min(1),
  /** Grants per group name; a caller gets the union of the grants of the groups it belongs to. */
  groups: z.record(z.string().min(1), Grant),
  /** Overrides per user name, applied after the groups' union. Absent: none. */
  users: z.record(z.string().min(1), UserGrant).default({}),
  limits: z.strictObject({
    treeEntries: z.number().int().positive(),
    treeBytes: z.number().int().positive(),
    treeDepth: z.number().int().positive(),
    podsPerUser: z.number().int().positive(),
  }),
  seccompProfile: z.string().min(1),
  /** Absent: the host's /dev/tpmrm0 if any, the default NV index, measurement not required, audit head every 300 s. */
  tpm: PolicyTpm.prefault({}),
  /** Absent: {"mode": "auto", "requireEnforcing": false, "allowOff": false}. */
  selinux: PolicySelinux.prefault({}),
});
export type HelperPolicy = z.infer<typeof HelperPolicy>;
