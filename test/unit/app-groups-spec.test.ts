// Supplementary groups in the launch spec: sent only when the app has some, and bounded by
// ward-stage1 itself (count and range) before it does anything.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { encodeSpec, type LaunchApp, type LaunchSpec } from '../../src/helper/launch';
import { stage1Path } from '../../src/native/addon';

const APP: LaunchApp = { name: 'a', lower: '/nonexistent/l', upper: '/nonexistent/u', work: '/nonexistent/w', cwd: '/', uid: 0, gid: 0, args: ['/bin/true'], env: [], caps: [], seccompBytes: 0 };
const BASE: LaunchSpec = { uuid: 'u', hostname: 'h', rootfs: '/nonexistent/r', masked: [], readonly: [], seccompFd: null, apps: [APP] };
/** The spec with its one app's supplementary groups. */
const withGroups = (groups: number[]): LaunchSpec => ({ ...BASE, apps: [{ ...APP, groups }] });

function keys(buf: Buffer, key: string): string[] {
  const f = buf.subarray(4).toString('utf8').split('\u0000');
  const out: string[] = [];
  for (let i = 0; i + 1 < f.length; i += 2) if (f[i] === key) out.push(f[i + 1]!);
  return out;
}

function feed(spec: Buffer): Promise<{ lines: string; code: number | null }> {
  return new Promise((resolve) => {
    const c = spawn(stage1Path(), [], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], env: {} });
    const sync = c.stdio[3] as Socket;
    let lines = '';
    sync.on('data', (d: Buffer) => (lines += d.toString()));
    sync.on('error', () => undefined);
    sync.write(spec);
    c.on('close', (code) => resolve({ lines, code }));
  });
}

test('group keys only when the app has supplementary groups', () => {
  assert.deepEqual(keys(encodeSpec(BASE), 'group'), []);
  assert.deepEqual(keys(encodeSpec(withGroups([10, 20])), 'group'), ['10', '20']);
});

test('stage1 refuses a group out of range, and more than 64 groups', async () => {
  const big = await feed(encodeSpec(withGroups([65536])));
  assert.equal(big.code, 254);
  assert.match(big.lines, /^E launch spec key 'group' is repeated, malformed or out of range\n$/);
  const many = await feed(encodeSpec(withGroups(Array.from({ length: 65 }, (_, i) => i))));
  assert.equal(many.code, 254);
  assert.match(many.lines, /^E launch spec key 'group' is repeated, malformed or out of range\n$/);
});
