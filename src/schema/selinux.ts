// SELinux formats ward reads or writes: security contexts, MCS levels, the host's lxc_contexts
// file, the pod's labels as the helper records them, and the modes a run may ask for.
import { z } from 'zod';

/** A sensitivity with optional categories: s0, s0:c1,c2, s0:c0.c1023. */
const LEVEL = 's[0-9]{1,4}(?::c[0-9]{1,4}(?:[.,]c[0-9]{1,4})*)?';
/** user:role:type[:level[-level]] (the MLS range form is what lxc_contexts and refpolicy use). */
export const CONTEXT_RE = new RegExp(`^[A-Za-z0-9_.]+:[A-Za-z0-9_.]+:[A-Za-z0-9_.]+(?::${LEVEL}(?:-${LEVEL})?)?$`);

export const SelinuxContext = z.string().max(255).regex(CONTEXT_RE, 'must be an SELinux context user:role:type[:level]');
export type SelinuxContext = z.infer<typeof SelinuxContext>;

/** The pod's MCS level: one sensitivity and exactly two categories c1 < c2 from c0..c1023. */
export const McsLevel = z
  .string()
  .regex(/^s0:c([0-9]|[1-9][0-9]{1,2}|10[0-1][0-9]|102[0-3]),c([0-9]|[1-9][0-9]{1,2}|10[0-1][0-9]|102[0-3])$/, 'must be s0:cX,cY with X and Y in 0..1023')
  .refine((l) => {
    const [a, b] = l.slice(3).split(',').map((c) => Number(c.slice(1)));
    return a! < b!;
  }, 'the first category must be smaller than the second');
export type McsLevel = z.infer<typeof McsLevel>;

/**
 * The host's lxc_contexts (selinux_lxc_contexts_path()): `key = "context"` lines, # comments.
 * ward uses process, file and ro_file; other keys (content, sandbox_*) are accepted and ignored.
 */
export const LxcContexts = z.object({
  process: SelinuxContext.optional(),
  file: SelinuxContext.optional(),
  ro_file: SelinuxContext.optional(),
});
export type LxcContexts = z.infer<typeof LxcContexts>;

/** What `ward run --selinux=` may ask for. */
export const RunSelinuxMode = z.enum(['auto', 'require', 'off']);
export type RunSelinuxMode = z.infer<typeof RunSelinuxMode>;

/**
 * The helper policy's SELinux section. mode is the default for runs that do not ask:
 * - auto: label pods when SELinux is enabled, run them unlabelled when it is not;
 * - require: refuse to start a pod unless SELinux is enabled (and enforcing, with requireEnforcing);
 * - off: never label (only where allowOff is true; a policy that says off must say allowOff);
 * - force-files: as auto, and on hosts whose kernel lacks SELinux still allocate each pod a pair
 *   and write file labels (upper and work dirs, sealed trees) as xattrs, so a filesystem that
 *   later boots with SELinux, or is moved to a host that has it, is already labelled. The exec
 *   label and context= mounts need the kernel and are never attempted without it.
 */
export const PolicySelinux = z
  .strictObject({
    mode: z.enum(['auto', 'require', 'off', 'force-files']).default('auto'),
    /** With mode require (policy's or the caller's): refuse unless SELinux is enforcing. */
    requireEnforcing: z.boolean().default(false),
    /** Whether callers may pass --selinux=off. */
    allowOff: z.boolean().default(false),
  })
  .refine((s) => !(s.mode === 'require' && s.allowOff), 'allowOff contradicts mode "require"')
  .refine((s) => s.mode !== 'off' || s.allowOff, 'mode "off" needs allowOff: true');
export type PolicySelinux = z.infer<typeof PolicySelinux>;

/** A pod's labels as the helper reports them (run's started event, audit, status). */
export const PodLabels = z.strictObject({
  /** The label the app runs with, or null when it runs unlabelled (no SELinux in the kernel). */
  process: SelinuxContext.nullable(),
  /** The label of the pod's writable files and runtime mounts. */
  file: SelinuxContext,
  level: McsLevel,
});
export type PodLabels = z.infer<typeof PodLabels>;
