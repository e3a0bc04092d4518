// The launch spec as the helper encodes it (pod keys, then one section per app) and as
// ward-stage1 parses it: strictly, every count and name bounded, before it does anything.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { encodeSpec, type LaunchApp, type LaunchSpec } from '../../src/helper/launch';
import { stage1Path } from '../../src/native/addon';

const APP: LaunchApp = { name: 'a', lower: '/nonexistent/l', upper: '/nonexistent/u', work: '/nonexistent/w', cwd: '/', uid: 0, gid: 0, args: ['/bin/true'], env: [], caps: [], seccompBytes: 0 };
const BASE: LaunchSpec = { uuid: 'u', hostname: 'h', rootfs: '/nonexistent/r', masked: [], readonly: [], seccompFd: null, apps: [APP] };

function pairs(buf: Buffer): [string, string][] {
  const fields = buf.subarray(4).toString('utf8').split('\u0000');
  assert.equal(fields.pop(), '');
  const out: [string, string][] = [];
  for (let i = 0; i < fields.length; i += 2) out.push([fields[i]!, fields[i + 1]!]);
  return out;
}

/** Feeds a spec (and fd 4's bytes, if any) to stage1; its status lines and exit code. */
function feed(spec: Buffer, bpf?: Buffer): Promise<{ lines: string; code: number | null }> {
  return new Promise((resolve) => {
    const c = spawn(stage1Path(), [], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', bpf ? 'pipe' : 'ignore'], env: {} });
    const sync = c.stdio[3] as Socket;
    let lines = '';
    sync.on('data', (d: Buffer) => (lines += d.toString()));
    sync.on('error', () => undefined);
    if (bpf) {
      const w = c.stdio[4] as Socket;
      w.on('error', () => undefined);
      w.end(bpf);
    }
    sync.write(spec);
    c.on('close', (code) => resolve({ lines, code }));
  });
}

test('the launch spec is length-prefixed key NUL value NUL pairs: pod keys, then a section per app', () => {
  const buf = encodeSpec({
    ...BASE, masked: ['/proc/kcore'], readonly: ['/proc/sys'], seccompFd: 4,
    apps: [
      { ...APP, args: ['/bin/sh', '-c', 'a b'], env: ['PATH=/bin'], caps: [0, 1], seccompBytes: 16, readonlyRootfs: true, preStart: ['/bin/true', 'x'] },
      { ...APP, name: 'b', postStop: ['/bin/false'] },
    ],
  });
  assert.equal(buf.readUInt32BE(0), buf.length - 4);
  const p = pairs(buf);
  const firstApp = p.findIndex(([k]) => k === 'app');
  assert.ok(p.slice(0, firstApp).every(([k]) => ['uuid', 'hostname', 'rootfs', 'masked', 'readonly'].includes(k)), 'pod keys come first');
  const sections = p.slice(firstApp).reduce<[string, string][][]>((acc, kv) => (kv[0] === 'app' ? [...acc, [kv]] : (acc[acc.length - 1]!.push(kv), acc)), []);
  assert.equal(sections.length, 2);
  const [a, b] = sections;
  assert.deepEqual(a!.filter(([k]) => k === 'arg').map(([, v]) => v), ['/bin/sh', '-c', 'a b']);
  assert.deepEqual(a!.find(([k]) => k === 'seccomp'), ['seccomp', '16']);
  assert.deepEqual(a!.filter(([k]) => k === 'cap').map(([, v]) => v), ['0', '1']);
  assert.deepEqual(a!.find(([k]) => k === 'readonly_rootfs'), ['readonly_rootfs', '1']);
  assert.deepEqual(a!.filter(([k]) => k === 'pre_start').map(([, v]) => v), ['/bin/true', 'x']);
  assert.deepEqual(b!.filter(([k]) => k === 'post_stop').map(([, v]) => v), ['/bin/false']);
  assert.equal(b!.find(([k]) => k === 'readonly_rootfs'), undefined);
});

test('stage1 refuses more than 16 apps, a repeated or malformed app name, and pod keys inside an app section', async () => {
  const apps = (n: number) => Array.from({ length: n }, (_, i) => ({ ...APP, name: `a${i}` }));
  let r = await feed(encodeSpec({ ...BASE, apps: apps(17) }));
  assert.equal(r.code, 254);
  assert.equal(r.lines, 'E launch spec has more than 16 apps\n');
  for (const bad of ['a', '../x', 'A', 'a--b', '-a', 'a/b', 'x'.repeat(65), '']) {
    r = await feed(encodeSpec({ ...BASE, apps: [APP, { ...APP, name: bad }] }));
    assert.equal(r.code, 254, bad);
    assert.equal(r.lines, "E launch spec key 'app' is repeated, malformed or out of range\n", bad);
  }
  const body = Buffer.concat([encodeSpec(BASE).subarray(4), Buffer.from('hostname\u0000x\u0000')]);
  const hdr = Buffer.alloc(4);
  hdr.writeUInt32BE(body.length);
  r = await feed(Buffer.concat([hdr, body]));
  assert.equal(r.lines, "E launch spec has unknown app key 'hostname'\n");
  r = await feed(encodeSpec({ ...BASE, apps: [{ ...APP, args: [] }] }));
  assert.equal(r.lines, "E launch spec app 'a' lacks 'arg'\n");
});

test('stage1 reads exactly the apps\' seccomp programs on fd 4: shorter or longer is refused', async () => {
  const two = { ...BASE, seccompFd: 4, apps: [{ ...APP, seccompBytes: 16 }, { ...APP, name: 'b', seccompBytes: 8 }] };
  let r = await feed(encodeSpec(two), Buffer.alloc(16));
  assert.equal(r.lines, 'E seccomp programs on fd 4 are shorter than the launch spec says\n');
  r = await feed(encodeSpec(two), Buffer.alloc(32));
  assert.equal(r.lines, 'E seccomp programs on fd 4 are longer than the launch spec says\n');
  r = await feed(encodeSpec({ ...two, apps: [{ ...APP, seccompBytes: 12 }] }), Buffer.alloc(12));
  assert.equal(r.lines, "E launch spec key 'seccomp' is repeated, malformed or out of range\n");
  r = await feed(encodeSpec(two), Buffer.alloc(24));
  assert.doesNotMatch(r.lines, /seccomp/, 'the exact sum passes (the launch then fails on the nonexistent dirs)');
});
