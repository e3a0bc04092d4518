// hello: the caller learns the protocol version and how the helper sees it (from the kernel).
import { PROTOCOL_VERSION } from '../../schema/protocol';
import type { Peer } from '../peer';
import type { Grants } from '../policy';

export function hello(peer: Peer, grants: Grants) {
  return { ok: true as const, version: PROTOCOL_VERSION, uid: peer.uid, gid: peer.gid, pid: peer.pid, verbs: [...grants.verbs] };
}
