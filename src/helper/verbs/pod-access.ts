// Tenancy (Pods issue §2): a pod belongs to the uid that made it. Every verb that names a pod
// checks the caller against the record's owner here, in the helper; members of the admin group
// see and touch every pod. The caller's identity is the kernel's (SO_PEERCRED), never the request's.
import type { PodRecord } from '../../schema/pod';
import { HelperError } from '../errors';
import type { Peer } from '../peer';

export const ADMIN_GROUP = 'ward-admin';

export function isAdmin(peer: Peer): boolean {
  return peer.groups.includes(ADMIN_GROUP);
}

export function mayTouch(peer: Peer, rec: PodRecord): boolean {
  return rec.owner.uid === peer.uid || isAdmin(peer);
}

/**
 * Refuses unless the caller owns the pod (or, where adminMay, is an admin). Starting a pod is
 * acting as its owner (their subordinate ids, their sealed tree): owners only.
 */
export function requireOwner(peer: Peer, rec: PodRecord, what: string, adminMay = true): void {
  if (adminMay ? !mayTouch(peer, rec) : rec.owner.uid !== peer.uid) {
    if (!adminMay) throw new HelperError('EDENIED', `pod ${rec.uuid} is not yours: only its owner may ${what} it`);
    throw new HelperError('EDENIED', `pod ${rec.uuid} is not yours: only its owner or a member of group ${ADMIN_GROUP} may ${what} it`);
  }
}
