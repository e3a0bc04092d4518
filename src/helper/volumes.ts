// Pod volumes on the helper's side: the rules a request must pass (checked when a pod is
// prepared and again when it starts), host sources opened with the caller's own credentials
// (addon openAs), and the pod's empty volumes. Every refusal is one line naming the volume.
import fs from 'node:fs';
import path from 'node:path';
import { addon } from '../native/addon';
import type { AppSpec, Volume } from '../schema/protocol';
import { HelperError } from './errors';
import type { Peer, SubIdRange } from './peer';
import { relabelRefusal } from './relabel';

/** Paths inside the pod no volume may be mounted on (or below): the kernel's own file systems. */
const FORBIDDEN_TARGETS = ['/proc', '/sys'];

function isWithin(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir + '/');
}

/** Whether the policy's hostVolumes grant covers `p` (whole path segments; "*": anything). */
export function hostVolumeGranted(grants: ReadonlySet<string>, p: string): boolean {
  if (grants.has('*')) return true;
  for (const g of grants) if (isWithin(p, g)) return true;
  return false;
}

/**
 * The request's volumes and mounts, as far as they can be judged without opening anything:
 * unique names, mounts naming a volume of the pod at allowed targets, host sources inside the
 * caller's grant, relabelling never of a system path.
 */
export function checkVolumes(volumes: readonly Volume[], apps: readonly AppSpec[], hostGrant: ReadonlySet<string>, stateDir: string): void {
  const names = new Set<string>();
  for (const v of volumes) {
    if (names.has(v.name)) throw new HelperError('EDENIED', `volume ${v.name} is given twice; give each volume one --volume`);
    names.add(v.name);
    if (v.kind !== 'host') continue;
    if (!hostVolumeGranted(hostGrant, v.source)) {
      throw new HelperError('EDENIED', `host volume ${v.name}: helper policy does not allow you to mount ${v.source} (hostVolumes); ask an administrator to grant it, or use kind=empty`);
    }
    if (v.selinuxRelabel) {
      const why = relabelRefusal(v.source, { stateDir });
      if (why) throw new HelperError('EDENIED', `host volume ${v.name}: refusing to relabel ${v.source}: ${why}`);
    }
  }
  for (const app of apps) {
    const paths = new Set<string>();
    for (const m of app.mounts ?? []) {
      if (!names.has(m.volume)) throw new HelperError('EDENIED', `mount of volume ${m.volume} at ${m.path}: the pod has no such volume; add --volume ${m.volume},kind=...`);
      if (m.path === '/' || FORBIDDEN_TARGETS.some((t) => isWithin(m.path, t))) {
        throw new HelperError('EDENIED', `mount of volume ${m.volume} at ${m.path}: volumes cannot be mounted on / or inside /proc or /sys; choose another target`);
      }
      if (paths.has(m.path)) throw new HelperError('EDENIED', `two volumes are mounted at ${m.path}; give each mount its own target`);
      paths.add(m.path);
    }
  }
}

/** The caller's groups by id, as login gives them: the primary group and every group listing the user. */
export function callerGroupIds(peer: Peer, groupFile = '/etc/group'): number[] {
  const ids = new Set<number>([peer.gid]);
  let text = '';
  try {
    text = fs.readFileSync(groupFile, 'utf8');
  } catch {
    /* the primary group only */
  }
  for (const line of text.split('\n')) {
    const [name, , gid, members] = line.split(':');
    if (!name || !peer.user || !/^\d+$/.test(gid ?? '')) continue;
    if ((members ?? '').split(',').includes(peer.user)) ids.add(Number(gid));
  }
  return [...ids].slice(0, 256);
}

/**
 * Opens a host volume's source as the caller (their uid, gid and groups): a path they cannot
 * read is refused though root could read it. What was opened is then judged by the kernel's
 * name for it, so a symlink out of the granted paths is refused as where it leads.
 */
export function openHostSource(peer: Peer, v: Extract<Volume, { kind: 'host' }>, hostGrant: ReadonlySet<string>): number {
  let fd: number;
  try {
    fd = addon().openAs(v.source, peer.uid, peer.gid, callerGroupIds(peer));
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why =
      code === 'EACCES' || code === 'EPERM' ? 'you may not read it (checked with your own credentials)'
      : code === 'ENOENT' ? 'it does not exist'
      : code === 'EBADTYPE' ? 'it is neither a directory nor a regular file'
      : code === 'ELOOP' ? 'it leads through a magic link or too many symlinks'
      : (e as Error).message;
    throw new HelperError('EDENIED', `host volume ${v.name}: cannot use ${v.source}: ${why}`);
  }
  try {
    const real = fs.readlinkSync(`/proc/self/fd/${fd}`);
    if (!hostVolumeGranted(hostGrant, real)) {
      throw new HelperError('EDENIED', `host volume ${v.name}: ${v.source} leads to ${real}, which helper policy does not allow you to mount (hostVolumes)`);
    }
    return fd;
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/**
 * An empty volume: POD/volumes/<name>, owned by the pod's ids for the uid and gid asked for
 * (appc defaults 0, 0, mode 0755), removed with the pod's directory. Returns an O_RDONLY fd.
 */
export function makeEmptyVolume(podDir: string, v: Extract<Volume, { kind: 'empty' }>, ids: { uid: SubIdRange; gid: SubIdRange }): number {
  const base = path.join(podDir, 'volumes');
  fs.mkdirSync(base, { mode: 0o700, recursive: true });
  const dir = path.join(base, v.name);
  fs.mkdirSync(dir, { mode: 0o700 });
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    fs.fchownSync(fd, ids.uid.base + (v.uid ?? 0), ids.gid.base + (v.gid ?? 0));
    fs.fchmodSync(fd, v.mode ?? 0o755);
    return fd;
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}
