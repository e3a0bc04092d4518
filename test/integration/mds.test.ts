// `ward metadata-service` as root on a private socket and port: pods registered with loopback
// addresses (127.0.0.x) and queried from those addresses. Each endpoint answers as appc ace.md
// says, and only for the pod a request comes from (its secret and its address, both).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { account, REPO, USERS, WARD } from '../lib/env';
import { MdsProcess, newSecret } from '../lib/mds';

const TEXT = 'text/plain; charset=us-ascii';
const IMAGE_ID = `sha512-${'ab'.repeat(64)}`;

function image(name: string, annotations: { name: string; value: string }[]): { manifest: string; annotations: { name: string; value: string }[] } {
  // Spacing and key order as an image might have them: served back byte for byte.
  const manifest = JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name, labels: [{ name: 'os', value: 'linux' }], app: { exec: ['/bin/x'], user: '0', group: '0', ports: [{ name: 'www', protocol: 'tcp', port: 80 }] }, annotations }, null, 1);
  return { manifest, annotations };
}

interface Pod {
  uuid: string;
  secret: string;
  address: string;
  registration: Record<string, unknown>;
}

function pod(address: string, opts: { podAnnotations?: { name: string; value: string }[] } = {}): Pod {
  const uuid = crypto.randomUUID();
  const secret = newSecret();
  const app = (name: string) => ({ name, image: { name: `example.com/${name}`, id: IMAGE_ID }, app: { exec: ['/bin/x'], user: '0', group: '0', workingDirectory: '/', environment: [] } });
  const registration = {
    uuid,
    secret,
    addresses: [address],
    manifest: {
      acVersion: '0.8.11',
      acKind: 'PodManifest',
      apps: [{ ...app('main'), annotations: [{ name: 'lorem', value: 'pod-wins' }] }, app('sidekick')],
      annotations: opts.podAnnotations ?? [{ name: 'ip-address', value: address }],
    },
    apps: [
      { name: 'main', image: image('example.com/main', [{ name: 'lorem', value: 'ipsum' }, { name: 'homepage', value: 'https://example.com' }]) },
      { name: 'sidekick', image: image('example.com/sidekick', []) },
    ],
  };
  return { uuid, secret, address, registration };
}

const base = (p: Pod) => `/${p.secret}/acMetadata/v1`;

