// Host volume relabelling (wired into `ward run` with volumes): refused for system paths and
// everything that would take files from others; private and shared labels as podman's :Z / :z.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { relabelRefusal, relabelVolume, volumeLabel } from '../../src/helper/relabel';
import { lgetfilecon } from '../../src/native/selinux';

const POD = 'system_u:object_r:container_file_t:s0:c11,c222';
const ctx = (uid = 0) => ({ uid, subIds: { uid: { base: 100000, count: 65536 }, gid: { base: 100000, count: 65536 } }, stateDir: '/var/lib/ward', homes: ['/home/alice', '/root'] });

test('system paths, their parents, the system trees, the state dir and home dirs are refused', () => {
  const refused = ['/', '/etc', '/etc/', '/etc/ssl/private', '/usr', '/usr/share/doc', '/home', '/var', '/var/lib', '/var/log/x', '/boot', '/dev',
    '/proc', '/sys/fs', '/run', '/root', '/root/x', '/bin', '/sbin', '/lib', '/lib64', '/lib/modules', '/libx32', '/opt', '/srv', '/tmp',
    '/var/lib/ward', '/var/lib/ward/trees', '/home/alice', '//etc', '/etc/../etc'];
  for (const p of refused) assert.ok(relabelRefusal(p, ctx()), `${p} must be refused`);
  const allowed = ['/srv/data', '/tmp/vol', '/home/alice/project', '/var/lib/myapp', '/opt/app/data', '/data', '/mnt/disk/x'];
  for (const p of allowed) assert.equal(relabelRefusal(p, ctx()), null, p);
  assert.match(relabelRefusal('/etc', ctx())!, /\/etc is a system path/);
  assert.match(relabelRefusal('/var/lib/ward/pods/x', ctx())!, /inside ward's state directory/);
});

test('a relabel request for /etc is refused, named, and nothing is touched', async () => {
  const before = lgetfilecon('/etc');
  await assert.rejects(relabelVolume('/etc', 'private', POD, ctx()), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'EDENIED');
    assert.equal(e.message, 'refusing to relabel /etc: /etc is a system path');
    return true;
  });
  assert.equal(lgetfilecon('/etc'), before);
});

test('a symlink to /etc is judged by what it opens, not by its name; relative sources are refused', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-rl-'));
  try {
    fs.symlinkSync('/etc', path.join(dir, 'innocent'));
    await assert.rejects(relabelVolume(path.join(dir, 'innocent'), 'shared', POD, ctx()), /refusing to relabel .*innocent: \/etc is a system path/);
    await assert.rejects(relabelVolume('vol', 'shared', POD, ctx()), /must be an absolute path/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('private gives the pod\'s label, shared the file type at s0; every entry, links as links', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-rl-'));
  try {
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.writeFileSync(path.join(dir, 'sub', 'f'), 'x');
    fs.symlinkSync('/etc/passwd', path.join(dir, 'link'));
    const etcLabel = lgetfilecon('/etc/passwd');
    const res = await relabelVolume(dir, 'private', POD, ctx(0));
    assert.equal(res.entries, 4);
    for (const p of ['.', 'sub', 'sub/f', 'link']) assert.equal(lgetfilecon(path.join(dir, p)), POD, p);
    assert.equal(lgetfilecon('/etc/passwd'), etcLabel, 'the link\'s target is untouched');
    await relabelVolume(dir, 'shared', POD, ctx(0));
    assert.equal(lgetfilecon(path.join(dir, 'sub', 'f')), 'system_u:object_r:container_file_t:s0');
    assert.equal(volumeLabel('shared', POD), 'system_u:object_r:container_file_t:s0');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a volume not owned by the caller, or holding someone else\'s file, is refused before anything is relabelled', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-rl-'));
  try {
    fs.writeFileSync(path.join(dir, 'mine'), '');
    fs.writeFileSync(path.join(dir, 'theirs'), '');
    fs.chownSync(dir, 1234, 1234);
    fs.chownSync(path.join(dir, 'mine'), 100005, 100005);
    fs.chownSync(path.join(dir, 'theirs'), 4321, 4321);
    await assert.rejects(relabelVolume(dir, 'private', POD, ctx(0)), /owned by uid 1234, not by you/);
    await assert.rejects(relabelVolume(dir, 'private', POD, ctx(1234)), /theirs is owned by uid 4321, neither you nor your subordinate ids/);
    for (const p of ['.', 'mine', 'theirs']) assert.equal(lgetfilecon(path.join(dir, p)), null, p);
    fs.chownSync(path.join(dir, 'theirs'), 1234, 1234);
    await relabelVolume(dir, 'private', POD, ctx(1234));
    assert.equal(lgetfilecon(path.join(dir, 'mine')), POD);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
