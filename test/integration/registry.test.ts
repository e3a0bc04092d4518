// docker:// against real registries and hostile ones. Real: Debian's docker-registry
// (distribution 2.8) on loopback, anonymous, behind htpasswd Basic auth, behind token auth (with
// a node token server whose ES256 JWTs the registry verifies), and over TLS; images built here
// from busybox-static as OCI layouts and pushed by skopeo, digests compared with what skopeo
// inspect reports. Hostile: a node server that answers as a broken or lying registry would.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { loadCredentials, parseDockerReference, resolveDocker, TokenCache, type DockerReference, type RegistryImage, type RegistryOptions } from '../../src/image/registry';
import { parseChallenges } from '../../src/image/registry/challenge';
import { ImageSourceError } from '../../src/image/source';
import { FakeRegistry, fakeImage, indexOf, sha256 } from '../lib/fake-registry';
import { busyboxLayer, OciLayout } from '../lib/registry-images';
import { htpasswd, inspectRaw, makeCert, push, startRegistry, startTokenServer, type Registry, type TokenServer } from '../lib/registry';

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Streams every layer and checks each hashes to its digest and has its size. */
async function checkLayers(img: RegistryImage): Promise<void> {
  for (const l of img.layers) {
    const bytes = await readAll(await img.openLayer(l));
    assert.equal(bytes.length, l.size);
    assert.equal(sha256(bytes), l.digest);
  }
}

/** Resolves, checks the layers, closes. */
async function pull(ref: string, o: RegistryOptions): Promise<RegistryImage> {
  const img = await resolveDocker(ref, o);
  try {
    await checkLayers(img);
  } finally {
    await img.close();
  }
  return img;
}

/** Asserts that resolving (and reading every layer) fails with `code` and a one-line message matching `re`. */
async function refused(ref: string, o: RegistryOptions, code: ImageSourceError['code'] | 'EUSAGE', re: RegExp): Promise<string> {
  let err: unknown;
  try {
    await pull(ref, o);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof Error, `resolving ${ref} should have failed`);
  assert.equal((err as ImageSourceError).code, code, (err as Error).message);
  assert.match(err.message, re);
  assert.ok(!err.message.includes('\n'), 'one line');
  assert.match(err.message, new RegExp(`^docker://${ref.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').split(/[:@]/)[0]}`), 'names the image');
  return err.message;
}

