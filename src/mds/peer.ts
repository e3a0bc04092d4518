// The uid of a Unix-socket peer, from the kernel (SO_PEERCRED), taken when it connected.
import fs from 'node:fs';
import type net from 'node:net';
import { addon } from '../native/addon';

export function peerUidOf(socket: net.Socket): number | null {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return null;
  try {
    const cred = addon().peerCred(fd);
    if (cred.pidfd >= 0) fs.closeSync(cred.pidfd);
    return cred.uid;
  } catch {
    return null;
  }
}
