// The audit log's hash chain (the format of src/schema/audit.ts records, one JSON line each):
// hash = sha256(previous hash, "\n", the record's JSON without its hash). The helper writes it
// (src/helper/audit.ts); `ward audit verify` checks a copy offline with the same functions.
import crypto from 'node:crypto';
import { AuditRecord } from './audit';

export const GENESIS = 'sha256:' + '0'.repeat(64);

export function recordHash(prev: string, body: Omit<AuditRecord, 'hash'>): string {
  return 'sha256:' + crypto.createHash('sha256').update(prev).update('\n').update(JSON.stringify(body)).digest('hex');
}

export type AuditChain = { ok: true; records: number; hashes: string[] } | { ok: false; line: number; reason: string };

/** Walks the whole chain; on success, the hash after each record (hashes[n-1] is the head after n records). */
export function verifyAuditChain(text: string): AuditChain {
  let prev = GENESIS;
  const rows = text.split('\n').filter(Boolean);
  const hashes: string[] = [];
  for (let i = 0; i < rows.length; i++) {
    let raw: unknown;
    try {
      raw = JSON.parse(rows[i]!);
    } catch {
      return { ok: false, line: i + 1, reason: 'not JSON' };
    }
    const parsed = AuditRecord.safeParse(raw);
    if (!parsed.success) return { ok: false, line: i + 1, reason: `not an audit record (${parsed.error.issues[0]?.path.join('.') || 'top'}: ${parsed.error.issues[0]?.message})` };
    // Hash what the file holds, in its order: a re-serialized record would hide nothing but prove less.
    const rec = raw as AuditRecord;
    const { hash, ...body } = rec;
    if (rec.seq !== i) return { ok: false, line: i + 1, reason: `sequence ${rec.seq}, expected ${i}` };
    if (rec.prev !== prev) return { ok: false, line: i + 1, reason: 'previous hash does not match' };
    if (recordHash(prev, body) !== hash) return { ok: false, line: i + 1, reason: 'record hash does not match its content' };
    hashes.push(hash);
    prev = hash;
  }
  return { ok: true, records: rows.length, hashes };
}

/** Checks a whole log; returns the first broken record's line number, or null if intact. */
export function verifyAuditLog(text: string): { ok: true; records: number } | { ok: false; line: number; reason: string } {
  const r = verifyAuditChain(text);
  return r.ok ? { ok: true, records: r.records } : r;
}
