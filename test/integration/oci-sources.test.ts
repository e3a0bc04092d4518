// The local image sources against layouts and archives made by the real tools: umoci (init, new,
// insert, config; unpack as a cross-check), skopeo (layout → oci-archive, → docker-archive;
// inspect as a cross-check) and a hand-written layout with a multi-platform index.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { ImageManifest } from '../../src/schema/aci';
import { ImageSourceError, type ResolvedImage } from '../../src/image/source';
import { openDockerArchive } from '../../src/image/oci/docker-archive';
import { openOciLayout } from '../../src/image/oci/layout';
import { openLocalImage } from '../../src/image/oci/local';
import { openOciArchive } from '../../src/image/oci/oci-archive';
import { ociToAppc } from '../../src/image/oci/to-appc';
import { OCI_INDEX, putBlob, putImage, REF_NAME, run, sha256, umociLayout, writeIndex } from '../lib/oci-fixtures';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-oci-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const at = (...p: string[]) => path.join(tmp, ...p);
const skopeo = (...args: string[]) => run('skopeo', ['--insecure-policy', ...args]);

async function bytesOf(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Reads every layer as a store would, checking digest and size. */
async function checkLayers(img: ResolvedImage): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const l of img.layers) {
    const b = await bytesOf(await img.openLayer(l));
    assert.equal(b.length, l.size);
    assert.equal(sha256(b), l.digest);
    out.push(b);
  }
  return out;
}

