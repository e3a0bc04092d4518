import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { AuditLog, verifyAuditLog } from '../../src/helper/audit';
import type { Peer } from '../../src/helper/peer';

const peer: Peer = Object.freeze({ uid: 1000, gid: 1000, pid: 42, pidfd: -1, user: 'u', groups: ['ward'] });

function makeLog(n: number): { file: string; lines: string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-audit-'));
  const file = path.join(dir, 'audit.log');
  const log = new AuditLog(file);
  for (let i = 0; i < n; i++) log.append(peer, 'run', `sha256:${String(i).padStart(64, '0')}`, 'allow', `ok ${i}`);
  log.close();
  return { file, lines: fs.readFileSync(file, 'utf8').trim().split('\n') };
}

test('an honest log verifies, and a reopened log continues the chain', () => {
  const { file } = makeLog(3);
  const log = new AuditLog(file);
  log.append(peer, 'hello', 'sha256:x', 'allow', 'ok');
  log.close();
  assert.deepEqual(verifyAuditLog(fs.readFileSync(file, 'utf8')), { ok: true, records: 4 });
});

test('edited, removed, inserted and reordered records are detected', () => {
  const { lines } = makeLog(5);
  const edited = [...lines];
  edited[2] = edited[2]!.replace('"ok 2"', '"ok 9"');
  assert.equal(verifyAuditLog(edited.join('\n')).ok, false);
  const removed = lines.filter((_, i) => i !== 2);
  assert.equal(verifyAuditLog(removed.join('\n')).ok, false);
  const inserted = [...lines.slice(0, 2), lines[1]!, ...lines.slice(2)];
  assert.equal(verifyAuditLog(inserted.join('\n')).ok, false);
  const reordered = [lines[0]!, lines[2]!, lines[1]!, ...lines.slice(3)];
  assert.equal(verifyAuditLog(reordered.join('\n')).ok, false);
  const truncatedHead = lines.slice(1);
  assert.equal(verifyAuditLog(truncatedHead.join('\n')).ok, false);
});
