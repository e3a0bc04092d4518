// ward-stage1's launch spec with SELinux keys: encoded by the helper, parsed strictly by stage1.
// stage1 is run directly here with a spec it must refuse before doing anything.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { encodeSpec, type LaunchSpec } from '../../src/helper/launch';
import { stage1Path } from '../../src/native/addon';

const BASE: LaunchSpec = {
  uuid: 'u', hostname: 'h', rootfs: '/nonexistent/r', masked: [], readonly: [], seccompFd: null,
  apps: [{ name: 'app', lower: '/nonexistent/l', upper: '/nonexistent/u', work: '/nonexistent/w', cwd: '/', uid: 0, gid: 0, args: ['/bin/true'], env: [], caps: [], seccompBytes: 0 }],
};

function pairs(buf: Buffer): [string, string][] {
  const f = buf.subarray(4).toString('utf8').split('\u0000');
  f.pop();
  const out: [string, string][] = [];
  for (let i = 0; i < f.length; i += 2) out.push([f[i]!, f[i + 1]!]);
  return out;
}

/** Feeds a spec to a stage1 binary; resolves with its status lines and exit code. */
function feed(binary: string, spec: Buffer): Promise<{ lines: string; code: number | null }> {
  return new Promise((resolve) => {
    const c = spawn(binary, [], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], env: {} });
    const sync = c.stdio[3] as Socket;
    let lines = '';
    sync.on('data', (d: Buffer) => (lines += d.toString()));
    sync.on('error', () => undefined);
    sync.write(spec);
    c.on('close', (code) => resolve({ lines, code }));
  });
}

test('SELinux keys are sent only when set', () => {
  assert.deepEqual(pairs(encodeSpec(BASE)).filter(([k]) => k.startsWith('selinux') || k.startsWith('test_')), []);
  const p = pairs(encodeSpec({ ...BASE, selinuxLabel: 'system_u:system_r:container_t:s0:c1,c2', selinuxMountLabel: 'system_u:object_r:container_file_t:s0:c1,c2' }));
  assert.deepEqual(p.find(([k]) => k === 'selinux_label'), ['selinux_label', 'system_u:system_r:container_t:s0:c1,c2']);
  assert.deepEqual(p.find(([k]) => k === 'selinux_mount_label'), ['selinux_mount_label', 'system_u:object_r:container_file_t:s0:c1,c2']);
});

test('stage1 refuses a label that could break out of context="..." or is not a context, before doing anything', async () => {
  for (const bad of ['system_u:object_r:x_t:s0",ro', 'container_t', 'a:b:c:s0 x', 'a'.repeat(300) + ':b:c:s0']) {
    const r = await feed(stage1Path(), encodeSpec({ ...BASE, selinuxMountLabel: bad }));
    assert.equal(r.code, 254);
    assert.match(r.lines, /^E launch spec key 'selinux_mount_label' is repeated, malformed or out of range\n$/, bad);
  }
  const twice = Buffer.concat([encodeSpec({ ...BASE, selinuxLabel: 'a:b:c:s0' })]);
  const extra = Buffer.from('selinux_label\u0000a:b:c:s0\u0000');
  // Pod keys come before the first app section: the repeat goes there.
  const at = twice.indexOf(Buffer.from('\u0000app\u0000')) + 1;
  const body = Buffer.concat([twice.subarray(4, at), extra, twice.subarray(at)]);
  const hdr = Buffer.alloc(4);
  hdr.writeUInt32BE(body.length);
  const r = await feed(stage1Path(), Buffer.concat([hdr, body]));
  assert.match(r.lines, /^E launch spec key 'selinux_label' is repeated/);
});

test('the production stage1 has no test hooks: their keys are unknown to it', async () => {
  const r = await feed(stage1Path(), encodeSpec({ ...BASE, testProcDir: '/fakeproc' }));
  assert.equal(r.code, 254);
  assert.equal(r.lines, "E launch spec has unknown key 'test_proc_dir'\n");
  const t = await feed(path.join(path.dirname(stage1Path()), 'ward-stage1-test'), encodeSpec({ ...BASE, testProcDir: '/fakeproc' }));
  assert.doesNotMatch(t.lines, /unknown key/, 'the test build knows them');
});
