import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { HelperError } from '../../src/helper/errors';
import { identify, subIds } from '../../src/helper/peer';

function files() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-peer-'));
  const w = (n: string, s: string) => (fs.writeFileSync(path.join(d, n), s), path.join(d, n));
  return {
    passwd: w('passwd', 'root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n'),
    group: w('group', 'root:x:0:\nalice:x:1000:\nward:x:500:alice,carol\nward-admin:x:501:\n'),
    subuid: w('subuid', 'alice:100000:65536\nbob:165536:1000\n'),
    subgid: w('subgid', 'alice:200000:65536\n'),
  };
}

test('identity comes from the credentials; groups from the account files', () => {
  const p = identify({ uid: 1000, gid: 1000, pid: 7, pidfd: -1 }, files());
  assert.equal(p.user, 'alice');
  assert.deepEqual([...p.groups].sort(), ['alice', 'ward']);
  assert.ok(Object.isFrozen(p));
});

test('a user is not in a group because its name appears elsewhere on the line', () => {
  const p = identify({ uid: 1001, gid: 1001, pid: 7, pidfd: -1 }, files());
  assert.equal(p.user, 'bob');
  assert.deepEqual(p.groups, []);
});

test('subordinate ranges: found, or a clear error when missing or too small', () => {
  const f = files();
  const alice = identify({ uid: 1000, gid: 1000, pid: 1, pidfd: -1 }, f);
  assert.deepEqual(subIds(alice, f), { uid: { base: 100000, count: 65536 }, gid: { base: 200000, count: 65536 } });
  const bob = identify({ uid: 1001, gid: 1001, pid: 1, pidfd: -1 }, f);
  assert.throws(() => subIds(bob, f), (e: unknown) => e instanceof HelperError && e.code === 'ENOSUBID' && /usermod --add-subuids/.test(e.message));
});
