// --mds-register, the helper's side: the URL planned from a network's configuration, the
// registration from the addresses the CNI plugins report (real ptp in a namespace of this test,
// and loopback addresses given by hand), the unregistration when the pod exits, and refusals.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HelperError } from '../../src/helper/errors';
import { attachNetworks, detachNetworks } from '../../src/helper/net/attach';
import { builtinNetworks } from '../../src/helper/net/networks';
import { hostAddressOf, planPodMds, registerAttachedPod, unregisterPodMds } from '../../src/helper/verbs/run-mds';
import type { AppcPodManifest } from '../../src/schema/appc-pod';
import type { NetworkConfList } from '../../src/schema/cni';
import { buildBusyboxAci, manifestFor } from '../lib/aci-builder';
import { REPO, TestEnv } from '../lib/env';
import { RawClient } from '../lib/raw-client';
import { MdsProcess, request } from '../lib/mds';

const IMAGE_ID = `sha512-${'cd'.repeat(64)}`;

function manifest(names: string[]): AppcPodManifest {
  return {
    acVersion: '0.8.11',
    acKind: 'PodManifest',
    apps: names.map((name) => ({ name, image: { name: `example.com/${name}`, id: IMAGE_ID }, app: { exec: ['/x'], user: '0', group: '0', workingDirectory: '/', environment: [] } })),
    annotations: [],
  };
}

const images = (n: number) => Array.from({ length: n }, (_, i) => ({ manifest: `{"acKind":"ImageManifest","n":${i}}`, annotations: [{ name: 'n', value: String(i) }] }));

function conf(ipam: Record<string, unknown>): NetworkConfList {
  return { cniVersion: '1.0.0', name: 'test', plugins: [{ type: 'ptp', ipam: { type: 'host-local', ...ipam } }] };
}

function expectHelperError(code: string, re: RegExp): (e: unknown) => boolean {
  return (e) => e instanceof HelperError && e.code === code && re.test(e.message);
}

