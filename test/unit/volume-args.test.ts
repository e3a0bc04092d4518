// --volume / --mount parsing (src/pod/volume-args.ts), the helper's volume rules
// (src/helper/volumes.ts) and the volume keys of ward-stage1's launch spec.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { checkVolumes, callerGroupIds, hostVolumeGranted } from '../../src/helper/volumes';
import { encodeSpec, type LaunchApp, type LaunchSpec } from '../../src/helper/launch';
import { stage1Path } from '../../src/native/addon';
import { mountsFor, parseMount, parseVolume, parseVolumes } from '../../src/pod/volume-args';
import type { ImageManifest } from '../../src/schema/aci';
import { HelperPolicy } from '../../src/schema/policy';
import { RunRequest, type AppSpec } from '../../src/schema/protocol';

test('rkt\'s --volume syntax, with appc defaults left to the helper', () => {
  assert.deepEqual(parseVolume('data,kind=host,source=/srv/data/'), { name: 'data', kind: 'host', source: '/srv/data' });
  assert.deepEqual(parseVolume('data,kind=host,source=/srv/data,readOnly=true,recursive=false,selinuxRelabel=private'),
    { name: 'data', kind: 'host', source: '/srv/data', readOnly: true, recursive: false, selinuxRelabel: 'private' });
  assert.deepEqual(parseVolume('scratch,kind=empty'), { name: 'scratch', kind: 'empty' });
  assert.deepEqual(parseVolume('scratch,kind=empty,mode=700,uid=1000,gid=0,readOnly=false'), { name: 'scratch', kind: 'empty', mode: 0o700, uid: 1000, gid: 0, readOnly: false });
  assert.deepEqual(parseMount('volume=data,target=/var/lib/data'), { volume: 'data', path: '/var/lib/data' });
  for (const bad of ['', 'data,kind=host,source=/x,source=/y', 'data,kind=empty,mode=', 'data,kind=host,source=/x,kind=empty', 'a--b,kind=empty', 'data,kind=empty,uid=-1', 'data,kind=host,source=//x']) {
    assert.throws(() => parseVolume(bad), (e: Error & { code?: string }) => e.code === 'EUSAGE' && e.message.startsWith('--volume '), bad);
  }
  assert.throws(() => parseMount('target=/x'), /volume=NAME is required/);
  assert.throws(() => parseVolumes(Array.from({ length: 9 }, (_, i) => `v${i},kind=empty`)), /at most 8 volumes/);
});

test('an image\'s mount points take volumes by name unless a --mount names the volume', () => {
  const manifest = { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/x', app: { user: '0', group: '0', mountPoints: [
    { name: 'data', path: '/srv/data', readOnly: true }, { name: 'logs', path: '/var/log/x' }, { name: 'other', path: '/o' }, { bogus: true },
  ] } } as unknown as ImageManifest;
  const vols = parseVolumes(['data,kind=empty', 'logs,kind=empty']);
  assert.deepEqual(mountsFor(manifest, vols, []), [{ volume: 'data', path: '/srv/data', readOnly: true }, { volume: 'logs', path: '/var/log/x' }]);
  assert.deepEqual(mountsFor(manifest, vols, ['volume=logs,target=/l']), [{ volume: 'logs', path: '/l' }, { volume: 'data', path: '/srv/data', readOnly: true }]);
  assert.throws(() => mountsFor(manifest, vols, ['volume=nope,target=/n']), /--mount volume=nope: the pod has no such volume/);
});

test('hostVolumes grants match whole path segments; "*" matches anything', () => {
  const g = new Set(['/srv/data', '/home/a/vols']);
  for (const p of ['/srv/data', '/srv/data/x', '/home/a/vols/1']) assert.ok(hostVolumeGranted(g, p), p);
  for (const p of ['/srv/database', '/srv', '/', '/home/a/volsx', '/etc']) assert.ok(!hostVolumeGranted(g, p), p);
  assert.ok(hostVolumeGranted(new Set(['*']), '/etc'));
  assert.ok(!hostVolumeGranted(new Set(), '/srv/data'), 'no grant: nothing');
  const base = { version: 1, socketGroup: 'ward', groups: {}, limits: { treeEntries: 1, treeBytes: 1, treeDepth: 1, podsPerUser: 1 }, seccompProfile: 'default' };
  for (const bad of ['relative', '/a/../b', '/a//b', '/a/', '/']) {
    assert.equal(HelperPolicy.safeParse({ ...base, groups: { ward: { verbs: [], hostVolumes: [bad] } } }).success, false, bad);
  }
  assert.ok(HelperPolicy.safeParse({ ...base, groups: { ward: { verbs: [], hostVolumes: ['*', '/srv/data'] } }, users: { alice: { hostVolumes: [] } } }).success);
});

