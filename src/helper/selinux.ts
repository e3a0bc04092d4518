// What SELinux does for one pod: the decision (modes of the policy and of the request against
// what the host has), the pod's labels from its MCS pair and the host's container types, and
// the record of them in the pod's directory that `ward status` reads back.
import fs from 'node:fs';
import path from 'node:path';
import { checkContext, getEnforce, isSelinuxEnabled, readLxcContexts, SelinuxError } from '../native/selinux';
import { PodLabels, type LxcContexts, type PolicySelinux, type RunSelinuxMode } from '../schema/selinux';
import { HelperError } from './errors';
import type { StateDir } from './state';

/** The types ward uses where the host has no lxc_contexts (container-selinux's names). */
export const DEFAULT_TYPES = Object.freeze({
  process: 'system_u:system_r:container_t:s0',
  file: 'system_u:object_r:container_file_t:s0',
  roFile: 'system_u:object_r:container_ro_file_t:s0',
});
export type LabelTypes = { process: string; file: string; roFile: string };

export interface HostSelinux {
  enabled: boolean;
  /** null where SELinux is not enabled. */
  enforcing: boolean | null;
}

export function probeHost(): HostSelinux {
  const enabled = isSelinuxEnabled();
  return { enabled, enforcing: enabled ? getEnforce() : null };
}

/** The host's container contexts: lxc_contexts' process, file and ro_file when present. */
export function labelTypes(lxc: LxcContexts | null = readLxcContexts()): LabelTypes {
  return {
    process: lxc?.process ?? DEFAULT_TYPES.process,
    file: lxc?.file ?? DEFAULT_TYPES.file,
    roFile: lxc?.ro_file ?? DEFAULT_TYPES.roFile,
  };
}

/** user:role:type of ctx with `level` in place of whatever level or range it had. */
export function withLevel(ctx: string, level: string): string {
  const [user, role, type] = ctx.split(':');
  return `${user}:${role}:${type}:${level}`;
}

export interface SelinuxPlan {
  /** The mode in force for this pod, for the audit record. */
  mode: 'auto' | 'require' | 'off' | 'force-files';
  /** Allocate a pair and label the pod's files (upper, work, sealed tree). */
  files: boolean;
  /** Stage the process label in attr/exec (needs SELinux in the kernel). */
  exec: boolean;
  /** Pass context= on stage1's mounts (needs SELinux in the kernel; the option fails without). */
  mounts: boolean;
}

/**
 * The policy's mode is the default and the floor: a request may ask for more (require), never
 * for less than the policy allows (off needs allowOff, and nothing weaker than a policy's require).
 */
export function planFor(policy: PolicySelinux, requested: RunSelinuxMode | undefined, host: HostSelinux): SelinuxPlan {
  if (requested === 'off') {
    if (!policy.allowOff) throw new HelperError('EDENIED', 'helper policy does not allow --selinux=off (selinux.allowOff is false); run without it');
    return { mode: 'off', files: false, exec: false, mounts: false };
  }
  if (requested === 'auto' && policy.mode === 'require') {
    throw new HelperError('EDENIED', 'helper policy requires SELinux labels (selinux.mode is "require"); --selinux=auto would allow running unlabelled: run without it');
  }
  const mode = requested ?? policy.mode;
  if (mode === 'off') return { mode, files: false, exec: false, mounts: false };
  if (mode === 'require') {
    if (!host.enabled) {
      throw new HelperError('ESELINUX', 'SELinux is required (--selinux=require or the helper policy) but this kernel has no SELinux enabled; boot it with selinux=1 security=selinux and a policy, or run with --selinux=auto');
    }
    if (policy.requireEnforcing && host.enforcing !== true) {
      throw new HelperError('ESELINUX', 'SELinux is required in enforcing mode (helper policy selinux.requireEnforcing) but it is permissive; run setenforce 1 (and set SELINUX=enforcing in /etc/selinux/config)');
    }
  }
  if (host.enabled) return { mode, files: true, exec: true, mounts: true };
  const files = policy.mode === 'force-files';
  return { mode: files ? 'force-files' : mode, files, exec: false, mounts: false };
}

/** The pod's labels from its level; checked against the loaded policy where there is one. */
export function podLabelsFor(types: LabelTypes, level: string, withProcess: boolean): PodLabels {
  const labels = PodLabels.parse({ process: withProcess ? withLevel(types.process, level) : null, file: withLevel(types.file, level), level });
  try {
    if (labels.process) checkContext(labels.process);
    checkContext(labels.file);
  } catch (e) {
    if (e instanceof SelinuxError) throw new HelperError('ESELINUX', e.message);
    throw e;
  }
  return labels;
}

/** The label every sealed tree carries: read-only container content, no categories (shared). */
export function treeLabel(types: LabelTypes): string {
  return withLevel(types.roFile, 's0');
}

const LABELS_FILE = 'selinux.json';

/** Records the pod's labels in its directory (write then rename: never half a file). */
export function recordPodLabels(podDir: string, labels: PodLabels): void {
  const tmp = path.join(podDir, `.${LABELS_FILE}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify(labels) + '\n', { mode: 0o600, flag: 'w' });
  fs.renameSync(tmp, path.join(podDir, LABELS_FILE));
}

/**
 * A pod's labels, for `ward status`: null when the pod runs unlabelled or does not exist.
 * The record is the helper's own file, still parsed strictly.
 */
export function podLabels(state: StateDir, uuid: string): PodLabels | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(state.pod(uuid), LABELS_FILE), 'utf8');
  } catch {
    return null;
  }
  const parsed = PodLabels.safeParse(JSON.parse(text));
  return parsed.success ? parsed.data : null;
}

/** One line for the audit record and the helper's log. */
export function describeLabels(plan: SelinuxPlan, labels: PodLabels | null): string {
  if (!labels) return `selinux ${plan.mode} unlabelled`;
  return `selinux ${plan.mode} process ${labels.process ?? '-'} file ${labels.file}`;
}