describe('ward metadata-service', () => {
  const mds = new MdsProcess();
  const a = pod('127.0.0.2');
  const b = pod('127.0.0.3', { podAnnotations: [] });

  before(async () => {
    await mds.start();
    for (const p of [a, b]) {
      const r = await mds.register('PUT', `/pods/${p.uuid}`, JSON.stringify(p.registration));
      assert.equal(r.status, 201, r.body);
    }
  });
  after(() => mds.cleanup());

  test('the registration socket is root-only (0600, root)', () => {
    const st = fs.statSync(mds.socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, 0);
  });

  test('pod endpoints: uuid, annotations (list and by name), manifest', async () => {
    const uuid = await mds.query(a.address, `${base(a)}/pod/uuid`);
    assert.deepEqual([uuid.status, uuid.type, uuid.body], [200, TEXT, a.uuid]);
    const annots = await mds.query(a.address, `${base(a)}/pod/annotations/`);
    assert.equal(annots.type, 'application/json');
    assert.deepEqual(JSON.parse(annots.body), [{ name: 'ip-address', value: '127.0.0.2' }]);
    assert.deepEqual(JSON.parse((await mds.query(a.address, `${base(a)}/pod/annotations`)).body), [{ name: 'ip-address', value: '127.0.0.2' }]);
    const one = await mds.query(a.address, `${base(a)}/pod/annotations/ip-address`);
    assert.deepEqual([one.status, one.type, one.body], [200, TEXT, '127.0.0.2']);
    assert.equal((await mds.query(a.address, `${base(a)}/pod/annotations/nope`)).status, 404);
    assert.deepEqual(JSON.parse((await mds.query(b.address, `${base(b)}/pod/annotations`)).body), []);
    const manifest = await mds.query(a.address, `${base(a)}/pod/manifest`);
    assert.equal(manifest.type, 'application/json');
    assert.deepEqual(JSON.parse(manifest.body), a.registration.manifest);
  });

  test('app endpoints: annotations merged (the pod manifest wins), image manifest verbatim, image id', async () => {
    const annots = await mds.query(a.address, `${base(a)}/apps/main/annotations`);
    assert.equal(annots.type, 'application/json');
    assert.deepEqual(JSON.parse(annots.body), [{ name: 'lorem', value: 'pod-wins' }, { name: 'homepage', value: 'https://example.com' }]);
    assert.equal((await mds.query(a.address, `${base(a)}/apps/main/annotations/lorem`)).body, 'pod-wins');
    assert.equal((await mds.query(a.address, `${base(a)}/apps/main/annotations/absent`)).status, 404);
    assert.deepEqual(JSON.parse((await mds.query(a.address, `${base(a)}/apps/sidekick/annotations/`)).body), []);
    const im = await mds.query(a.address, `${base(a)}/apps/main/image/manifest`);
    assert.deepEqual([im.status, im.type], [200, 'application/json']);
    assert.equal(im.body, (a.registration.apps as { image: { manifest: string } }[])[0]!.image.manifest);
    const id = await mds.query(a.address, `${base(a)}/apps/sidekick/image/id`);
    assert.deepEqual([id.status, id.type, id.body], [200, TEXT, IMAGE_ID]);
    assert.equal((await mds.query(a.address, `${base(a)}/apps/other/image/id`)).status, 404);
    assert.equal((await mds.query(a.address, `${base(a)}/apps/Bad_Name/image/id`)).status, 400);
    assert.equal((await mds.query(a.address, `${base(a)}/nothing/here`)).status, 404);
  });

  test('a wrong secret, a wrong source address or another pod\'s secret gets 403 and nothing else', async () => {
    const answers = await Promise.all([
      mds.query(a.address, `/${newSecret()}/acMetadata/v1/pod/uuid`),
      mds.query('127.0.0.9', `${base(a)}/pod/uuid`),
      mds.query(b.address, `${base(a)}/pod/uuid`),
      mds.query(a.address, `${base(b)}/pod/manifest`),
      mds.query('127.0.0.1', `${base(a)}/pod/hmac/sign`, { content: 'x' }),
      mds.query(a.address, '/acMetadata/v1/pod/uuid'),
    ]);
    for (const r of answers) {
      assert.equal(r.status, 403);
      assert.equal(r.body, 'forbidden\n');
    }
    // Each pod sees itself only.
    assert.equal((await mds.query(b.address, `${base(b)}/pod/uuid`)).body, b.uuid);
  });

  test('hmac: sign then verify round-trips; another pod verifies by uuid; tampering is refused', async () => {
    const content = 'Old MacDonald Had A Farm';
    const signed = await mds.query(a.address, `${base(a)}/pod/hmac/sign`, { content });
    assert.deepEqual([signed.status, signed.type], [200, TEXT]);
    const sig = Buffer.from(signed.body, 'base64');
    assert.equal(sig.length, 64, 'HMAC-SHA512 is 64 bytes');
    assert.equal(sig.toString('base64'), signed.body);
    const ok = await mds.query(b.address, `${base(b)}/pod/hmac/verify`, { content, uuid: a.uuid, signature: signed.body });
    assert.deepEqual([ok.status, ok.type], [200, TEXT]);
    // The same content signed by another pod differs: the signature names the pod.
    const byB = await mds.query(b.address, `${base(b)}/pod/hmac/sign`, { content });
    assert.notEqual(byB.body, signed.body);
    const flipped = Buffer.from(sig);
    flipped[10]! ^= 1;
    for (const form of [
      { content, uuid: a.uuid, signature: flipped.toString('base64') },
      { content: `${content}!`, uuid: a.uuid, signature: signed.body },
      { content, uuid: b.uuid, signature: signed.body },
      { content, uuid: a.uuid, signature: `${signed.body.slice(0, -2)}` },
    ]) {
      assert.equal((await mds.query(a.address, `${base(a)}/pod/hmac/verify`, form)).status, 403, JSON.stringify(form));
    }
    assert.equal((await mds.query(a.address, `${base(a)}/pod/hmac/verify`, { content, uuid: 'not-a-uuid', signature: signed.body })).status, 400);
    assert.equal((await mds.query(a.address, `${base(a)}/pod/hmac/sign`, { content: '' })).status, 400);
    assert.equal((await mds.query(a.address, `${base(a)}/pod/hmac/sign`, { content: 'x', extra: 'y' })).status, 400);
  });

  test('an oversized form is refused with 413', async () => {
    const r = await mds.query(a.address, `${base(a)}/pod/hmac/sign`, { content: 'x'.repeat(70 * 1024) });
    assert.equal(r.status, 413);
  });

  test('malformed registrations are refused and register nothing', async () => {
    const good = pod('127.0.0.4');
    const reg = good.registration;
    const path = `/pods/${good.uuid}`;
    const bad: [string, string | Buffer, string?][] = [
      ['not JSON', '{"uuid":'],
      ['duplicate key', JSON.stringify(reg).replace('{"uuid":', `{"uuid":"${good.uuid}","uuid":`)],
      ['unknown field', JSON.stringify({ ...reg, extra: 1 })],
      ['short secret', JSON.stringify({ ...reg, secret: 'abc' })],
      ['no address', JSON.stringify({ ...reg, addresses: [] })],
      ['bad address', JSON.stringify({ ...reg, addresses: ['127.0.0.300'] })],
      ['app not in the manifest', JSON.stringify({ ...reg, apps: [(reg.apps as object[])[0]] })],
      ['image annotation name not an AC Identifier', JSON.stringify({ ...reg, apps: (reg.apps as { image: object }[]).map((x) => ({ ...x, image: { ...x.image, annotations: [{ name: 'Bad Name', value: 'x' }] } })) })],
      ['image manifest over 16 KiB', JSON.stringify({ ...reg, apps: (reg.apps as { image: object }[]).map((x) => ({ ...x, image: { ...x.image, manifest: ' '.repeat(17 * 1024) } })) })],
      ['an app named twice', JSON.stringify({ ...reg, apps: [...(reg.apps as object[]), (reg.apps as object[])[0]] })],
      ['uuid differs from the path', JSON.stringify({ ...reg, uuid: crypto.randomUUID() })],
      ['not application/json', JSON.stringify(reg), 'text/plain'],
    ];
    for (const [why, body, type] of bad) {
      const r = await mds.register('PUT', path, body, type);
      assert.ok(r.status >= 400 && r.status < 500, `${why}: ${r.status} ${r.body}`);
      assert.equal((await mds.query(good.address, `${base(good)}/pod/uuid`)).status, 403, why);
    }
    assert.equal((await mds.register('PUT', '/pods/not-a-uuid', JSON.stringify(reg))).status, 404);
    // A uuid or a secret registered already.
    assert.equal((await mds.register('PUT', `/pods/${a.uuid}`, JSON.stringify({ ...reg, uuid: a.uuid }))).status, 409);
    assert.equal((await mds.register('PUT', path, JSON.stringify({ ...reg, secret: a.secret }))).status, 409);
  });

  test('an oversized registration is refused with 413', async () => {
    const p = pod('127.0.0.5');
    const huge = JSON.stringify({ ...p.registration, manifest: { ...(p.registration.manifest as object), annotations: [{ name: 'x', value: 'y'.repeat(1100 * 1024) }] } });
    const r = await mds.register('PUT', `/pods/${p.uuid}`, huge);
    assert.equal(r.status, 413);
  });

  test('unregister removes the pod; a second unregister finds nothing', async () => {
    const p = pod('127.0.0.6');
    assert.equal((await mds.register('PUT', `/pods/${p.uuid}`, JSON.stringify(p.registration))).status, 201);
    assert.equal((await mds.query(p.address, `${base(p)}/pod/uuid`)).body, p.uuid);
    assert.equal((await mds.register('DELETE', `/pods/${p.uuid}`)).status, 200);
    assert.equal((await mds.query(p.address, `${base(p)}/pod/uuid`)).status, 403);
    assert.equal((await mds.register('DELETE', `/pods/${p.uuid}`)).status, 404);
  });

  test('a peer other than root is refused even when the socket\'s mode would let it in', () => {
    const user = account(USERS.a);
    fs.chmodSync(mds.dir, 0o755);
    fs.chmodSync(mds.socket, 0o666);
    try {
      const p = pod('127.0.0.7');
      const script = `const http=require('node:http');const r=http.request({socketPath:process.argv[1],method:'PUT',path:'/pods/${p.uuid}',headers:{'Content-Type':'application/json'}},(res)=>{process.stdout.write(String(res.statusCode));res.resume()});r.on('error',(e)=>{process.stdout.write('error '+e.code)});r.end(process.argv[2]);`;
      const r = spawnSync('setpriv', ['--reuid', String(user.uid), '--regid', String(user.gid), '--clear-groups', '--', process.execPath, '-e', script, mds.socket, JSON.stringify(p.registration)], { encoding: 'utf8' });
      assert.equal(r.stdout, '403', r.stderr);
    } finally {
      fs.chmodSync(mds.socket, 0o600);
      fs.chmodSync(mds.dir, 0o700);
    }
  });

  test('the HMAC key lives only as long as the service: a restarted one does not verify old signatures', async () => {
    const content = 'kept';
    const sig = (await mds.query(a.address, `${base(a)}/pod/hmac/sign`, { content })).body;
    await mds.stop();
    await mds.start();
    assert.equal((await mds.register('PUT', `/pods/${a.uuid}`, JSON.stringify(a.registration))).status, 201);
    assert.equal((await mds.query(a.address, `${base(a)}/pod/hmac/verify`, { content, uuid: a.uuid, signature: sig })).status, 403);
    const fresh = (await mds.query(a.address, `${base(a)}/pod/hmac/sign`, { content })).body;
    assert.equal((await mds.query(a.address, `${base(a)}/pod/hmac/verify`, { content, uuid: a.uuid, signature: fresh })).status, 200);
  });

  test('ward metadata-service refuses to run as an unprivileged user', () => {
    const user = account(USERS.a);
    const r = spawnSync('setpriv', ['--reuid', String(user.uid), '--regid', String(user.gid), '--clear-groups', '--', process.execPath, WARD, 'metadata-service', '--socket', `${mds.dir}/x.sock`], { encoding: 'utf8', cwd: REPO });
    assert.equal(r.status, 252, r.stderr);
    assert.match(r.stderr, /^ward: metadata-service must run as root/);
  });
});
