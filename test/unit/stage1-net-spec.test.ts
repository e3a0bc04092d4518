// ward-stage1's network and cgroup keys (addon/stage1/net.c): encoded by the helper only when
// set, parsed strictly, and the cgroup fds (the pod's own, then each app's) checked to be cgroup
// files opened for writing before anything is done. stage1 is run directly here with specs it must refuse.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { encodeSpec, type LaunchApp, type LaunchSpec } from '../../src/helper/launch';
import { stage1Path } from '../../src/native/addon';

const APP: LaunchApp = { name: 'a', lower: '/nonexistent/l', upper: '/nonexistent/u', work: '/nonexistent/w', cwd: '/', uid: 0, gid: 0, args: ['/bin/true'], env: [], caps: [], seccompBytes: 0 };
const BASE: LaunchSpec = { uuid: 'u', hostname: 'h', rootfs: '/nonexistent/r', masked: [], readonly: [], seccompFd: null, apps: [APP] };

function keys(buf: Buffer): string[] {
  const f = buf.subarray(4).toString('utf8').split('\u0000');
  return f.filter((_, i) => i % 2 === 0);
}

function raw(kv: [string, string][]): Buffer {
  const body = Buffer.concat(kv.flatMap(([k, v]) => [Buffer.from(`${k}\u0000${v}\u0000`)]));
  const hdr = Buffer.alloc(4);
  hdr.writeUInt32BE(body.length);
  return Buffer.concat([hdr, body]);
}

/** Runs stage1 with fds 5, 6 (lock, status) and 16 (what a cgroup fd should be) as given. */
function feed(spec: Buffer, fd16: number | 'ignore' = 'ignore'): Promise<{ lines: string; code: number | null }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-stage1-net-'));
  const lock = fs.openSync(path.join(dir, 'lock'), 'w');
  const status = fs.openSync(path.join(dir, 'status'), 'a');
  return new Promise((resolve) => {
    const c = spawn(stage1Path(), [], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'ignore', lock, status, ...Array<'ignore'>(9).fill('ignore'), fd16], env: {} });
    const sync = c.stdio[3] as Socket;
    let lines = '';
    sync.on('data', (d: Buffer) => (lines += d.toString()));
    sync.on('error', () => undefined);
    sync.write(spec);
    c.on('close', (code) => {
      fs.closeSync(lock);
      fs.closeSync(status);
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ lines, code });
    });
  });
}

test('net_wait, net_host and cgroup_fd are sent only when set; cgroup fds count from 16, after the volumes\' range', () => {
  assert.deepEqual(keys(encodeSpec(BASE)).filter((k) => k.startsWith('net') || k.startsWith('cgroup')), []);
  const b = encodeSpec({ ...BASE, stateFds: { lock: 5, status: 6 }, netWait: true, netHost: true, apps: [{ ...APP, cgroupFds: [40, 41, 42] }, { ...APP, name: 'b', cgroupFds: [43, 44, 45] }] });
  const body = b.subarray(4).toString('utf8');
  assert.match(body, /net_wait\u00001\u0000net_host\u00001\u0000/);
  // Each app's own, in its section; the second app's follow the first's.
  assert.match(body, /app\u0000a\u0000.*cgroup_fd\u000016\u0000cgroup_fd\u000017\u0000cgroup_fd\u000018\u0000app\u0000b\u0000.*cgroup_fd\u000019\u0000cgroup_fd\u000020\u0000cgroup_fd\u000021\u0000$/s);
  // The pod's own (the supervisor leaf stage1 joins) come first, before any app section, and the apps' follow them.
  const p = encodeSpec({ ...BASE, stateFds: { lock: 5, status: 6 }, cgroupFds: [30, 31], apps: [{ ...APP, cgroupFds: [40] }] }).subarray(4).toString('utf8');
  assert.match(p, /cgroup_fd\u000016\u0000cgroup_fd\u000017\u0000app\u0000a\u0000.*cgroup_fd\u000018\u0000$/s);
});

