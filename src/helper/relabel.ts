// Relabelling a host volume for a pod, on request only (podman's :z and :Z): "shared" gives the
// content the container file type at s0, which every pod may use; "private" gives it the pod's
// own file label, so only that pod can. `ward run` asks for it with rkt's volume flag and one
// more key (src/pod/volume-args.ts, src/helper/verbs/run-volumes.ts):
//   --volume NAME,kind=host,source=/path[,readOnly=true][,selinuxRelabel=shared|private]
//
// Relabelling as root is a way to take files from other users or from the system, so it is
// refused for system paths (and everything inside the system trees), for the helper's own state,
// for home directories themselves, for paths the caller does not own, and for any entry below
// owned by someone other than the caller or the caller's subordinate ids (a hard link to a file
// of someone else's would otherwise carry the label to that file). Mount points below are not
// crossed.
import fs from 'node:fs';
import path from 'node:path';
import { HelperError } from './errors';
import { labelTree, type WalkResult } from './label-tree';
import type { SubIdRange } from './peer';
import { withLevel } from './selinux';

/** Never relabelled themselves (nor anything that contains one of them, such as /). */
export const SYSTEM_PATHS: readonly string[] = [
  '/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/libx32', '/media', '/mnt', '/opt',
  '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/var', '/var/lib', '/var/log', '/var/tmp',
  '/var/run', '/var/cache', '/var/spool', '/var/mail',
];

/** Nothing inside these is ever a volume to relabel: the system's own trees. */
export const SYSTEM_TREES: readonly string[] = ['/bin', '/boot', '/dev', '/etc', '/proc', '/root', '/sbin', '/sys', '/usr', '/var/log'];

export type RelabelMode = 'shared' | 'private';

export interface RelabelContext {
  /** The caller's uid and subordinate ranges: the only owners whose files may be relabelled. */
  uid: number;
  subIds: { uid: SubIdRange; gid: SubIdRange };
  stateDir: string;
  /** Home directories from the passwd database (never relabelled as a whole). */
  homes?: readonly string[];
}

function isWithin(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir === '/' ? '/' : dir + '/');
}

function homesFromPasswd(): string[] {
  try {
    return fs.readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')[5] ?? '').filter((h) => h.startsWith('/'));
  } catch {
    return [];
  }
}

/** Why `real` (a resolved absolute path) may not be relabelled, or null if it may. */
export function relabelRefusal(real: string, ctx: Pick<RelabelContext, 'stateDir' | 'homes'>): string | null {
  const p = path.posix.normalize(real).replace(/(.)\/+$/, '$1');
  if (!p.startsWith('/')) return `${real} is not an absolute path`;
  for (const s of SYSTEM_PATHS) if (isWithin(s, p)) return `${p} is ${p === s ? 'a system path' : `a parent of the system path ${s}`}`;
  if (/^\/lib[^/]*$/.test(p) || /^\/lib[^/]*\//.test(p)) return `${p} is inside the system library tree`;
  for (const t of SYSTEM_TREES) if (isWithin(p, t)) return `${p} is inside the system tree ${t}`;
  const state = path.posix.normalize(ctx.stateDir);
  if (isWithin(p, state) || isWithin(state, p)) return `${p} ${isWithin(p, state) ? 'is inside' : 'contains'} ward's state directory ${state}`;
  for (const h of ctx.homes ?? homesFromPasswd()) if (h !== '/' && p === path.posix.normalize(h)) return `${p} is a home directory (relabel a directory inside it)`;
  return null;
}

/** The label a volume gets: the pod's own (private) or the shared file type at s0. */
export function volumeLabel(mode: RelabelMode, podFileLabel: string): string {
  return mode === 'private' ? podFileLabel : withLevel(podFileLabel, 's0');
}

/**
 * Relabels the host path `source` for a pod whose file label is `podFileLabel`. The path is
 * opened first (the caller's own symlinks on the way are followed, as for any volume source),
 * and every rule is checked against what was opened, named by the kernel (/proc/self/fd), not
 * against the string the caller sent: a symlink to /etc is refused as /etc.
 */
export async function relabelVolume(source: string, mode: RelabelMode, podFileLabel: string, ctx: RelabelContext): Promise<WalkResult> {
  if (!path.isAbsolute(source)) throw new HelperError('EDENIED', `volume source ${source} must be an absolute path`);
  const early = relabelRefusal(source, ctx);
  if (early) throw new HelperError('EDENIED', `refusing to relabel ${source}: ${early}`);
  let fd: number;
  try {
    fd = fs.openSync(source, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch (e) {
    throw new HelperError('EDENIED', `cannot relabel ${source}: ${(e as NodeJS.ErrnoException).code === 'ENOTDIR' ? 'not a directory' : (e as Error).message}`);
  }
  try {
    return await relabelVolumeFd(fd, source, mode, podFileLabel, ctx);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Relabels the directory `fd` (a volume source the helper opened with the caller's credentials;
 * `source` names it in messages). The rules are checked against what the fd is, by the kernel's
 * name for it; entries below are reached through fds only (label-tree.ts).
 */
export async function relabelVolumeFd(fd: number, source: string, mode: RelabelMode, podFileLabel: string, ctx: RelabelContext): Promise<WalkResult> {
  const st = fs.fstatSync(fd);
  if (!st.isDirectory()) throw new HelperError('EDENIED', `cannot relabel ${source}: not a directory`);
  const real = fs.readlinkSync(`/proc/self/fd/${fd}`);
  const why = relabelRefusal(real, ctx);
  if (why) throw new HelperError('EDENIED', `refusing to relabel ${source}: ${why}`);
  if (st.uid !== ctx.uid) throw new HelperError('EDENIED', `refusing to relabel ${source}: it is owned by uid ${st.uid}, not by you`);
  const ownsIt = (s: fs.Stats): boolean => s.uid === ctx.uid || (s.uid >= ctx.subIds.uid.base && s.uid < ctx.subIds.uid.base + ctx.subIds.uid.count);
  const check = (s: fs.Stats, where: string): void => {
    if (!ownsIt(s)) throw new HelperError('EDENIED', `refusing to relabel ${source}: ${where} is owned by uid ${s.uid}, neither you nor your subordinate ids`);
  };
  // Check everything first, so a refusal leaves the volume as it was; the labelling walk
  // checks again (the caller may change the tree in between).
  const label = volumeLabel(mode, podFileLabel);
  await labelTree(fd, label, { check, dryRun: true });
  return await labelTree(fd, label, { check });
}
