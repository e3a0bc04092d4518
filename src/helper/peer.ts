// Who is calling: identity from the kernel (SO_PEERCRED, pidfd), then the user's name, groups
// and subordinate ids from the root-owned account files. Kept as a typed, frozen value; never
// formatted into strings that also carry request data (snapd CVE-2019-7304).
import fs from 'node:fs';
import { HelperError } from './errors';

export interface Peer {
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  readonly pidfd: number;
  readonly user: string;
  readonly groups: readonly string[];
}

export interface SubIdRange {
  readonly base: number;
  readonly count: number;
}

/** The size of the id range every pod maps: container ids 0..65535. */
export const POD_ID_COUNT = 65536;

interface AccountFiles {
  passwd: string;
  group: string;
  subuid: string;
  subgid: string;
}

export const SYSTEM_ACCOUNT_FILES: AccountFiles = {
  passwd: '/etc/passwd',
  group: '/etc/group',
  subuid: '/etc/subuid',
  subgid: '/etc/subgid',
};

function lines(file: string): string[][] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
}

export function identify(cred: { uid: number; gid: number; pid: number; pidfd: number }, files = SYSTEM_ACCOUNT_FILES): Peer {
  const pw = lines(files.passwd).find((f) => Number(f[2]) === cred.uid);
  const user = pw?.[0] ?? '';
  const groups = new Set<string>();
  for (const g of lines(files.group)) {
    const [name, , gidText, members] = g;
    if (!name) continue;
    if (Number(gidText) === cred.gid) groups.add(name);
    if (user && (members ?? '').split(',').includes(user)) groups.add(name);
  }
  return Object.freeze({ uid: cred.uid, gid: cred.gid, pid: cred.pid, pidfd: cred.pidfd, user, groups: Object.freeze([...groups]) });
}

function subRange(file: string, peer: Peer): SubIdRange {
  for (const [owner, start, count] of lines(file)) {
    if (owner !== peer.user && owner !== String(peer.uid)) continue;
    const base = Number(start);
    const n = Number(count);
    if (Number.isSafeInteger(base) && base > 0 && Number.isSafeInteger(n) && n >= POD_ID_COUNT) return { base, count: POD_ID_COUNT };
  }
  throw new HelperError('ENOSUBID', `user ${peer.user || peer.uid} has no subordinate id range of ${POD_ID_COUNT} ids in ${file}; an administrator can add one with: usermod --add-subuids N-M --add-subgids N-M ${peer.user || peer.uid}`);
}

export function subIds(peer: Peer, files = SYSTEM_ACCOUNT_FILES): { uid: SubIdRange; gid: SubIdRange } {
  return { uid: subRange(files.subuid, peer), gid: subRange(files.subgid, peer) };
}
