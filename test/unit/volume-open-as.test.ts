// addon openAs (addon/src/open-as.cc): a host volume's source is opened with the caller's
// credentials, in a thread of its own, never with root's. Run as root, as the helper is.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { addon } from '../../src/native/addon';
import { account, USERS } from '../lib/env';

const ROOT = process.getuid?.() === 0;
const skip = ROOT ? false : 'needs root (the helper runs as root)';
let dir = '';
const a = ROOT ? account(USERS.a) : { uid: 0, gid: 0 };
const wardGid = ROOT ? Number(fs.readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith('ward:'))!.split(':')[2]) : 0;

function code(fn: () => unknown): string {
  try {
    const fd = fn() as number;
    fs.closeSync(fd);
    return 'opened';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

before(() => {
  if (!ROOT) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-openas-'));
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(dir, 'public'), { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'public', 'f'), 'x', { mode: 0o644 });
  fs.mkdirSync(path.join(dir, 'rootonly'), { mode: 0o700 });
  fs.writeFileSync(path.join(dir, 'rootonly', 'f'), 'secret', { mode: 0o644 });
  fs.mkdirSync(path.join(dir, 'group'), { mode: 0o750 });
  fs.chownSync(path.join(dir, 'group'), 0, wardGid);
  fs.writeFileSync(path.join(dir, 'secret-file'), 'x', { mode: 0o600 });
  fs.symlinkSync(path.join(dir, 'public'), path.join(dir, 'link'));
  execFileSync('mkfifo', [path.join(dir, 'fifo')]);
  fs.chmodSync(path.join(dir, 'fifo'), 0o666);
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('a path the caller cannot read is refused although root could read it', { skip }, () => {
  assert.equal(code(() => addon().openAs(path.join(dir, 'rootonly'), 0, 0, [])), 'opened', 'root itself may');
  assert.equal(code(() => addon().openAs(path.join(dir, 'rootonly'), a.uid, a.gid, [a.gid, wardGid])), 'EACCES');
  assert.equal(code(() => addon().openAs(path.join(dir, 'rootonly', 'f'), a.uid, a.gid, [a.gid])), 'EACCES', 'no search permission on the way');
  assert.equal(code(() => addon().openAs(path.join(dir, 'secret-file'), a.uid, a.gid, [a.gid])), 'EACCES', 'no read permission on the file');
});

test('what the caller may read opens, as a directory or a regular file; groups count as the caller\'s', { skip }, () => {
  const fd = addon().openAs(path.join(dir, 'public'), a.uid, a.gid, [a.gid]);
  try {
    assert.ok(fs.fstatSync(fd).isDirectory());
    assert.deepEqual(fs.readdirSync(`/proc/self/fd/${fd}`), ['f']);
  } finally {
    fs.closeSync(fd);
  }
  assert.equal(code(() => addon().openAs(path.join(dir, 'public', 'f'), a.uid, a.gid, [])), 'opened');
  assert.equal(code(() => addon().openAs(path.join(dir, 'group'), a.uid, a.gid, [wardGid])), 'opened');
  assert.equal(code(() => addon().openAs(path.join(dir, 'group'), a.uid, a.gid, [])), 'EACCES', 'without the group');
});

test('magic links, fifos and devices are refused; ordinary symlinks are followed', { skip }, () => {
  assert.equal(code(() => addon().openAs(`/proc/self/root${dir}/public`, 0, 0, [])), 'ELOOP');
  assert.equal(code(() => addon().openAs(path.join(dir, 'fifo'), a.uid, a.gid, [])), 'EBADTYPE');
  assert.equal(code(() => addon().openAs('/dev/null', a.uid, a.gid, [])), 'EBADTYPE');
  assert.equal(code(() => addon().openAs(path.join(dir, 'link'), a.uid, a.gid, [])), 'opened');
  assert.equal(code(() => addon().openAs(path.join(dir, 'missing'), a.uid, a.gid, [])), 'ENOENT');
  assert.throws(() => addon().openAs('relative', 0, 0, []), /absolute path/);
});

test('the helper\'s own credentials are untouched', { skip }, () => {
  fs.closeSync(addon().openAs(path.join(dir, 'public'), a.uid, a.gid, [a.gid]));
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  assert.match(status, /^Uid:\s+0\s+0\s+0\s+0$/m);
  assert.match(status, /^Gid:\s+0\s+0\s+0\s+0$/m);
  assert.equal(code(() => addon().openAs(path.join(dir, 'rootonly'), 0, 0, [])), 'opened');
  for (const t of fs.readdirSync('/proc/self/task')) {
    assert.match(fs.readFileSync(`/proc/self/task/${t}/status`, 'utf8'), /^Uid:\s+0\s+0\s+0\s+0$/m, `thread ${t}`);
  }
});