test('stage1 refuses cgroup fds out of range, twice, or without the state fds before them', async () => {
  const pod: [string, string][] = [['uuid', 'u'], ['hostname', 'h'], ['rootfs', '/r']];
  const app: [string, string][] = [['app', 'a'], ['lower', '/l'], ['upper', '/u'], ['work', '/w'], ['cwd', '/'], ['uid', '0'], ['gid', '0'], ['arg', '/bin/true']];
  const base = [...pod, ['state_fds', '1'], ...app] as [string, string][];
  for (const fd of ['15', '64', '-1', 'x']) {
    const r = await feed(raw([...base, ['cgroup_fd', fd]]));
    assert.equal(r.code, 254);
    assert.match(r.lines, /^E launch spec key 'cgroup_fd' is repeated, malformed or out of range\n$/, fd);
  }
  const twice = await feed(raw([...base, ['cgroup_fd', '16'], ['cgroup_fd', '16']]));
  assert.match(twice.lines, /^E launch spec key 'cgroup_fd' is repeated/);
  // The pod's and an app's may not name the same fd either.
  const shared = await feed(raw([...pod, ['state_fds', '1'], ['cgroup_fd', '16'], ...app, ['cgroup_fd', '16']]));
  assert.match(shared.lines, /^E launch spec key 'cgroup_fd' is repeated/);
  for (const fd of ['15', '64']) {
    const r = await feed(raw([...pod, ['state_fds', '1'], ['cgroup_fd', fd], ...app]));
    assert.match(r.lines, /^E launch spec key 'cgroup_fd' is repeated, malformed or out of range\n$/, `pod-level ${fd}`);
  }
  const noState = await feed(raw([...pod, ...app, ['cgroup_fd', '16']]));
  assert.match(noState.lines, /^E launch spec has cgroup fds without state fds before them\n$/);
  const podNoState = await feed(raw([...pod, ['cgroup_fd', '16'], ...app]));
  assert.match(podNoState.lines, /^E launch spec has cgroup fds without state fds before them\n$/);
  const enter = await feed(raw([['enter', '1'], ['uuid', 'u'], ['net_wait', '1'], ['app', 'a'], ['cwd', '/'], ['uid', '0'], ['gid', '0'], ['arg', '/bin/true']]));
  assert.match(enter.lines, /^E launch spec for enter names a pod to make\n$/);
});

test('stage1 refuses a cgroup fd (the pod\'s or an app\'s) that is not a cgroup file opened for writing', async () => {
  const devnull = fs.openSync('/dev/null', 'w');
  const file = fs.openSync(path.join(os.tmpdir(), `ward-not-cgroup-${process.pid}`), 'w');
  const ro = fs.openSync(fs.readdirSync('/sys/fs/cgroup').includes('cgroup.procs') ? '/sys/fs/cgroup/cgroup.procs' : '/sys/fs/cgroup/memory/cgroup.procs', 'r');
  try {
    for (const fd of [devnull, file, ro]) {
      for (const spec of [{ ...BASE, stateFds: { lock: 5, status: 6 }, apps: [{ ...APP, cgroupFds: [fd] }] }, { ...BASE, stateFds: { lock: 5, status: 6 }, cgroupFds: [fd] }]) {
        const r = await feed(encodeSpec(spec), fd);
        assert.equal(r.code, 254);
        assert.match(r.lines, /^E cgroup fd 16 is not a cgroup file opened for writing\n$/);
      }
    }
    const missing = await feed(encodeSpec({ ...BASE, stateFds: { lock: 5, status: 6 }, apps: [{ ...APP, cgroupFds: [devnull] }] }));
    assert.match(missing.lines, /^E cgroup fd 16 is not open\n$/);
  } finally {
    [devnull, file, ro].forEach((fd) => fs.closeSync(fd));
    fs.rmSync(path.join(os.tmpdir(), `ward-not-cgroup-${process.pid}`), { force: true });
  }
});
