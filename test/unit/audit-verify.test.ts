// The offline audit check: the chain (shared with the helper) and the heads the TPM anchored.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { AuditLog } from '../../src/helper/audit';
import type { Peer } from '../../src/helper/peer';
import { GENESIS } from '../../src/schema/audit-chain';
import { verifyAudit } from '../../src/trust/audit';

const peer: Peer = Object.freeze({ uid: 1000, gid: 1000, pid: 42, pidfd: -1, user: 'u', groups: ['ward'] });
const anchor = (records: number, head: string) => ({ event_type: 'audit-head' as const, time: '2026-01-01T00:00:00Z', reason: 'periodic' as const, records, head, recnum: 0 });

test('the heads the TPM anchored must be in the chain: a log cut at its end or rewritten fails', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ward-audit-')), 'audit.log');
  const log = new AuditLog(file);
  assert.deepEqual(log.position, { records: 0, head: GENESIS });
  const heads = [log.position];
  for (let i = 0; i < 4; i++) {
    log.append(peer, 'hello', 'sha256:x', 'allow', `ok ${i}`);
    heads.push(log.position);
  }
  log.close();
  const text = fs.readFileSync(file, 'utf8');
  const anchors = heads.map((h) => anchor(h.records, h.head));
  const ok = verifyAudit(text, anchors);
  assert.ok(ok.ok && ok.records === 4 && ok.anchorsChecked === 5 && ok.head === heads[4]!.head);

  const lines = text.trim().split('\n');
  const cut = verifyAudit(lines.slice(0, 2).join('\n') + '\n', anchors);
  assert.ok(!cut.ok && /anchored 3 audit records .* the log has 2: records were removed from its end/.test(cut.reason), JSON.stringify(cut));
  // Without anchors, a log cut at its end still verifies: that is what the anchors are for.
  assert.ok(verifyAudit(lines.slice(0, 2).join('\n') + '\n').ok);

  const other = verifyAudit(text, [anchor(2, 'sha256:' + 'f'.repeat(64))]);
  assert.ok(!other.ok && /does not have the head the TPM anchored/.test(other.reason));

  const edited = verifyAudit(text.replace('"ok 1"', '"ok 7"'));
  assert.ok(!edited.ok && /line 2: record hash does not match/.test(edited.reason));
  const reordered = verifyAudit([lines[0], lines[2], lines[1], lines[3]].join('\n'));
  assert.ok(!reordered.ok && /line 2: sequence 2, expected 1/.test(reordered.reason));
  const notRecord = verifyAudit(lines[0]!.replace('"verb":"hello"', '"verb":7') + '\n');
  assert.ok(!notRecord.ok && /not an audit record/.test(notRecord.reason));
});
