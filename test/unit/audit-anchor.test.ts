// The audit head is anchored at start and stop, and periodically only when it moved.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { AuditLog } from '../../src/helper/audit';
import type { Peer } from '../../src/helper/peer';
import { AuditAnchor } from '../../src/helper/tpm/audit-anchor';
import type { Measurer } from '../../src/helper/tpm/measurer';
import type { EventContent } from '../../src/schema/tpm-log';

const peer: Peer = Object.freeze({ uid: 1000, gid: 1000, pid: 42, pidfd: -1, user: 'u', groups: ['ward'] });

test('anchors: start, periodic when the head moved, stop; a failing TPM is noted, not thrown', async () => {
  const seen: EventContent[] = [];
  let fail = false;
  const fake = {
    configured: true,
    measure: async (c: EventContent) => {
      if (fail) throw new Error('the TPM is gone');
      seen.push(c);
      return true;
    },
  } as unknown as Measurer;
  const log = new AuditLog(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ward-anchor-')), 'audit.log'));
  const notes: string[] = [];
  const anchor = new AuditAnchor(fake, log, 0.05, (t) => notes.push(t));
  await anchor.start();
  await new Promise((r) => setTimeout(r, 160));
  assert.deepEqual(seen.map((c) => c.event_type === 'audit-head' && c.reason), ['start'], 'an unmoved head is not anchored again');
  log.append(peer, 'hello', 'sha256:x', 'allow', 'ok');
  await new Promise((r) => setTimeout(r, 160));
  const periodic = seen.filter((c) => c.event_type === 'audit-head' && c.reason === 'periodic');
  assert.equal(periodic.length, 1);
  assert.ok(periodic[0]!.event_type === 'audit-head' && periodic[0]!.records === 1 && periodic[0]!.head === log.position.head);
  fail = true;
  await anchor.stop();
  assert.match(notes.join(), /anchoring the audit log \(stop\): the TPM is gone/);
  log.close();
});