describe('docker:// from the Debian docker-registry', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-registry-'));
  const layoutDir = path.join(tmp, 'layout');
  const authFile = path.join(tmp, 'auth.json');
  const noAuth = path.join(tmp, 'no-auth.json');
  let anon: Registry;
  let basic: Registry;
  let token: Registry;
  let tls: Registry;
  let tokens: TokenServer;
  let single: { digest: string; configDigest: string; layerDigests: string[] };
  let arm: { configDigest: string; layerDigests: string[] };
  let layerBytes: Buffer;

  before(async () => {
    // The images: one busybox layer; the arm64 variant differs by a marker file and its config.
    const layout = new OciLayout(layoutDir);
    const amd = await busyboxLayer();
    const armLayer = await busyboxLayer('arm64');
    layerBytes = amd.gz;
    const one = layout.image({ arch: 'amd64', layers: [amd.gz], diffIds: [amd.diffId] });
    layout.tag('single', one);
    single = one;
    const a = layout.image({ arch: 'amd64', layers: [amd.gz], diffIds: [amd.diffId], cmd: ['/bin/echo', 'amd64'] });
    const b = layout.image({ arch: 'arm64', variant: 'v8', layers: [armLayer.gz], diffIds: [armLayer.diffId], cmd: ['/bin/echo', 'arm64'] });
    arm = b;
    layout.tag('multi', layout.index([a, b]));
    layout.tag('armonly', layout.index([b]));

    const [pw, cert, ts] = await Promise.all([
      htpasswd(path.join(tmp, 'htpasswd'), 'alice', 'wonderland').then(() => path.join(tmp, 'htpasswd')),
      makeCert(tmp, 'registry'),
      startTokenServer(tmp, { bob: 'builder' }),
    ]);
    tokens = ts;
    [anon, basic, token, tls] = await Promise.all([
      startRegistry(path.join(tmp, 'anon'), { kind: 'none' }),
      startRegistry(path.join(tmp, 'basic'), { kind: 'basic', htpasswd: pw }),
      startRegistry(path.join(tmp, 'token'), { kind: 'token', realm: ts.realm, service: ts.service, issuer: ts.issuer, rootcertbundle: ts.certFile }),
      startRegistry(path.join(tmp, 'tls'), { kind: 'none' }, cert),
    ]);
    // Pushes to one repository go one after another: docker-registry answers two uploads of the
    // same blob into one repository at once with 500 now and then. Repositories in parallel.
    const inOrder = async (pushes: (() => Promise<void>)[]) => {
      for (const p of pushes) await p();
    };
    await Promise.all([
      inOrder([
        () => push(layoutDir, 'single', `${anon.host}/busybox:single`),
        () => push(layoutDir, 'single', `${anon.host}/busybox:v2s2`, { format: 'v2s2' }),
        () => push(layoutDir, 'multi', `${anon.host}/busybox:list`, { all: true, format: 'v2s2' }),
        () => push(layoutDir, 'multi', `${anon.host}/busybox:index`, { all: true }),
        () => push(layoutDir, 'armonly', `${anon.host}/busybox:armonly`, { all: true }),
      ]),
      push(layoutDir, 'single', `${basic.host}/private/busybox:single`, { creds: 'alice:wonderland' }),
      push(layoutDir, 'single', `${token.host}/public/busybox:single`, { creds: 'bob:builder' }),
      push(layoutDir, 'multi', `${token.host}/private/busybox:multi`, { all: true, creds: 'bob:builder' }),
      push(layoutDir, 'single', `${tls.host}/busybox:single`),
    ]);
    fs.writeFileSync(noAuth, JSON.stringify({ auths: {} }));
  });

  after(async () => {
    await Promise.all([anon, basic, token, tls].filter(Boolean).map((r) => r.stop()));
    await tokens?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const http = (o: RegistryOptions = {}): RegistryOptions => ({ allowHttp: true, authFile: noAuth, ...o });

  test('a single-arch OCI image resolves by tag to the digests skopeo reports, and its layer hashes to its digest', async () => {
    const raw = await inspectRaw(`${anon.host}/busybox:single`);
    const img = await pull(`${anon.host}/busybox:single`, http());
    assert.equal(img.transport, 'docker');
    assert.equal(img.name, `${anon.host}/busybox:single`);
    assert.equal(img.manifestDigest, sha256(raw));
    assert.equal(img.manifestDigest, single.digest, 'skopeo pushed the layout manifest unchanged');
    assert.deepEqual(img.manifest, raw);
    assert.equal(img.configDigest, single.configDigest);
    assert.equal(sha256(img.configBytes), img.configDigest);
    assert.deepEqual(img.layers.map((l) => l.digest), single.layerDigests);
    assert.equal(img.config.architecture, 'amd64');
    assert.deepEqual(img.config.config?.Cmd, ['/bin/sh']);
    assert.equal(img.index, undefined);
    assert.equal(img.registry, `http://${anon.host}/`);
  });

  test('by digest, the same image', async () => {
    const img = await pull(`${anon.host}/busybox@${single.digest}`, http());
    assert.equal(img.manifestDigest, single.digest);
    assert.equal(img.name, `${anon.host}/busybox@${single.digest}`);
  });

  test('a Docker schema 2 image (converted by skopeo --format v2s2)', async () => {
    const raw = await inspectRaw(`${anon.host}/busybox:v2s2`);
    assert.equal(JSON.parse(raw.toString()).mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    const img = await pull(`${anon.host}/busybox:v2s2`, http());
    assert.equal(img.manifestDigest, sha256(raw));
    assert.equal(img.layers[0]!.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
  });

  for (const [tag, listType] of [['list', 'application/vnd.docker.distribution.manifest.list.v2+json'], ['index', 'application/vnd.oci.image.index.v1+json']] as const) {
    test(`a ${tag === 'list' ? 'Docker manifest list' : 'OCI index'} resolves to its linux/amd64 manifest`, async () => {
      const raw = await inspectRaw(`${anon.host}/busybox:${tag}`);
      const list = JSON.parse(raw.toString()) as { mediaType: string; manifests: { digest: string; platform: { architecture: string } }[] };
      assert.equal(list.mediaType, listType);
      const img = await pull(`${anon.host}/busybox:${tag}`, http());
      assert.equal(img.index?.digest, sha256(raw));
      assert.equal(img.manifestDigest, list.manifests.find((m) => m.platform.architecture === 'amd64')!.digest);
      assert.equal(img.config.architecture, 'amd64');
      assert.deepEqual(img.config.config?.Cmd, ['/bin/echo', 'amd64']);
      assert.deepEqual(img.platform, { os: 'linux', architecture: 'amd64' });
    });
  }

  test('another platform can be asked for: linux/arm64/v8 from the same index', async () => {
    const img = await pull(`${anon.host}/busybox:index`, http({ platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }));
    assert.equal(img.config.architecture, 'arm64');
    assert.equal(img.configDigest, arm.configDigest);
    assert.deepEqual(img.layers.map((l) => l.digest), arm.layerDigests);
  });

  test('an index without linux/amd64 is refused, naming the platforms it has', async () => {
    await refused(`${anon.host}/busybox:armonly`, http(), 'EPLATFORM', /no image for linux\/amd64; the index offers linux\/arm64\/v8; pick an image built for linux\/amd64$/);
  });

  test('a missing tag and a missing repository are ENOTFOUND', async () => {
    await refused(`${anon.host}/busybox:nope`, http(), 'ENOTFOUND', /manifests\/nope: no such manifest \(MANIFEST_UNKNOWN/);
    await refused(`${anon.host}/nothing/here:latest`, http(), 'ENOTFOUND', /no such manifest \((NAME|MANIFEST)_UNKNOWN/);
  });

  test('a bad reference is a usage error', async () => {
    await refused(`${anon.host}/Busy Box`, http(), 'EUSAGE', /not a docker image reference/);
    await refused(`${anon.host}/busybox@sha256:1234`, http(), 'EUSAGE', /is not sha256:<64 hex>/);
  });

  test('plain http is used only with --insecure-options=http', async () => {
    await refused(`${anon.host}/busybox:single`, { authFile: noAuth }, 'ENETWORK', /GET https:\/\/127\.0\.0\.1:\d+\/v2\/: the server does not speak TLS .*; pass --insecure-options=http to use plain http$/);
  });

  test('TLS: an untrusted certificate is refused unless --insecure-options=tls, and never falls back to http', async () => {
    await refused(`${tls.host}/busybox:single`, { authFile: noAuth }, 'ENETWORK', /the TLS certificate is not trusted .*; pass --insecure-options=tls/);
    await refused(`${tls.host}/busybox:single`, { authFile: noAuth, allowHttp: true }, 'ENETWORK', /--insecure-options=tls/);
    const img = await pull(`${tls.host}/busybox:single`, { authFile: noAuth, insecureTls: true });
    assert.equal(img.registry, `https://${tls.host}/`);
    assert.equal(img.manifestDigest, single.digest);
  });

  test('a layer read from an offset (resuming) sends Range and yields the rest', async () => {
    const img = await resolveDocker(`${anon.host}/busybox:single`, http());
    try {
      const l = img.layers[0]!;
      const tail = await readAll(await img.openLayer(l, 1000));
      assert.deepEqual(tail, layerBytes.subarray(1000));
      assert.equal((await readAll(await img.openLayer(l, l.size))).length, 0);
    } finally {
      await img.close();
    }
  });

  test('Basic auth: no credentials, wrong ones, then the right ones from the auth file', async () => {
    const ref = `${basic.host}/private/busybox:single`;
    await refused(ref, http(), 'EAUTH', new RegExp(`requires a login; log in: add credentials for ${basic.host} to ${noAuth.replace(/[.]/g, '\\.')}$`));
    fs.writeFileSync(authFile, JSON.stringify({ auths: { [basic.host]: { auth: Buffer.from('alice:not-it').toString('base64') } } }));
    await refused(ref, http({ authFile }), 'EAUTH', new RegExp(`refused the credentials .*; check the user name and password for ${basic.host} in`));
    fs.writeFileSync(authFile, JSON.stringify({ auths: { [`https://${basic.host}/v1/`]: { auth: Buffer.from('alice:wonderland').toString('base64') } } }));
    const img = await pull(ref, http({ authFile }));
    assert.equal(img.manifestDigest, sha256(await inspectRaw(ref, 'alice:wonderland')));
  });

  test('a malformed auth file is a usage error naming the file', async () => {
    const bad = path.join(tmp, 'bad-auth.json');
    fs.writeFileSync(bad, '{"auths": {"x": {"auth": 5}}}');
    await refused(`${basic.host}/private/busybox:single`, http({ authFile: bad }), 'EUSAGE', /credentials file .*bad-auth\.json: auths\.x\.auth: .*; fix it/);
  });

  test('token auth: anonymous pull of a public repository, one token for the whole pull, reused while valid', async () => {
    const cache = new TokenCache();
    const before = tokens.requests.length;
    const img = await pull(`${token.host}/public/busybox:single`, http({ tokenCache: cache }));
    assert.equal(img.manifestDigest, single.digest);
    const asked = tokens.requests.slice(before);
    assert.deepEqual(asked, [{ scope: 'repository:public/busybox:pull', account: '' }]);
    await pull(`${token.host}/public/busybox:single`, http({ tokenCache: cache }));
    assert.equal(tokens.requests.length, before + 1, 'the cached token was reused');
  });

  test('token auth: a private repository needs credentials, which go to the token server', async () => {
    const ref = `${token.host}/private/busybox:multi`;
    await refused(ref, http({ tokenCache: new TokenCache() }), 'EAUTH', new RegExp(`refused anonymous access .*; log in: add credentials for ${token.host} to`));
    fs.writeFileSync(authFile, JSON.stringify({ auths: { [token.host]: { auth: Buffer.from('bob:wrong').toString('base64') } } }));
    await refused(ref, http({ authFile, tokenCache: new TokenCache() }), 'EAUTH', /GET http:\/\/127\.0\.0\.1:\d+\/token\?…: the token server refused the credentials for .* \(UNAUTHORIZED: bad credentials\)/);
    fs.writeFileSync(authFile, JSON.stringify({ auths: { [token.host]: { auth: Buffer.from('bob:builder').toString('base64') } } }));
    const before = tokens.requests.length;
    const img = await pull(ref, http({ authFile, tokenCache: new TokenCache() }));
    assert.deepEqual(tokens.requests.slice(before), [{ scope: 'repository:private/busybox:pull', account: 'bob' }]);
    const raw = await inspectRaw(ref, 'bob:builder');
    assert.equal(img.index?.digest, sha256(raw));
    assert.equal(img.config.architecture, 'amd64');
  });

  test('throughput: a 100 MB layer from the local registry', async (t) => {
    const dir = path.join(tmp, 'big');
    const big = new OciLayout(dir);
    // Stored gzip (level 0) of random bytes: a real gzip stream, so skopeo pushes it unchanged, made fast.
    const raw = crypto.randomBytes(100 * 1024 * 1024);
    const bytes = zlib.gzipSync(raw, { level: 0 });
    const m = big.image({ arch: 'amd64', layers: [bytes], diffIds: [sha256(raw)] });
    big.tag('big', m);
    await push(dir, 'big', `${anon.host}/big:latest`);
    const img = await resolveDocker(`${anon.host}/big:latest`, http());
    try {
      const start = process.hrtime.bigint();
      const hash = crypto.createHash('sha256');
      let n = 0;
      for await (const c of await img.openLayer(img.layers[0]!)) {
        hash.update(c as Buffer);
        n += (c as Buffer).length;
      }
      const s = Number(process.hrtime.bigint() - start) / 1e9;
      assert.equal(n, bytes.length);
      assert.equal(`sha256:${hash.digest('hex')}`, sha256(bytes));
      t.diagnostic(`${(n / 1024 / 1024).toFixed(0)} MiB layer streamed and hashed in ${s.toFixed(2)} s: ${(n / 1e6 / s).toFixed(0)} MB/s`);
    } finally {
      await img.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('docker:// from a hostile registry', () => {
  const fake = new FakeRegistry();
  const img = fakeImage();
  const fast: RegistryOptions = { allowHttp: true, credentials: null, timeouts: { answerMs: 2000, idleMs: 2000 } };
  const ref = (tag: string) => `${fake.host}/evil:${tag}`;

  before(async () => {
    await fake.start();
  });
  after(() => fake.stop());

  const redirect = (res: http.ServerResponse, status: number, location: string): true => {
    res.writeHead(status, { Location: location, 'Content-Length': '0' }).end();
    return true;
  };
  const setup = (fill: () => void) => {
    fake.reset();
    fill();
  };

  test('the honest baseline resolves', async () => {
    setup(() => fake.add('evil', 'ok', img));
    const got = await pull(ref('ok'), fast);
    assert.equal(got.manifestDigest, img.manifestDigest);
  });

  test('an oversize manifest (Content-Length over 4 MiB) is refused before its body is read', async () => {
    setup(() => {
      fake.override = (req, res) => {
        if (!req.url?.includes('/manifests/')) return false;
        // Headers only: a client that waited for the body would time out instead.
        res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Content-Length': String(5 * 1024 * 1024) });
        res.flushHeaders();
        return true;
      };
    });
    await refused(ref('big'), fast, 'ELIMIT', /the manifest is 5242880 bytes, more than the 4194304 allowed; the registry is broken or hostile$/);
  });

  test('an endless manifest without Content-Length is cut after 4 MiB', async () => {
    let written = 0;
    setup(() => {
      fake.override = (req, res) => {
        if (!req.url?.includes('/manifests/')) return false;
        res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        const pump = () => {
          while (!res.destroyed && res.write(chunk)) written += chunk.length;
          if (!res.destroyed) res.once('drain', pump);
        };
        res.on('close', () => undefined);
        pump();
        return true;
      };
    });
    await refused(ref('endless'), fast, 'ELIMIT', /the manifest is more than the 4194304 bytes allowed/);
    assert.ok(written < 16 * 1024 * 1024, `the server got to write ${written} bytes`);
  });

  test('a manifest that does not hash to the digest asked for is refused', async () => {
    const other = fakeImage();
    setup(() => fake.manifests.set(`evil@${img.manifestDigest}`, { body: other.manifest, contentType: 'application/vnd.oci.image.manifest.v1+json', digestHeader: null }));
    await refused(`${fake.host}/evil@${img.manifestDigest}`, fast, 'EIMAGE', new RegExp(`has digest ${other.manifestDigest}, not the ${img.manifestDigest} asked for`));
  });

  test('a Docker-Content-Digest header that disagrees with the bytes is refused', async () => {
    setup(() => {
      fake.add('evil', 'lie', img);
      fake.manifests.get('evil:lie')!.digestHeader = sha256('something else');
    });
    await refused(ref('lie'), fast, 'EIMAGE', /Docker-Content-Digest says sha256:[0-9a-f]{64} but the manifest's bytes hash to/);
  });

  test('a Content-Length longer than the body sent is a network error, not a short manifest', async () => {
    setup(() => {
      fake.override = (req, res) => {
        if (!req.url?.includes('/manifests/')) return false;
        res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Content-Length': String(img.manifest.length + 100) });
        res.write(img.manifest);
        setTimeout(() => res.socket?.destroy(), 20);
        return true;
      };
    });
    await refused(ref('short'), fast, 'ENETWORK', new RegExp(`the connection closed after ${img.manifest.length} of the ${img.manifest.length + 100} bytes of the manifest`));
  });

  test('a media type that lies about the content is refused (index served as a manifest, and the reverse)', async () => {
    const idx = indexOf([{ digest: img.manifestDigest, size: img.manifest.length }]);
    setup(() => {
      fake.add('evil', 'real', img);
      fake.manifests.set('evil:idx-as-manifest', { body: idx, contentType: 'application/vnd.oci.image.manifest.v1+json' });
      fake.manifests.set('evil:manifest-as-idx', { body: img.manifest, contentType: 'application/vnd.docker.distribution.manifest.list.v2+json' });
    });
    await refused(ref('idx-as-manifest'), fast, 'EIMAGE', /the Content-Type says application\/vnd\.oci\.image\.manifest\.v1\+json but the content is an index/);
    await refused(ref('manifest-as-idx'), fast, 'EIMAGE', /the Content-Type says application\/vnd\.docker\.distribution\.manifest\.list\.v2\+json but the content is an image manifest/);
  });

  test("an index whose descriptor calls a manifest an index is refused", async () => {
    const idx = indexOf([{ digest: img.manifestDigest, size: img.manifest.length, mediaType: 'application/vnd.oci.image.index.v1+json' }]);
    setup(() => {
      fake.add('evil', 'real', img);
      fake.manifests.set('evil:mislabelled', { body: idx, contentType: 'application/vnd.oci.image.index.v1+json' });
    });
    await refused(ref('mislabelled'), fast, 'EIMAGE', /the parent index's descriptor says application\/vnd\.oci\.image\.index\.v1\+json but the content is an image manifest/);
  });

  test('a document that is both an index and a manifest is refused', async () => {
    const both = Buffer.from(JSON.stringify({ ...JSON.parse(img.manifest.toString()), manifests: [] }));
    setup(() => fake.manifests.set('evil:both', { body: both, contentType: 'application/vnd.oci.image.manifest.v1+json' }));
    await refused(ref('both'), fast, 'EIMAGE', /neither an image manifest nor an index/);
  });

  test('duplicate JSON keys (read differently by different parsers) are refused', async () => {
    const text = img.manifest.toString().replace('{"schemaVersion":2,', '{"schemaVersion":2,"schemaVersion":2,');
    setup(() => fake.manifests.set('evil:dup', { body: Buffer.from(text), contentType: 'application/vnd.oci.image.manifest.v1+json' }));
    await refused(ref('dup'), fast, 'EIMAGE', /not valid JSON \(has a duplicate field "schemaVersion"\)/);
  });

  test('a manifest list that points at itself is refused (as the digest mismatch it must be)', async () => {
    // An index cannot hold its own digest; a registry can only pretend, by answering the digest
    // the index names with the index again.
    const idx = indexOf([{ digest: img.manifestDigest, size: 0, mediaType: 'application/vnd.oci.image.index.v1+json' }]);
    const looped = indexOf([{ digest: sha256(idx), size: idx.length, mediaType: 'application/vnd.oci.image.index.v1+json' }]);
    setup(() => {
      fake.manifests.set('evil:loop', { body: looped, contentType: 'application/vnd.oci.image.index.v1+json' });
      fake.override = (req, res) => {
        if (!req.url?.includes('/manifests/sha256:')) return false;
        res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.index.v1+json', 'Content-Length': String(looped.length) }).end(looped);
        return true;
      };
    });
    await refused(ref('loop'), fast, 'EIMAGE', /sends \d+ bytes for a manifest its index says is \d+|has digest sha256:[0-9a-f]+, not the sha256:[0-9a-f]+ asked for/);
  });

  test('indexes nested two deep are followed; three deep are refused', async () => {
    const wrap = (inner: Buffer) => indexOf([{ digest: sha256(inner), size: inner.length, mediaType: 'application/vnd.oci.image.index.v1+json' }]);
    const i1 = indexOf([{ digest: img.manifestDigest, size: img.manifest.length }]);
    const i2 = wrap(i1);
    const i3 = wrap(i2);
    setup(() => {
      fake.add('evil', 'real', img);
      for (const i of [i1, i2, i3]) fake.manifests.set(`evil@${sha256(i)}`, { body: i, contentType: 'application/vnd.oci.image.index.v1+json' });
      fake.manifests.set('evil:two', fake.manifests.get(`evil@${sha256(i2)}`)!);
      fake.manifests.set('evil:three', fake.manifests.get(`evil@${sha256(i3)}`)!);
    });
    const ok = await pull(ref('two'), fast);
    assert.equal(ok.manifestDigest, img.manifestDigest);
    assert.equal(ok.index?.digest, sha256(i2));
    await refused(ref('three'), fast, 'ELIMIT', /indexes nest more than 2 deep/);
  });

  test('platform substitution: an index entry for amd64 whose config says arm64 is refused', async () => {
    const armImg = fakeImage({ arch: 'arm64' });
    const idx = indexOf([{ digest: armImg.manifestDigest, size: armImg.manifest.length, platform: { architecture: 'amd64', os: 'linux' } }]);
    setup(() => {
      fake.add('evil', 'arm', armImg);
      fake.manifests.set('evil:subst', { body: idx, contentType: 'application/vnd.oci.image.index.v1+json' });
    });
    await refused(ref('subst'), fast, 'EPLATFORM', /the index offered it as linux\/amd64 but the image's config says linux\/arm64, not linux\/amd64; the registry is broken or hostile$/);
    // And a single-arch image for another platform is refused too, with a plainer remedy.
    await refused(ref('arm'), fast, 'EPLATFORM', /config says linux\/arm64, not linux\/amd64; pick an image built for linux\/amd64$/);
  });

  test('a config that does not hash to its digest, or is larger than its descriptor, is refused', async () => {
    setup(() => {
      fake.add('evil', 'cfg', img);
      fake.blobs.set(img.configDigest, Buffer.from(img.config.toString().replace('amd64', 'AMD64')));
    });
    await refused(ref('cfg'), fast, 'EIMAGE', /the config has digest sha256:[0-9a-f]+, not sha256:/);
    setup(() => {
      fake.add('evil', 'cfg', img);
      fake.blobs.set(img.configDigest, Buffer.concat([img.config, Buffer.from('    ')]));
    });
    await refused(ref('cfg'), fast, 'EIMAGE', new RegExp(`sends ${img.config.length + 4} bytes for a config whose descriptor says ${img.config.length}`));
  });

  test('an artifact (config media type not an image config) is refused', async () => {
    const art = fakeImage({ configMediaType: 'application/vnd.cncf.helm.config.v1+json' });
    setup(() => fake.add('evil', 'helm', art));
    await refused(ref('helm'), fast, 'EIMAGE', /an artifact, not a container image/);
  });

  test('a schema 1 manifest is refused with what to do', async () => {
    setup(() => fake.manifests.set('evil:v1', { body: Buffer.from('{"schemaVersion":1,"name":"evil","tag":"v1","fsLayers":[]}'), contentType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' }));
    await refused(ref('v1'), fast, 'EIMAGE', /schema 1 .*; push the image again/);
  });

  test('a redirect loop and a chain of more than 5 redirects are refused', async () => {
    setup(() => {
      fake.add('evil', 'ok', img);
      fake.override = (req, res) => {
        const url = req.url ?? '';
        if (url.includes('/blobs/') && url.includes(img.layerDigest)) return redirect(res, 302, '/loop-a');
        if (url === '/loop-a') return redirect(res, 302, '/loop-b');
        if (url === '/loop-b') return redirect(res, 307, `http://${fake.host}/loop-a`);
        return false;
      };
    });
    await refused(ref('ok'), fast, 'EIMAGE', /GET http:\/\/127\.0\.0\.1:\d+\/loop-b: redirect loop/);
    setup(() => {
      fake.add('evil', 'ok', img);
      fake.override = (req, res) => {
        const url = req.url ?? '';
        if (url.includes('/blobs/') && url.includes(img.layerDigest)) return redirect(res, 302, '/hop/1');
        const hop = /^\/hop\/(\d+)$/.exec(url);
        if (hop) return redirect(res, 302, `/hop/${Number(hop[1]) + 1}`);
        return false;
      };
    });
    await refused(ref('ok'), fast, 'EIMAGE', /more than 5 redirects/);
  });

  test("a blob redirected to storage on another origin is fetched without the registry's Authorization", async () => {
    const storage = new FakeRegistry();
    await storage.start();
    try {
      storage.override = (req, res) => {
        if (!req.url?.startsWith('/storage/')) return false;
        res.writeHead(200, { 'Content-Length': String(img.layer.length) }).end(img.layer);
        return true;
      };
      const basic = `Basic ${Buffer.from('u:p').toString('base64')}`;
      setup(() => {
        fake.add('evil', 'ok', img);
        fake.override = (req, res) => {
          if (req.headers.authorization !== basic) {
            res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="fake"', 'Content-Length': '0' }).end();
            return true;
          }
          if (req.url?.includes(img.layerDigest)) return redirect(res, 307, `http://${storage.host}/storage/blob?X-Signature=secret`);
          return false;
        };
      });
      const got = await pull(ref('ok'), { ...fast, credentials: { username: 'u', password: 'p' } });
      assert.equal(got.layers[0]!.digest, img.layerDigest);
      assert.ok(fake.seen.some((s) => s.authorization === basic), 'the registry got the credentials');
      assert.deepEqual(storage.seen.map((s) => s.authorization), [undefined], 'storage did not');
    } finally {
      await storage.stop();
    }
  });

  test('a blob body longer than its descriptor is cut with an error', async () => {
    setup(() => {
      fake.add('evil', 'ok', img);
      fake.override = (req, res) => {
        if (!req.url?.includes(img.layerDigest)) return false;
        // No Content-Length: chunked, so only the byte count can tell.
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        res.write(img.layer);
        res.end(Buffer.alloc(1000));
        return true;
      };
    });
    await refused(ref('ok'), fast, 'EIMAGE', new RegExp(`blobs/${img.layerDigest}: the layer is longer than the ${img.layer.length} bytes its descriptor leaves to read`));
  });

  test('a blob whose Content-Length differs from its descriptor is refused before reading', async () => {
    setup(() => {
      fake.add('evil', 'ok', img);
      fake.blobs.set(img.layerDigest, Buffer.concat([img.layer, Buffer.alloc(10)]));
    });
    await refused(ref('ok'), fast, 'EIMAGE', new RegExp(`sends ${img.layer.length + 10} bytes where the layer's descriptor leaves ${img.layer.length}`));
  });

  test('a blob cut short is a network error the caller can resume from', async () => {
    setup(() => {
      fake.add('evil', 'ok', img);
      fake.override = (req, res) => {
        if (!req.url?.includes(img.layerDigest) || req.headers.range) return false;
        res.writeHead(200, { 'Content-Length': String(img.layer.length) });
        res.write(img.layer.subarray(0, 1000));
        setTimeout(() => res.socket?.destroy(), 20);
        return true;
      };
    });
    const got = await resolveDocker(ref('ok'), fast);
    try {
      const l = got.layers[0]!;
      await assert.rejects(readAll(await got.openLayer(l)), (e: ImageSourceError) => e.code === 'ENETWORK' && /connection closed after \d+ bytes while reading the layer/.test(e.message));
      // The resumed request has a Range; the fake answers 206 with the rest.
      assert.deepEqual(await readAll(await got.openLayer(l, 1000)), img.layer.subarray(1000));
    } finally {
      await got.close();
    }
  });

  test('a server that ignores Range has the bytes already held skipped', async () => {
    setup(() => {
      fake.add('evil', 'ok', img);
      fake.override = (req, res) => {
        if (!req.url?.includes(img.layerDigest)) return false;
        res.writeHead(200, { 'Content-Length': String(img.layer.length) }).end(img.layer);
        return true;
      };
    });
    const got = await resolveDocker(ref('ok'), fast);
    try {
      assert.deepEqual(await readAll(await got.openLayer(got.layers[0]!, 5000)), img.layer.subarray(5000));
    } finally {
      await got.close();
    }
  });

  test('huge response headers are refused', async () => {
    setup(() => {
      fake.override = (req, res) => {
        if (!req.url?.includes('/manifests/')) return false;
        res.writeHead(200, { 'X-Padding': 'x'.repeat(100 * 1024), 'Content-Length': '2' }).end('{}');
        return true;
      };
    });
    await refused(ref('headers'), fast, 'ELIMIT', /the response headers are larger than 32768 bytes/);
  });

  test('a registry that never answers times out', async () => {
    setup(() => {
      fake.override = (req) => req.url?.includes('/manifests/') ?? false;
    });
    await refused(ref('silent'), { ...fast, timeouts: { answerMs: 300, idleMs: 5000 } }, 'ENETWORK', /no answer within 0\.3 s; try again later$/);
  });

  test('a token server answering garbage is an auth error', async () => {
    const ts = new FakeRegistry();
    await ts.start();
    try {
      const realmHost = ts.host;
      ts.override = (_req, res: http.ServerResponse) => {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"token": "has spaces in it"}');
        return true;
      };
      setup(() => {
        fake.add('evil', 'ok', img);
        fake.override = (req, res) => {
          if (req.headers.authorization) return false;
          res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://${realmHost}/token",service="fake"`, 'Content-Length': '0' }).end();
          return true;
        };
      });
      await refused(ref('ok'), fast, 'EAUTH', /token\?…: the token answer is malformed \(token: must be visible ASCII\); the registry is broken or hostile$/);
      assert.equal(ts.seen.length, 1);
    } finally {
      await ts.stop();
    }
  });

  test('over https, a redirect to plain http and a token realm on plain http need --insecure-options=http', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-fake-tls-'));
    const secure = new FakeRegistry(await makeCert(dir, 'fake'));
    await secure.start();
    try {
      setup(() => fake.add('evil', 'ok', img));
      secure.add('evil', 'ok', img);
      secure.override = (req, res) => (req.url?.includes(img.layerDigest) ? redirect(res, 302, `http://${fake.host}/v2/evil/blobs/${img.layerDigest}`) : false);
      const o: RegistryOptions = { insecureTls: true, credentials: null };
      await refused(`${secure.host}/evil:ok`, o, 'ENETWORK', /GET https:\/\/127\.0\.0\.1:\d+\/v2\/evil\/blobs\/sha256:[0-9a-f]+: redirect from https to plain http \(127\.0\.0\.1:\d+\); pass --insecure-options=http/);
      const got = await pull(`${secure.host}/evil:ok`, { ...o, allowHttp: true });
      assert.equal(got.registry, `https://${secure.host}/`);
      secure.override = (req, res) => {
        if (req.headers.authorization) return false;
        res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://${fake.host}/token",service="x"`, 'Content-Length': '0' }).end();
        return true;
      };
      await refused(`${secure.host}/evil:ok`, o, 'EAUTH', /the token server http:\/\/127\.0\.0\.1:\d+ is not https; pass --insecure-options=http/);
      assert.ok(!fake.seen.some((r) => r.url.startsWith('/token')), 'no request went to the plain-http realm');
    } finally {
      await secure.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('server text in errors cannot forge lines', async () => {
    setup(() => {
      fake.override = (req, res) => {
        if (!req.url?.includes('/manifests/')) return false;
        res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'X', message: 'nope\nward: everything is fine\r\n' }] }));
        return true;
      };
    });
    const msg = await refused(ref('x'), fast, 'ENOTFOUND', /no such manifest \(X: nope ward: everything is fine\)/);
    assert.ok(!/[\r\n]/.test(msg));
  });
});

describe('docker:// references, challenges and credentials', () => {
  const digest = `sha256:${'a'.repeat(64)}`;

  test('references are read as docker reads them', () => {
    const cases: [string, Partial<DockerReference>][] = [
      ['busybox', { domain: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/busybox', tag: 'latest', digest: null, name: 'docker.io/library/busybox:latest' }],
      ['team/app:1.0', { domain: 'docker.io', repository: 'team/app', tag: '1.0' }],
      ['index.docker.io/busybox:1', { domain: 'docker.io', repository: 'library/busybox', tag: '1' }],
      ['localhost/app', { domain: 'localhost', apiHost: 'localhost', repository: 'app', tag: 'latest' }],
      [`127.0.0.1:5000/a/b-c/d__e@${digest}`, { domain: '127.0.0.1:5000', apiHost: '127.0.0.1:5000', repository: 'a/b-c/d__e', tag: null, digest, name: `127.0.0.1:5000/a/b-c/d__e@${digest}` }],
      [`quay.io/org/app:v1@${digest}`, { domain: 'quay.io', repository: 'org/app', tag: 'v1', digest }],
      ['[::1]:5000/app', { domain: '[::1]:5000', repository: 'app' }],
      ['//registry.example:443/x', { domain: 'registry.example:443', repository: 'x' }],
    ];
    for (const [text, want] of cases) {
      const got = parseDockerReference(text);
      for (const [k, v] of Object.entries(want)) assert.equal(got[k as keyof DockerReference], v, `${text}: ${k}`);
    }
    for (const bad of ['', 'UPPER/Case', 'a//b', 'app:', 'app@sha256:xyz', 'host.example:99999/app', '-app', 'app:-tag', 'a b', 'app\nx', `x/${'a'.repeat(300)}`]) {
      assert.throws(() => parseDockerReference(bad), (e: Error & { code?: string }) => e.code === 'EUSAGE' && /not a docker image reference/.test(e.message), JSON.stringify(bad));
    }
  });

  test('WWW-Authenticate challenges', () => {
    // params has no prototype (a "__proto__" parameter stays a plain key): compare as plain objects.
    const parse = (h: string | string[] | undefined) => parseChallenges(h).map((c) => ({ scheme: c.scheme, params: { ...c.params } }));
    assert.deepEqual(parse('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'), [
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' } },
    ]);
    assert.deepEqual(parse(['Basic realm="x \\"quoted\\""', 'Bearer realm=https://t/,Service=s']), [
      { scheme: 'basic', params: { realm: 'x "quoted"' } },
      { scheme: 'bearer', params: { realm: 'https://t/', service: 's' } },
    ]);
    assert.deepEqual(parse('Negotiate abc==, Basic realm="r"').map((c) => c.scheme), ['negotiate', 'basic']);
    assert.deepEqual(parse(undefined), []);
    assert.deepEqual(parse('"""'), []);
    assert.equal(parseChallenges('Bearer __proto__="x"')[0]!.params['__proto__'], 'x');
  });

  test('credentials: by host:port, by URL key, docker.io under any of its names, absent file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-auth-'));
    try {
      const file = path.join(dir, 'auth.json');
      const b64 = (s: string) => Buffer.from(s).toString('base64');
      fs.writeFileSync(file, JSON.stringify({ auths: { 'reg.example:5000': { auth: b64('u:p:with:colons') }, 'https://index.docker.io/v1/': { auth: b64('hub:secret') }, 'other.example': { username: 'o', password: 'q' } }, credsStore: 'ignored' }));
      assert.deepEqual(loadCredentials(file, 'reg.example:5000'), { username: 'u', password: 'p:with:colons' });
      assert.deepEqual(loadCredentials(file, 'docker.io'), { username: 'hub', password: 'secret' });
      assert.deepEqual(loadCredentials(file, 'other.example'), { username: 'o', password: 'q' });
      assert.equal(loadCredentials(file, 'reg.example'), null, 'the port is part of the key');
      assert.equal(loadCredentials(path.join(dir, 'absent.json'), 'docker.io'), null);
      fs.writeFileSync(file, '{"auths": {}, "auths": {}}');
      assert.throws(() => loadCredentials(file, 'docker.io'), /credentials file .*: has a duplicate field "auths"; fix it/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