describe('--mds-register: the helper side', () => {
  const mds = new MdsProcess();
  before(() => mds.start());
  after(() => mds.cleanup());
  const cfg = () => ({ socket: mds.socket, port: mds.port });

  test('the URL names the host\'s address on the pod\'s first network, the port and a fresh 256-bit secret', () => {
    const def = builtinNetworks('/nonexistent').get('default')!;
    assert.equal(hostAddressOf(def), '172.16.28.1');
    assert.equal(hostAddressOf(conf({ subnet: '10.1.2.0/24', gateway: '10.1.2.254' })), '10.1.2.254');
    assert.equal(hostAddressOf(conf({ ranges: [[{ subnet: '10.9.0.0/16' }]] })), '10.9.0.1');
    assert.equal(hostAddressOf(conf({ ranges: [[{ subnet: '10.9.0.0/16', gateway: '10.9.3.3' }]] })), '10.9.3.3');
    const uuid = crypto.randomUUID();
    const a = planPodMds({ socket: '/x', port: 18112 }, uuid, [def]);
    const b = planPodMds({ socket: '/x', port: 18112 }, uuid, [def]);
    assert.match(a.url, /^http:\/\/172\.16\.28\.1:18112\/[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(a.secret, 'base64url').length, 32);
    assert.notEqual(a.secret, b.secret);
    assert.throws(() => planPodMds(cfg(), uuid, []), expectHelperError('ENETWORK', /--mds-register needs the pod on a network .*--net=default/));
    assert.throws(() => planPodMds(cfg(), uuid, [conf({ type: 'dhcp' })]), expectHelperError('ENETWORK', /has no IPv4 gateway or subnet/));
  });

  test('registered from the addresses the plugins reported; unregistered when the pod exits', async () => {
    const uuid = crypto.randomUUID();
    const plan = planPodMds(cfg(), uuid, [conf({ subnet: '127.0.0.0/8' })]);
    assert.equal(plan.hostAddress, '127.0.0.1');
    let exit!: () => void;
    const exited = new Promise<void>((r) => (exit = r));
    await registerAttachedPod(cfg(), { uuid, mds: plan, manifest: manifest(['one', 'two']), images: images(2), attached: [{ result: { ips: [{ address: '127.0.0.8/8', gateway: '127.0.0.1' }] } }], exited });
    const url = new URL(plan.url);
    const get = (p: string, from = '127.0.0.8') => request({ host: url.hostname, port: url.port, localAddress: from, path: `${url.pathname}/acMetadata/v1/${p}` });
    assert.equal((await get('pod/uuid')).body, uuid);
    assert.equal((await get('apps/two/image/manifest')).body, '{"acKind":"ImageManifest","n":1}');
    assert.deepEqual(JSON.parse((await get('apps/one/annotations')).body), [{ name: 'n', value: '0' }]);
    assert.equal((await get('pod/uuid', '127.0.0.9')).status, 403, 'another address is not the pod');
    exit();
    await exited;
    // The unregistration is on its way once the pod has exited.
    for (let i = 0; i < 100 && (await get('pod/uuid')).status === 200; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await get('pod/uuid')).status, 403);
    await unregisterPodMds(cfg(), uuid); // a second time: not an error
  });

  test('a gateway other than the one the apps were told, no address, or no service: the pod does not start', async () => {
    const uuid = crypto.randomUUID();
    const plan = planPodMds(cfg(), uuid, [conf({ subnet: '127.0.0.0/8' })]);
    const base = { uuid, mds: plan, manifest: manifest(['one']), images: images(1), exited: new Promise<void>(() => undefined) };
    await assert.rejects(registerAttachedPod(cfg(), { ...base, attached: [{ result: { ips: [{ address: '127.0.0.8/8', gateway: '127.0.0.2' }] } }] }), expectHelperError('ENETWORK', /gateway is 127\.0\.0\.2, not 127\.0\.0\.1/));
    await assert.rejects(registerAttachedPod(cfg(), { ...base, attached: [{ result: {} }] }), expectHelperError('ENETWORK', /reported no address/));
    await assert.rejects(registerAttachedPod({ socket: path.join(mds.dir, 'absent.sock'), port: mds.port }, { ...base, attached: [{ result: { ips: [{ address: '127.0.0.8/8', gateway: '127.0.0.1' }] } }] }), expectHelperError('ENETWORK', /cannot register with the metadata service .*start it/));
    // Refused by the service (the uuid is taken): the helper says so.
    const attached = [{ result: { ips: [{ address: '127.0.0.8/8', gateway: '127.0.0.1' }] } }];
    await registerAttachedPod(cfg(), { ...base, attached });
    await assert.rejects(registerAttachedPod(cfg(), { ...base, mds: planPodMds(cfg(), uuid, [conf({ subnet: '127.0.0.0/8' })]), attached }), expectHelperError('ENETWORK', /refused the registration \(409/));
    await unregisterPodMds(cfg(), uuid);
  });
});

describe('--mds-register over a real ptp network', () => {
  const mds = new MdsProcess();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-mds-net-'));
  const ns = `ward-mds-${crypto.randomBytes(4).toString('hex')}`;
  before(async () => {
    await mds.start(['--listen-address', '0.0.0.0']);
    execFileSync('ip', ['netns', 'add', ns]);
  });
  after(async () => {
    execFileSync('ip', ['netns', 'del', ns]);
    fs.rmSync(dir, { recursive: true, force: true });
    await mds.cleanup();
  });

  test('an app in the namespace reaches the service at AC_METADATA_URL; the host\'s end is where the plan said', async () => {
    const b = crypto.randomBytes(1)[0]!;
    const net = conf({ subnet: `10.211.${b}.0/24`, dataDir: path.join(dir, 'ipam') });
    const uuid = crypto.randomUUID();
    const plan = planPodMds({ socket: mds.socket, port: mds.port }, uuid, [net]);
    assert.equal(plan.hostAddress, `10.211.${b}.1`);
    const recordFile = path.join(dir, 'net.json');
    const attached = await attachNetworks({ containerId: uuid, netns: `/var/run/netns/${ns}`, networks: [net], ports: [], cniPath: '/usr/lib/cni', recordFile });
    try {
      await registerAttachedPod({ socket: mds.socket, port: mds.port }, { uuid, mds: plan, manifest: manifest(['app']), images: images(1), attached, exited: new Promise(() => undefined) });
      const script = "require('http').get(process.argv[1] + '/acMetadata/v1/pod/uuid', (r) => { let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => process.stdout.write(r.statusCode + ' ' + b)); }).on('error', (e) => process.stdout.write('error ' + e.message));";
      const got = await new Promise<string>((resolve) => {
        const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, plan.url], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
        child.on('close', () => resolve(out));
      });
      assert.equal(got, `200 ${uuid}`);
      // From the host itself (not the pod's address) the same URL is refused.
      const url = new URL(plan.url);
      assert.equal((await request({ host: url.hostname, port: url.port, path: `${url.pathname}/acMetadata/v1/pod/uuid` })).status, 403);
    } finally {
      await unregisterPodMds({ socket: mds.socket, port: mds.port }, uuid);
      await detachNetworks({ containerId: uuid, netns: `/var/run/netns/${ns}`, cniPath: '/usr/lib/cni', recordFile });
    }
  });
});

