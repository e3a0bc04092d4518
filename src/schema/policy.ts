// policies/helper.json: who may do what through ward-helper. Strict: an unknown field rejects
// the file, and a missing or invalid file stops the helper (fail closed).
import { z } from 'zod';
import { InsecureOption, VERBS } from './protocol';
import { PolicyTpm } from './tpm-policy';
import { PolicySelinux } from './selinux';

export const Grant = z.strictObject({
  verbs: z.array(z.enum(VERBS)),
  insecureOptions: z.array(InsecureOption).default([]),
  /** Unverified images may run (with --insecure-options=image) for members. */
  allowUnverified: z.boolean().default(false),
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
