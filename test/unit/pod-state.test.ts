// Pod state pieces that need no helper: the status file stage1 writes, parsed by the helper;
// the state fds and enter mode of stage1's launch spec, refused by stage1 when they do not fit;
// durations as gc takes them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { encodeEnterSpec, encodeSpec, type LaunchSpec } from '../../src/helper/launch';
import { readStatus, startTimeOf } from '../../src/helper/pod-store';
import { stage1Path } from '../../src/native/addon';
import { parseDuration } from '../../src/pod/pods';

const BASE: LaunchSpec = {
  uuid: 'u', hostname: 'h', rootfs: '/nonexistent/r', masked: [], readonly: [], seccompFd: null,
  apps: [{ name: 'app', lower: '/nonexistent/l', upper: '/nonexistent/u', work: '/nonexistent/w', cwd: '/', uid: 0, gid: 0, args: ['/bin/true'], env: [], caps: [], seccompBytes: 0 }],
};

function feed(spec: Buffer, extra: (number | 'ignore')[] = []): Promise<{ lines: string; code: number | null }> {
  return new Promise((resolve) => {
    const c = spawn(stage1Path(), [], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', ...extra], env: {} });
    const sync = c.stdio[3] as Socket;
    let lines = '';
    sync.on('data', (d: Buffer) => (lines += d.toString()));
    sync.on('error', () => undefined);
    sync.write(spec);
    c.on('close', (code) => resolve({ lines, code }));
  });
}

test('the status file: per-app lines win over the pod line; signals become 128+n and their names; junk is ignored', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-status-'));
  try {
    const none = readStatus(dir);
    assert.equal(none.pod, null);
    assert.equal(none.time, null);
    fs.writeFileSync(path.join(dir, 'status'), 'app 0 42 0\nnonsense\napp 1 -1 9\npod 42 0\n');
    const s = readStatus(dir);
    assert.deepEqual(s.apps.get(0), { code: 42, signal: null });
    assert.deepEqual(s.apps.get(1), { code: 137, signal: 'SIGKILL' });
    assert.deepEqual(s.pod, { code: 42, signal: null });
    assert.ok(s.time);
    fs.writeFileSync(path.join(dir, 'status'), 'pod -1 15\n');
    assert.deepEqual(readStatus(dir).pod, { code: 143, signal: 'SIGTERM' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('start times name a live process; a pid with no process has none', () => {
  assert.match(startTimeOf(process.pid) ?? '', /^\d+$/);
  assert.equal(startTimeOf(2 ** 22 + 1), null);
});

test('stage1 refuses state fds that are not a lock file and an appendable status file', async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ward-fds-')), 'f');
  fs.writeFileSync(file, '');
  const ro = fs.openSync(file, 'r');
  const app = fs.openSync(file, 'a');
  try {
    const noFds = await feed(encodeSpec({ ...BASE, stateFds: { lock: 0, status: 0 } }));
    assert.equal(noFds.code, 254);
    assert.match(noFds.lines, /^E fd 5 is not the pod's lock file\n$/);
    const readOnly = await feed(encodeSpec({ ...BASE, stateFds: { lock: 0, status: 0 } }), ['ignore', ro, ro]);
    assert.match(readOnly.lines, /^E fd 6 is not the pod's status file opened for appending\n$/);
    const ok = await feed(encodeSpec({ ...BASE, stateFds: { lock: 0, status: 0 } }), ['ignore', ro, app]);
    assert.doesNotMatch(ok.lines, /fd [56] is not/, 'good state fds pass (the launch then fails on the nonexistent dirs)');
  } finally {
    fs.closeSync(ro);
    fs.closeSync(app);
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
});

test('an enter spec that also names a pod to make is refused; one without a pidfd fails before anything', async () => {
  const enter = encodeEnterSpec({ uuid: 'u', app: 'app', appIndex: 0, cwd: '/', uid: 0, gid: 0, args: ['/bin/true'], env: [], caps: [], seccompBytes: 0, seccompFd: null, pidfd: 0 });
  const mixed = Buffer.concat([enter.subarray(4), Buffer.from('lower\u0000/x\u0000')]);
  const hdr = Buffer.alloc(4);
  hdr.writeUInt32BE(mixed.length);
  const r = await feed(Buffer.concat([hdr, mixed]));
  assert.equal(r.code, 254);
  assert.match(r.lines, /^E launch spec for enter names a pod to make\n$/);
  const noPidfd = await feed(enter);
  assert.equal(noPidfd.code, 254);
  assert.match(noPidfd.lines, /^E fd 5 is not the pod's pidfd: Bad file descriptor\n$/);
});

test('durations as rkt writes them', () => {
  assert.equal(parseDuration('--grace-period', '0'), 0);
  assert.equal(parseDuration('--grace-period', '30m'), 1800);
  assert.equal(parseDuration('--grace-period', '1h30m'), 5400);
  assert.equal(parseDuration('--grace-period', '45s'), 45);
  for (const bad of ['', 'soon', '5', '1h 30m', '-1s', '30mx']) assert.throws(() => parseDuration('--grace-period', bad), /not a duration/, bad);
});
