// ward fetch and ward run of OCI/Docker images, as a user would: from a real registry on
// loopback (pushed by skopeo), from an OCI layout, and from a docker-archive made by skopeo.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import { account, REPO, TestEnv, USERS } from '../lib/env';
import { push, run, startRegistry, type Registry } from '../lib/registry';
import { busyboxLayer, OciLayout } from '../lib/registry-images';
import { compress, tarOf } from '../lib/layers';
import crypto from 'node:crypto';

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
    const refused = await env.ward('a', ['--insecure-options=image', 'fetch', ref]);
    assert.equal(refused.code, 254, refused.stderr);
    assert.match(refused.stderr, /--insecure-options=http/);
    const f = await env.ward('a', ['--insecure-options=image,http', 'fetch', ref]);
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

  test('on a terminal, fetch shows a progress bar per layer; elsewhere it prints only the id', async () => {
    const ref = `docker://${registry.host}/demo/busybox:v1`;
    // script(1) gives ward a pseudo-terminal, as a person's shell would.
    const cmd = `node ${JSON.stringify(path.join(REPO, 'bin', 'ward'))} --dir ${JSON.stringify(env.storeDir('b'))} --insecure-options=image,http fetch --pull-policy=update ${ref}`;
    const r = await new Promise<{ out: string; code: number | null }>((resolve) => {
      const child = spawn('setpriv', ['--reuid', USERS.b, '--regid', USERS.b, '--init-groups', '--', 'script', '-qec', cmd, '/dev/null'], {
        env: { PATH: process.env.PATH, HOME: '/tmp', TERM: 'xterm' },
      });
      let out = '';
      child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      child.on('close', (code) => resolve({ out, code }));
    });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /layer 1\/1 [0-9a-f]{12} \[.*\] +\d+% [\d.]+ MiB [\d.]+ MiB\/s/);
    const quiet = await env.ward('b', ['--insecure-options=image,http', 'fetch', '--pull-policy=update', ref]);
    assert.equal(quiet.stderr, '');
    assert.match(quiet.stdout, /^sha256:[0-9a-f]{64}\n$/);
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
    const fromRegistry = (await env.ward('a', ['--insecure-options=image,http', 'fetch', '--pull-policy=update', `docker://${registry.host}/demo/busybox:v1`])).stdout.trim();
    assert.equal(fromRegistry, list.find((r) => r.transport === 'oci')!.id);
  });

  /** Extractors of user a still running (they run as the root of a's subordinate range). */
  const extractors = (): string[] => {
    const subuid = account(USERS.a).subuid;
    return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return fs.statSync(`/proc/${p}`).uid === subuid && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('extract-child.js');
      } catch {
        return false;
      }
    });
  };
  const noExtractorLeft = async () => {
    for (let i = 0; i < 50 && extractors().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(extractors(), [], 'the extractor started early ends by itself when it is not used');
  };

  test('a reference to a missing tag is refused with the registry\'s answer', async () => {
    const r = await env.ward('a', ['--insecure-options=image,http', 'fetch', `docker://${registry.host}/demo/busybox:nope`]);
    assert.equal(r.code, 251);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    // The extractor started before the manifest was asked for: its staging dir goes, and so does it.
    assert.deepEqual(fs.readdirSync(path.join(env.storeDir('a'), 'tmp')), []);
    await noExtractorLeft();
  });

  test('fetching again an image whose tree is rendered uses no extractor and leaves nothing in tmp', async () => {
    const ref = `docker://${registry.host}/demo/busybox:v1`;
    assert.equal((await env.ward('a', ['--insecure-options=image,http', 'fetch', ref])).code, 0);
    const trees = fs.readdirSync(path.join(env.storeDir('a'), 'trees')).sort();
    const again = await env.ward('a', ['--insecure-options=image,http', 'fetch', '--pull-policy=update', ref]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(fs.readdirSync(path.join(env.storeDir('a'), 'trees')).sort(), trees, 'the same tree serves');
    assert.deepEqual(fs.readdirSync(path.join(env.storeDir('a'), 'tmp')), []);
    await noExtractorLeft();
  });

  test('a registry fetch killed at several points resumes, verifies and runs; a hostile layer leaves nothing', async () => {
    const dir = env.fixture('big-layout');
    const layout = new OciLayout(dir);
    const base = await busyboxLayer();
    const data = await tarOf(Array.from({ length: 24 }, (_, i) => ({ name: `data/f${i}`, body: crypto.randomBytes(1 << 20) })));
    const big = compress(data, 'gzip');
    const img = layout.image({ arch: 'amd64', layers: [base.gz, big], diffIds: [base.diffId, `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`] });
    layout.tag('big', img);
    run('chmod', ['-R', 'a+rX', dir]);
    await push(dir, 'big', `${registry.host}/demo/big:v1`);
    const ref = `docker://${registry.host}/demo/big:v1`;
    for (const delay of [150, 400, 700]) {
      const killed = await env.ward('a', ['--insecure-options=image,http', 'fetch', ref], { onSpawn: (c) => setTimeout(() => c.kill('SIGKILL'), delay) });
      assert.ok(killed.signal === 'SIGKILL' || killed.code === 0, killed.stderr);
      await new Promise((r) => setTimeout(r, 300));
    }
    const done = await env.ward('a', ['--insecure-options=image,http', 'fetch', ref]);
    assert.equal(done.code, 0, done.stderr);
    assert.equal((await env.ward('a', ['image', 'verify'])).code, 0);
    const r = await env.ward('a', ['--insecure-options=image', 'run', ref, '--', 'sh', '-c', 'ls /data | wc -l']);
    assert.equal(r.stdout.trim(), '24', r.stderr);

    const hostileDir = env.fixture('hostile-layout');
    const hostile = new OciLayout(hostileDir);
    const evilTar = await tarOf([{ name: 'ok', body: 'fine' }, { name: '../../escape', body: 'evil' }]);
    const evil = hostile.image({ arch: 'amd64', layers: [compress(evilTar, 'gzip')], diffIds: [`sha256:${crypto.createHash('sha256').update(evilTar).digest('hex')}`] });
    hostile.tag('evil', evil);
    run('chmod', ['-R', 'a+rX', hostileDir]);
    await push(hostileDir, 'evil', `${registry.host}/demo/evil:v1`);
    const before = fs.readdirSync(path.join(env.storeDir('a'), 'blobs', 'sha256')).sort();
    const tmpBefore = fs.readdirSync(path.join(env.storeDir('a'), 'tmp')).sort(); // staging the killed fetches left for gc
    const refused = await env.ward('a', ['--insecure-options=image,http', 'fetch', `docker://${registry.host}/demo/evil:v1`]);
    assert.equal(refused.code, 251);
    assert.match(refused.stderr, /contains '\.\.'/);
    assert.deepEqual(fs.readdirSync(path.join(env.storeDir('a'), 'blobs', 'sha256')).sort(), before, 'no blob of the refused image is kept');
    assert.deepEqual(fs.readdirSync(path.join(env.storeDir('a'), 'tmp')).sort(), tmpBefore);
    const gc = await env.ward('a', ['image', 'gc', '--grace-period=0s']);
    assert.equal(gc.code, 0, gc.stderr);
    assert.deepEqual(fs.readdirSync(path.join(env.storeDir('a'), 'tmp')), []);
  });
});
