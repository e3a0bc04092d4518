// libselinux through ffi-rs, on a host whose kernel has no SELinux: file labels are xattrs
// (written as libselinux writes them), the calls that need the kernel fail with clear messages.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import * as se from '../../src/native/selinux';

const HAS_SELINUXFS = fs.existsSync('/sys/fs/selinux/enforce');
const LABEL = 'system_u:object_r:container_file_t:s0:c3,c14';

function hexLabel(p: string): string {
  const r = spawnSync('getfattr', ['-h', '--only-values', '-e', 'hex', '-n', 'security.selinux', p], { encoding: 'buffer' });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout.toString('hex');
}

test('is_selinux_enabled agrees with selinuxfs; getenforce and getcon fail clearly without it', { skip: HAS_SELINUXFS ? 'SELinux is enabled here' : false }, () => {
  assert.equal(se.isSelinuxEnabled(), false);
  assert.throws(() => se.getEnforce(), /^Error: security_getenforce: No such file or directory \(no selinuxfs: SELinux is not enabled in this kernel\)$|security_getenforce: .*no selinuxfs/);
  assert.throws(() => se.getcon(), (e: se.SelinuxError) => e instanceof se.SelinuxError && /^getcon: this kernel has no SELinux/.test(e.message));
});

test('contexts: syntax is checked before anything reaches libselinux; translation to raw keeps a raw context', () => {
  assert.equal(se.transToRaw(LABEL), LABEL);
  assert.equal(se.transToRaw('system_u:system_r:container_t:s0-s0:c0.c1023'), 'system_u:system_r:container_t:s0-s0:c0.c1023');
  for (const bad of ['', 'container_t', 'a:b', 'a:b:c:s0:c1,c2"', 'a:b:c:s0\nx', 'a:b:c:s0:c1;rm']) {
    assert.throws(() => se.checkContext(bad), /is not an SELinux context/, JSON.stringify(bad));
  }
  se.checkContext(LABEL);
});

test('lsetfilecon writes the context and its NUL, on the path itself and never through a symlink', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-se-'));
  try {
    const f = path.join(dir, 'f');
    const l = path.join(dir, 'l');
    fs.writeFileSync(f, '');
    fs.symlinkSync(f, l);
    se.lsetfilecon(l, LABEL);
    assert.equal(se.lgetfilecon(l), LABEL);
    assert.equal(se.lgetfilecon(f), null, 'the target is untouched');
    se.lsetfilecon(f, LABEL);
    assert.equal(hexLabel(f), Buffer.concat([Buffer.from(LABEL), Buffer.from([0])]).toString('hex'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('fsetfilecon labels what the fd holds, an O_PATH fd of a symlink included', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-se-'));
  try {
    const f = path.join(dir, 'f');
    const l = path.join(dir, 'l');
    fs.writeFileSync(f, '');
    fs.symlinkSync('f', l);
    const fd = fs.openSync(f, 'r');
    se.fsetfilecon(fd, LABEL);
    fs.closeSync(fd);
    assert.equal(se.lgetfilecon(f), LABEL);
    const lfd = fs.openSync(l, 0o10000000 /* O_PATH */ | fs.constants.O_NOFOLLOW);
    se.fsetfilecon(lfd, 'system_u:object_r:container_ro_file_t:s0');
    fs.closeSync(lfd);
    assert.equal(se.lgetfilecon(l), 'system_u:object_r:container_ro_file_t:s0');
    assert.equal(se.lgetfilecon(f), LABEL, 'the symlink\'s target kept its own label');
    assert.throws(() => se.fsetfilecon(9999, LABEL), /labelling fd 9999/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('lxc_contexts: its path comes from libselinux; key = "context" lines parse, anything else is an error naming the line', () => {
  const p = se.lxcContextsPath();
  assert.ok(p === null || (p.startsWith('/etc/selinux/') && p.endsWith('/contexts/lxc_contexts')), String(p));
  const parsed = se.parseLxcContexts([
    '# container contexts',
    'process = "system_u:system_r:container_t:s0"',
    'content = "system_u:object_r:virt_var_lib_t:s0"',
    'file = "system_u:object_r:container_file_t:s0"',
    'ro_file="system_u:object_r:container_ro_file_t:s0"',
    'sandbox_kvm_process = system_u:system_r:svirt_qemu_net_t:s0   # unquoted',
    '',
  ].join('\n'));
  assert.deepEqual(parsed, {
    process: 'system_u:system_r:container_t:s0',
    file: 'system_u:object_r:container_file_t:s0',
    ro_file: 'system_u:object_r:container_ro_file_t:s0',
  });
  assert.throws(() => se.parseLxcContexts('process "x"\n', 'lxc'), /^Error: lxc:1: expected key = "context"$|lxc:1: expected key/);
  assert.throws(() => se.parseLxcContexts('\nfile = "not a context"\n', 'lxc'), /lxc:2: 'not a context' is not an SELinux context/);
});
