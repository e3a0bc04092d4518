// The hash-chained audit log: one JSON line per request, each carrying the hash of the one
// before, so an edited, removed, inserted or reordered record breaks the chain.
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { AuditRecord } from '../schema/audit';
import { GENESIS, recordHash } from '../schema/audit-chain';
import type { Peer } from './peer';

// The chain's format and its verification live in schema/ so the offline verifier shares them.
export { GENESIS, recordHash, verifyAuditLog } from '../schema/audit-chain';

export function argsDigest(bytes: Uint8Array): string {
  return 'sha256:' + crypto.createHash('sha256').update(bytes).digest('hex');
}

export class AuditLog {
  private fd: number;
  private seq = 0;
  private head = GENESIS;

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
    this.recover();
  }

  /** Picks up the chain where the last record left it. */
  private recover(): void {
    const text = fs.readFileSync(this.file, 'utf8');
    const last = text.trimEnd().split('\n').filter(Boolean).pop();
    if (!last) return;
    const rec = JSON.parse(last) as AuditRecord;
    this.seq = rec.seq + 1;
    this.head = rec.hash;
  }

  append(peer: Peer, verb: string, args: string, decision: 'allow' | 'deny', result: string): AuditRecord {
    const body = {
      seq: this.seq,
      time: new Date().toISOString(),
      uid: peer.uid,
      gid: peer.gid,
      pid: peer.pid,
      verb,
      argsDigest: args,
      decision,
      result,
      prev: this.head,
    };
    const rec: AuditRecord = { ...body, hash: recordHash(this.head, body) };
    fs.writeSync(this.fd, JSON.stringify(rec) + '\n');
    fs.fsyncSync(this.fd);
    this.seq++;
    this.head = rec.hash;
    return rec;
  }

  /** How many records the log holds and the last one's hash (GENESIS when empty): what the TPM anchors. */
  get position(): { records: number; head: string } {
    return { records: this.seq, head: this.head };
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
