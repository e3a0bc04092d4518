// The hash-chained audit log: one JSON line per request, each carrying the hash of the one
// before, so an edited, removed, inserted or reordered record breaks the chain.
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { AuditRecord } from '../schema/audit';
import type { Peer } from './peer';

export const GENESIS = 'sha256:' + '0'.repeat(64);

export function recordHash(prev: string, body: Omit<AuditRecord, 'hash'>): string {
  return 'sha256:' + crypto.createHash('sha256').update(prev).update('\n').update(JSON.stringify(body)).digest('hex');
}

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

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Checks a whole log; returns the first broken record's line number, or null if intact. */
export function verifyAuditLog(text: string): { ok: true; records: number } | { ok: false; line: number; reason: string } {
  let prev = GENESIS;
  let seq = 0;
  const rows = text.split('\n').filter(Boolean);
  for (let i = 0; i < rows.length; i++) {
    let rec: AuditRecord;
    try {
      rec = JSON.parse(rows[i]!) as AuditRecord;
    } catch {
      return { ok: false, line: i + 1, reason: 'not JSON' };
    }
    const { hash, ...body } = rec;
    if (rec.seq !== seq) return { ok: false, line: i + 1, reason: `sequence ${rec.seq}, expected ${seq}` };
    if (rec.prev !== prev) return { ok: false, line: i + 1, reason: 'previous hash does not match' };
    if (recordHash(prev, body) !== hash) return { ok: false, line: i + 1, reason: 'record hash does not match its content' };
    prev = hash;
    seq++;
  }
  return { ok: true, records: rows.length };
}