describe('ward run --mds-register', () => {
  const env = new TestEnv('mds-register');
  const mds = new MdsProcess();
  let aci: string;
  before(async () => {
    await mds.start();
    await env.start(['--mds-socket', mds.socket, '--mds-port', String(mds.port)]);
    aci = env.fixture('busybox.aci');
    await buildBusyboxAci(aci);
  });
  after(async () => {
    await env.stop();
    await mds.cleanup();
  });

  /** A pod prepared with --mds-register, registered by hand as if it had run (no network here). */
  async function registeredPod(): Promise<{ uuid: string; get: () => Promise<number> }> {
    const r = await env.ward('a', ['prepare', '--insecure-options=image', '--mds-register', aci]);
    assert.equal(r.code, 0, r.stderr);
    const uuid = r.stdout.trim();
    const rec = JSON.parse(fs.readFileSync(path.join(env.podDir(uuid)!, 'pod.json'), 'utf8')) as { manifest: AppcPodManifest; mdsImages: { manifest: string; annotations: unknown[] }[] };
    assert.equal(rec.mdsImages.length, 1);
    assert.equal(JSON.parse(rec.mdsImages[0]!.manifest).name, 'example.com/busybox');
    const secret = crypto.randomBytes(32).toString('base64url');
    const reg = { uuid, secret, addresses: ['127.0.0.12'], manifest: rec.manifest, apps: [{ name: rec.manifest.apps[0]!.name, image: rec.mdsImages[0] }] };
    assert.equal((await mds.register('PUT', `/pods/${uuid}`, JSON.stringify(reg))).status, 201);
    const get = async () => (await mds.query('127.0.0.12', `/${secret}/acMetadata/v1/pod/uuid`)).status;
    assert.equal(await get(), 200);
    return { uuid, get };
  }

  test('ward rm unregisters the pod', async () => {
    const pod = await registeredPod();
    const r = await env.ward('a', ['rm', pod.uuid]);
    assert.equal(r.code, 0, r.stderr);
    for (let i = 0; i < 100 && (await pod.get()) === 200; i++) await new Promise((res) => setTimeout(res, 20));
    assert.equal(await pod.get(), 403);
  });

  test('a helper starting after a crash unregisters the pods that exited meanwhile', async () => {
    const pod = await registeredPod();
    const other = await registeredPod();
    await env.killHelper();
    // As a pod that ran and exited while no helper watched it: in run/, its lock free.
    fs.renameSync(env.podDir(pod.uuid)!, path.join(env.state, 'pods', 'run', pod.uuid));
    await env.start(['--mds-socket', mds.socket, '--mds-port', String(mds.port)]);
    for (let i = 0; i < 100 && (await pod.get()) === 200; i++) await new Promise((res) => setTimeout(res, 20));
    assert.equal(await pod.get(), 403);
    assert.equal(await other.get(), 200, 'a prepared pod stays registered until it is removed');
    assert.equal((await env.ward('a', ['rm', other.uuid])).code, 0);
    assert.equal((await env.ward('a', ['rm', pod.uuid])).code, 0);
  });

  test('a pod with no network for the service to be reached on does not start, and leaves nothing', async () => {
    const r = await env.ward('a', ['run', '--insecure-options=image', '--mds-register', aci, '--', '-c', 'echo ran']);
    assert.equal(r.code, 254, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^ward: pod [0-9a-f-]{36}: --mds-register needs the pod on a network the metadata service is reached on; pass --net=default .*\n$/);
    const list = await env.ward('a', ['list', '--format=json']);
    assert.deepEqual(JSON.parse(list.stdout), []);
  });

  test('an image manifest too large to register is refused by ward before the helper is asked', async () => {
    const big = env.fixture('big-manifest.aci');
    await buildBusyboxAci(big, { name: 'example.com/big', manifest: { ...manifestFor({ name: 'example.com/big' }), annotations: [{ name: 'filler', value: 'x'.repeat(17 * 1024) }] } });
    const r = await env.ward('a', ['run', '--insecure-options=image', '--mds-register', big, '--', '-c', 'echo ran']);
    assert.equal(r.code, 251, r.stderr);
    assert.equal(r.stderr, 'ward: image example.com/big: its manifest is larger than the 16384 bytes the metadata service takes; run it without --mds-register\n');
  });

  test('the helper takes image manifests only with mdsRegister, one per app', async () => {
    const base = { verb: 'prepare', apps: [{ tree: `sha256:${'0'.repeat(64)}`, image: { name: 'example.com/x', id: IMAGE_ID, signer: 'unverified' }, app: { exec: ['/bin/sh'], user: 0, group: 0, workingDirectory: '/', environment: [] } }], insecureOptions: ['image'] };
    const one = images(1);
    for (const extra of [{ mdsImages: one }, { mdsRegister: true }, { mdsRegister: true, mdsImages: images(2) }, { mdsRegister: false, mdsImages: one }]) {
      const c = RawClient.connect(env.socket, 'a');
      try {
        const reply = await c.request({ ...base, ...extra });
        const json = (reply as { json: { ok: boolean; code: string; message: string } }).json;
        assert.deepEqual([json.ok, json.code, json.message], [false, 'EFRAME', 'mdsImages must come with mdsRegister, one per app'], JSON.stringify(extra));
      } finally {
        c.close();
      }
    }
  });

  test('helper policy may refuse --mds-register', async () => {
    const policy = JSON.parse(fs.readFileSync(path.join(REPO, 'policies', 'helper.json'), 'utf8')) as { users?: unknown };
    policy.users = { 'ward-test-a': { mdsRegister: false } };
    const policyFile = path.join(env.dir, 'helper-no-mds.json');
    fs.writeFileSync(policyFile, JSON.stringify(policy));
    await env.stopHelper();
    await env.start(['--policy', policyFile]);
    const r = await env.ward('a', ['run', '--insecure-options=image', '--mds-register', aci, '--', '-c', 'echo ran']);
    assert.equal(r.code, 252, r.stderr);
    assert.equal(r.stderr, 'ward: helper policy does not allow you --mds-register (grant mdsRegister)\n');
    const plain = await env.ward('a', ['run', '--insecure-options=image', aci, '--', '-c', 'echo ran']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, 'ran\n');
  });
});