test('the helper refuses volumes it cannot honour, naming them', () => {
  const app = (mounts: AppSpec['mounts']): AppSpec => ({ exec: ['/bin/true'], user: 0, group: 0, workingDirectory: '/', environment: [], mounts });
  const grant = new Set(['/srv/data', '/etc']);
  const ok = () => checkVolumes([{ name: 'd', kind: 'host', source: '/srv/data/x' }, { name: 'e', kind: 'empty' }], [app([{ volume: 'd', path: '/d' }, { volume: 'e', path: '/e' }])], grant, '/var/lib/ward');
  assert.doesNotThrow(ok);
  const refused: [Parameters<typeof checkVolumes>, RegExp][] = [
    [[[{ name: 'd', kind: 'host', source: '/srv/other' }], [], grant, '/s'], /host volume d: helper policy does not allow you to mount \/srv\/other/],
    [[[{ name: 'd', kind: 'host', source: '/etc', selinuxRelabel: 'shared' }], [], grant, '/s'], /host volume d: refusing to relabel \/etc: \/etc is a system path/],
    [[[{ name: 'd', kind: 'empty' }, { name: 'd', kind: 'empty' }], [], grant, '/s'], /volume d is given twice/],
    [[[], [app([{ volume: 'x', path: '/x' }])], grant, '/s'], /mount of volume x at \/x: the pod has no such volume/],
    [[[{ name: 'd', kind: 'empty' }], [app([{ volume: 'd', path: '/' }])], grant, '/s'], /cannot be mounted on \/ or inside \/proc or \/sys/],
    [[[{ name: 'd', kind: 'empty' }], [app([{ volume: 'd', path: '/sys/fs/x' }])], grant, '/s'], /cannot be mounted on/],
    [[[{ name: 'd', kind: 'empty' }], [app([{ volume: 'd', path: '/a' }, { volume: 'd', path: '/a' }])], grant, '/s'], /two volumes are mounted at \/a/],
  ];
  for (const [args, re] of refused) assert.throws(() => checkVolumes(...args), (e: Error & { code?: string }) => e.code === 'EDENIED' && re.test(e.message), String(re));
  assert.ok(callerGroupIds({ uid: 1, gid: 4242, pid: 1, pidfd: -1, user: 'nosuchuser', groups: [] }).includes(4242));
});

test('the protocol takes volumes strictly', () => {
  const req = { verb: 'run', apps: [{ tree: `sha256:${'0'.repeat(64)}`, image: { name: 'x', id: `sha256:${'0'.repeat(64)}`, signer: 'unverified' },
    app: { exec: ['/bin/true'], user: 0, group: 0, workingDirectory: '/', environment: [], mounts: [{ volume: 'd', path: '/d' }] } }], insecureOptions: [] };
  assert.ok(RunRequest.safeParse({ ...req, volumes: [{ name: 'd', kind: 'empty', mode: 0o755 }] }).success);
  for (const bad of [{ name: 'd', kind: 'empty', source: '/x' }, { name: 'd', kind: 'host' }, { name: 'd', kind: 'host', source: '/x/../y' }, { name: 'D', kind: 'empty' }, { name: 'd', kind: 'host', source: '/x', selinuxRelabel: 'z' }]) {
    assert.equal(RunRequest.safeParse({ ...req, volumes: [bad] }).success, false, JSON.stringify(bad));
  }
});

const APP: LaunchApp = { name: 'a', lower: '/nonexistent/l', upper: '/nonexistent/u', work: '/nonexistent/w', cwd: '/', uid: 0, gid: 0, args: ['/bin/true'], env: [], caps: [], seccompBytes: 0 };
const BASE: LaunchSpec = { uuid: 'u', hostname: 'h', rootfs: '/nonexistent/r', masked: [], readonly: [], seccompFd: null, apps: [APP] };

/** BASE with extra keys: volume keys among the pod's (before the app section), the rest in the app's. */
function withKeys(extra: [string, string][]): Buffer {
  const kv = (pairs: [string, string][]) => pairs.map(([k, v]) => Buffer.from(`${k}\u0000${v}\u0000`));
  const spec = encodeSpec(BASE).subarray(4);
  const at = spec.indexOf(Buffer.from('app\u0000a\u0000'));
  const body = Buffer.concat([spec.subarray(0, at), ...kv(extra.filter(([k]) => k === 'volume')), spec.subarray(at), ...kv(extra.filter(([k]) => k !== 'volume'))]);
  const hdr = Buffer.alloc(4);
  hdr.writeUInt32BE(body.length);
  return Buffer.concat([hdr, body]);
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

test('volume keys: encoded with stage1\'s fd numbers, and stage1 refuses malformed ones before doing anything', async () => {
  const p = encodeSpec({ ...BASE, volumes: [{ name: 'a', fd: 99, readOnly: true, recursive: true }, { name: 'b', fd: 98, readOnly: false, recursive: false }], apps: [{ ...APP, mounts: [{ volume: 'b', readOnly: true, path: '/x y' }] }] });
  const text = p.subarray(4).toString();
  assert.ok(text.includes('volume\u00007 ro rec a\u0000') && text.includes('volume\u00008 rw one b\u0000') && text.includes('mount\u0000b ro /x y\u0000'), text);
  const bad: [string, string][][] = [
    [['volume', '3 rw rec a']], [['volume', '16 rw rec a']], [['volume', '7 rw rec A']], [['volume', '7 rx rec a']], [['volume', '7 rw rec a'], ['volume', '7 rw rec b']],
    [['volume', '7 rw rec a'], ['volume', '8 rw rec a']], [['mount', 'a rw /x']], [['volume', '7 rw rec a'], ['mount', 'a rw relative']],
    [['volume', '7 rw rec a'], ['mount', 'a rw /x/../y']], [['volume', '7 rw rec a'], ['mount', 'a rw /']], [['volume', '7 rw rec a'], ['mount', 'a rw /x'], ['mount', 'a rw /x']],
  ];
  for (const keys of bad) {
    const r = await feed(withKeys(keys));
    assert.equal(r.code, 254, JSON.stringify(keys));
    assert.match(r.lines, /^E launch spec key '(volume|mount)' is repeated, malformed or out of range\n$/, JSON.stringify(keys));
  }
});