/** Names of the regular files and symlinks a layer holds. */
async function layerNames(layer: Buffer): Promise<string[]> {
  const raw = layer[0] === 0x1f && layer[1] === 0x8b ? zlib.gunzipSync(layer) : layer;
  const ex = tar.extract();
  const names: string[] = [];
  ex.on('entry', (h, stream, next) => {
    if (h.type === 'file' || h.type === 'symlink') names.push(h.name.replace(/^\.?\//, ''));
    stream.on('end', next);
    stream.resume();
  });
  const done = new Promise<void>((res, rej) => ex.on('finish', () => res()).on('error', rej));
  ex.end(raw);
  await done;
  return names.sort();
}

function toAppc(img: ResolvedImage): ImageManifest {
  return ociToAppc(img.config, { name: img.name, manifestDigest: img.manifestDigest, transport: img.transport, configDigest: img.configDigest });
}

describe('umoci layout and skopeo archives', () => {
  const layout = at('umoci');
  before(() => {
    umociLayout(layout, tmp);
    skopeo('copy', `oci:${layout}:latest`, `oci-archive:${at('image.tar')}:latest`);
    skopeo('copy', '--additional-tag', 'docker.io/library/busybox:latest', `oci:${layout}:latest`, `docker-archive:${at('docker.tar')}:example.com/tools/busybox:1.36`);
  });

  test('oci: resolves the umoci layout; digests agree with skopeo inspect', async () => {
    const img = await openOciLayout(layout, 'latest');
    try {
      const inspect = JSON.parse(skopeo('inspect', `oci:${layout}:latest`)) as { Digest: string; Layers: string[] };
      assert.equal(img.manifestDigest, inspect.Digest);
      assert.equal(sha256(img.manifest), img.manifestDigest);
      assert.equal(sha256(img.configBytes), img.configDigest);
      assert.deepEqual(img.layers.map((l) => l.digest), inspect.Layers);
      assert.equal(img.name, `oci:${layout}:latest`);
      await checkLayers(img);
    } finally {
      await img.close();
    }
  });

  test('oci: the layers hold what umoci unpack produces', async () => {
    const img = await openOciLayout(layout, undefined);
    const [layer] = await checkLayers(img);
    await img.close();
    const bundle = at('bundle');
    run('umoci', ['unpack', '--rootless', '--image', `${layout}:latest`, bundle]);
    const unpacked: string[] = [];
    const walk = (rel: string) => {
      for (const n of fs.readdirSync(path.join(bundle, 'rootfs', rel))) {
        const r = rel ? `${rel}/${n}` : n;
        const st = fs.lstatSync(path.join(bundle, 'rootfs', r));
        if (st.isDirectory()) walk(r);
        else unpacked.push(r);
      }
    };
    walk('');
    assert.deepEqual(await layerNames(layer!), unpacked.sort());
    assert.ok(fs.readFileSync(path.join(bundle, 'rootfs', 'bin', 'busybox')).equals(fs.readFileSync('/bin/busybox')));
  });

  test('oci: the umoci config converts to the appc manifest it describes', async () => {
    const img = await openOciLayout(layout, 'latest');
    await img.close();
    const m = toAppc(img);
    assert.equal(m.name, 'umoci');
    assert.deepEqual(m.app?.exec, ['/bin/sh', '-c', 'echo hi']);
    assert.deepEqual([m.app?.user, m.app?.group, m.app?.workingDirectory], ['1000', '1000', '/tmp']);
    assert.deepEqual(m.app?.environment, [{ name: 'FOO', value: 'bar' }]);
    assert.deepEqual(m.app?.ports, [{ name: '8080-tcp', protocol: 'tcp', port: 8080 }]);
    assert.deepEqual(m.app?.mountPoints, [{ name: 'volume-data', path: '/data' }]);
    assert.equal(m.annotations?.find((a) => a.name === 'org.opencontainers.image.title')?.value, 'busybox');
    assert.equal(m.annotations?.find((a) => a.name === 'appc.io/docker/manifesthash')?.value, img.manifestDigest);
  });

  test('oci-archive: same image as the layout, read in place', async () => {
    const direct = await openOciLayout(layout, 'latest');
    await direct.close();
    const img = await openOciArchive(at('image.tar'), undefined);
    try {
      assert.equal(img.transport, 'oci-archive');
      assert.equal(img.name, `oci-archive:${at('image.tar')}:latest`);
      assert.equal(img.manifestDigest, direct.manifestDigest);
      assert.equal(img.configDigest, direct.configDigest);
      const layers = await checkLayers(img);
      // A resumed read from an offset gives the tail.
      const l = img.layers[0]!;
      const tail = await bytesOf(await img.openLayer(l, 1000));
      assert.ok(tail.equals(layers[0]!.subarray(1000)));
      assert.equal((await bytesOf(await img.openLayer(l, l.size))).length, 0);
    } finally {
      await img.close();
    }
  });

  test('docker-archive: digests from the stored bytes, matching the config diff_ids; tags select', async () => {
    const layoutImg = await openOciLayout(layout, 'latest');
    await layoutImg.close();
    for (const ref of ['example.com/tools/busybox:1.36', 'busybox:latest', 'docker.io/library/busybox', '@0', undefined]) {
      const img = await openDockerArchive(at('docker.tar'), ref);
      try {
        assert.equal(img.transport, 'docker-archive');
        assert.equal(img.configDigest, layoutImg.configDigest, 'skopeo keeps the config bytes');
        assert.deepEqual(img.layers.map((l) => l.digest), img.config.rootfs.diff_ids, 'docker save stores layers uncompressed');
        const m = JSON.parse(img.manifest.toString()) as { mediaType: string; config: { digest: string } };
        assert.equal(m.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
        assert.equal(m.config.digest, img.configDigest);
        assert.equal(sha256(img.manifest), img.manifestDigest);
        const [layer] = await checkLayers(img);
        assert.deepEqual(await layerNames(layer!), ['bin/busybox', 'bin/sh']);
        if (ref === undefined) assert.equal(toAppc(img).name, 'example.com/tools/busybox');
      } finally {
        await img.close();
      }
    }
    await assert.rejects(openDockerArchive(at('docker.tar'), 'other:1'), (e: unknown) => e instanceof ImageSourceError && e.code === 'ENOTFOUND' && /has no image tagged other:1 \(it has: example.com\/tools\/busybox:1.36, docker.io\/library\/busybox:latest\)/.test(e.message));
  });

  test('openLocalImage dispatches on the transport', async () => {
    for (const spec of [`oci:${layout}:latest`, `oci-archive:${at('image.tar')}`, `docker-archive:${at('docker.tar')}:busybox`]) {
      const img = await openLocalImage(spec);
      assert.ok(img);
      await img.close();
      assert.ok(ImageManifest.safeParse(toAppc(img)).success);
    }
    assert.equal(await openLocalImage('docker://busybox'), null);
  });

  test('a pipe is spooled to the store tmp (and nothing is left there); without a tmp it is refused', async () => {
    const spool = at('spool');
    fs.mkdirSync(spool);
    const fifo = at('pipe');
    run('mkfifo', [fifo]);
    const feed = () => spawn('sh', ['-c', 'cat "$1" > "$2" 2>/dev/null || true', 'sh', at('image.tar'), fifo], { stdio: 'ignore' });
    let writer = feed();
    const img = await openOciArchive(fifo, 'latest', { spoolDir: spool });
    try {
      await checkLayers(img);
      assert.deepEqual(fs.readdirSync(spool), []);
    } finally {
      await img.close();
      await new Promise((r) => (writer.exitCode !== null ? r(null) : writer.on('exit', r)));
    }
    writer = feed();
    await assert.rejects(openOciArchive(fifo, 'latest'), /not a regular file and there is no store tmp/);
    await new Promise((r) => (writer.exitCode !== null ? r(null) : writer.on('exit', r)));
  });
});

describe('hand-written layout with several images', () => {
  const layout = at('hand');
  let amd: Awaited<ReturnType<typeof putImage>>;
  let arm: Awaited<ReturnType<typeof putImage>>;
  before(async () => {
    amd = await putImage(layout, { config: { Cmd: ['/bin/echo', 'amd64'] } });
    arm = await putImage(layout, { arch: 'arm64', config: { Cmd: ['/bin/echo', 'arm64'] } });
    const multi = putBlob(layout, JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ ...arm.manifest, platform: { os: 'linux', architecture: 'arm64' } }, { ...amd.manifest, platform: { os: 'linux', architecture: 'amd64' } }],
    }), OCI_INDEX);
    writeIndex(layout, [
      { ...multi, annotations: { [REF_NAME]: 'latest' } },
      { ...amd.manifest, annotations: { [REF_NAME]: 'single' } },
      { ...arm.manifest, annotations: { [REF_NAME]: 'arm-only' } },
    ]);
  });

  test('skopeo reads the hand-written layout (it is a valid layout)', () => {
    const inspect = JSON.parse(skopeo('inspect', `oci:${layout}:single`)) as { Digest: string; Architecture: string };
    assert.equal(inspect.Digest, amd.manifest.digest);
    assert.equal(inspect.Architecture, 'amd64');
  });

  test('the multi-platform index resolves to this host (linux/amd64); default ref is "latest"', async () => {
    for (const ref of ['latest', undefined]) {
      const img = await openOciLayout(layout, ref);
      await img.close();
      assert.equal(img.manifestDigest, amd.manifest.digest);
      assert.equal(img.name, `oci:${layout}:latest`);
      assert.deepEqual(img.config.config?.Cmd, ['/bin/echo', 'amd64']);
    }
  });

  test('an image only for another platform is refused by name', async () => {
    await assert.rejects(openOciLayout(layout, 'arm-only'), (e: unknown) => e instanceof ImageSourceError && e.code === 'EPLATFORM' && /is for linux\/arm64; this host runs linux\/amd64/.test(e.message));
    const img = await openOciLayout(layout, 'latest', { platform: { os: 'linux', architecture: 'arm64' } });
    await img.close();
    assert.equal(img.manifestDigest, arm.manifest.digest);
  });

  test('an unknown ref lists the names; several images and no "latest" asks for one', async () => {
    await assert.rejects(openOciLayout(layout, 'nope'), /has no image named 'nope' \(it has: latest, single, arm-only\)/);
    const two = at('hand-two');
    const a = await putImage(two);
    writeIndex(two, [{ ...a.manifest, annotations: { [REF_NAME]: 'v1' } }, { ...a.manifest, annotations: { [REF_NAME]: 'v2' } }]);
    await assert.rejects(openOciLayout(two, undefined), /holds 2 images and none is named 'latest'/);
    const one = at('hand-one');
    const b = await putImage(one);
    writeIndex(one, [b.manifest]);
    const img = await openOciLayout(one, undefined);
    await img.close();
    assert.equal(img.name, `oci:${one}`);
    assert.equal(ociToAppc(img.config, { name: img.name, manifestDigest: img.manifestDigest, transport: 'oci' }).name, 'hand-one');
  });

  test('openLayer serves only this image\'s layers, and only within them', async () => {
    const img = await openOciLayout(layout, 'single');
    try {
      const l = img.layers[0]!;
      await assert.rejects(img.openLayer({ ...l, digest: arm.config.digest }), /is not a layer of this image/);
      await assert.rejects(img.openLayer(l, l.size + 1), /outside layer/);
      await assert.rejects(img.openLayer(l, -1), /outside layer/);
      const h = crypto.createHash('sha256');
      h.update(await bytesOf(await img.openLayer(l, 0)));
      assert.equal(`sha256:${h.digest('hex')}`, l.digest);
    } finally {
      await img.close();
    }
  });
});
