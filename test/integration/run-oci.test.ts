// ward fetch and ward run of OCI/Docker images, as a user would: from a real registry on
// loopback (pushed by skopeo), from an OCI layout, and from a docker-archive made by skopeo.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestEnv } from '../lib/env';
import { push, run, startRegistry, type Registry } from '../lib/registry';
import { busyboxLayer, OciLayout } from '../lib/registry-images';

describe('OCI and Docker images through ward run', () => {
  const env = new TestEnv('run-oci');
  let registry: Registry;
  let layoutDir = '';
  let archive = '';

  before(async () => {
    await env.start();
    layoutDir = env.fixture('layout');
    const layout = new OciLayout(layoutDir);
    const layer = await busyboxLayer();
    const img = layout.image({ arch: 'amd64', layers: [layer.gz], diffIds: [layer.diffId], cmd: ['/bin/sh', '-c', 'echo default cmd'] });
    layout.tag('v1', img);
    run('chmod', ['-R', 'a+rX', layoutDir]);
    registry = await startRegistry(env.fixture('registry'), { kind: 'none' });
    await push(layoutDir, 'v1', `${registry.host}/demo/busybox:v1`);
    archive = env.fixture('busybox.tar');
    await run('skopeo', ['copy', '--quiet', `oci:${layoutDir}:v1`, `docker-archive:${archive}:demo/busybox:v1`]);
    fs.chmodSync(archive, 0o644);
  });
  after(async () => {
    await registry?.stop();
    await env.stop();
  });

  test('docker:// from a registry: fetched, converted, and run with Cmd replaced by the arguments', async () => {
    const ref = `docker://${registry.host}/demo/busybox:v1`;
    const refused = await env.ward('a', ['fetch', ref]);
    assert.equal(refused.code, 254, refused.stderr);
    assert.match(refused.stderr, /--insecure-options=http/);
    const f = await env.ward('a', ['--insecure-options=http', 'fetch', ref]);
    assert.equal(f.code, 0, f.stderr);
    assert.match(f.stdout, /^sha256:[0-9a-f]{64}\n$/);
    const dflt = await env.ward('a', ['--insecure-options=image,http', 'run', ref]);
    assert.equal(dflt.stdout, 'default cmd\n', dflt.stderr);
    const r = await env.ward('a', ['--insecure-options=image,http', 'run', ref, '--', 'sh', '-c', 'echo from a registry; id -u']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'from a registry\n0\n');
    const manifest = await env.ward('a', ['image', 'cat-manifest', ref]);
    const m = JSON.parse(manifest.stdout) as { annotations: { name: string; value: string }[] };
    assert.ok(m.annotations.some((a) => a.name === 'appc.io/docker/manifesthash' && /^sha256:/.test(a.value)));
  });

  test('oci: layouts and docker-archive: files run too, and verify', async () => {
    const a = await env.ward('a', ['--insecure-options=image', 'run', `oci:${layoutDir}:v1`, '--', 'echo', 'from a layout']);
    assert.equal(a.stdout, 'from a layout\n', a.stderr);
    const b = await env.ward('a', ['--insecure-options=image', 'run', `docker-archive:${archive}`, '--', 'echo', 'from an archive']);
    assert.equal(b.stdout, 'from an archive\n', b.stderr);
    const v = await env.ward('a', ['image', 'verify']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    // The layout and the registry hold the same manifest bytes: one image, one id, whichever
    // source fetched it last; skopeo rewrote the docker-archive's manifest, so it is another.
    const list = JSON.parse((await env.ward('a', ['image', 'list', '--format=json'])).stdout) as { id: string; transport: string }[];
    assert.deepEqual(list.map((r) => r.transport).sort(), ['docker-archive', 'oci']);
    const fromRegistry = (await env.ward('a', ['--insecure-options=http', 'fetch', '--pull-policy=update', `docker://${registry.host}/demo/busybox:v1`])).stdout.trim();
    assert.equal(fromRegistry, list.find((r) => r.transport === 'oci')!.id);
  });

  test('a reference to a missing tag is refused with the registry\'s answer', async () => {
    const r = await env.ward('a', ['--insecure-options=http', 'fetch', `docker://${registry.host}/demo/busybox:nope`]);
    assert.equal(r.code, 251);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.deepEqual(fs.readdirSync(path.join(env.storeDir('a'), 'tmp')), []);
  });
});
