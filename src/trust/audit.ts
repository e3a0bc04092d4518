// `ward audit verify`: the audit log's hash chain (src/schema/audit-chain.ts), and, given an event
// log from a verified quote, that every audit head the TPM anchored is in the chain: a log cut
// short, or replaced by another whose chain holds, fails there.
import { verifyAuditChain, GENESIS } from '../schema/audit-chain';
import type { AuditHeadEvent } from '../schema/tpm-log';

export type AuditVerdict =
  | { ok: true; records: number; head: string; anchorsChecked: number }
  | { ok: false; reason: string };

export function verifyAudit(text: string, anchors: readonly (AuditHeadEvent & { recnum: number })[] = []): AuditVerdict {
  const chain = verifyAuditChain(text);
  if (!chain.ok) return { ok: false, reason: `line ${chain.line}: ${chain.reason}: the log was edited, or records were removed, inserted or reordered` };
  for (const a of anchors) {
    if (a.records > chain.records) {
      return { ok: false, reason: `the TPM anchored ${a.records} audit records (event ${a.recnum}, ${a.reason} at ${a.time}) but the log has ${chain.records}: records were removed from its end` };
    }
    const head = a.records === 0 ? GENESIS : chain.hashes[a.records - 1]!;
    if (head !== a.head) {
      return { ok: false, reason: `the audit log after ${a.records} records does not have the head the TPM anchored (event ${a.recnum}): it was rewritten` };
    }
  }
  return { ok: true, records: chain.records, head: chain.records === 0 ? GENESIS : chain.hashes[chain.records - 1]!, anchorsChecked: anchors.length };
}
