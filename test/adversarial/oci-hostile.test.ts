// Hostile OCI layouts, oci-archives and docker-archives (REFERENCE §10 for manifests, and the
// paths inside layouts and archives): each is refused with its own message, before any of its
// bytes are trusted.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import zlib from 'node:zlib';
import { ImageSourceError } from '../../src/image/source';
import { openDockerArchive } from '../../src/image/oci/docker-archive';
import { openOciLayout } from '../../src/image/oci/layout';
import { openOciArchive } from '../../src/image/oci/oci-archive';
import { blobPath, busyboxLayer, handLayout, layoutMembers, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST, putBlob, putImage, REF_NAME, run, sha256, tarOf, writeIndex, type TarEntry } from '../lib/oci-fixtures';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-oci-hostile-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = () => path.join(tmp, `l${n++}`);
const refused = (code: string, re: RegExp) => (e: unknown) => {
  assert.ok(e instanceof ImageSourceError, String(e));
  assert.equal(e.code, code, e.message);
  assert.match(e.message, re);
  return true;
};
const ref = (d: { mediaType: string; digest: string; size: number }, name = 'latest') => ({ ...d, annotations: { [REF_NAME]: name } });

describe('hostile OCI layouts', () => {
  test('a layer blob that is a symlink to /etc/passwd (with its digest) is refused', async () => {
    const dir = fresh();
    const img = await handLayout(dir);
    const passwd = fs.readFileSync('/etc/passwd');
    const fake = { mediaType: OCI_LAYER_GZIP, digest: sha256(passwd), size: passwd.length };
    fs.symlinkSync('/etc/passwd', blobPath(dir, fake.digest));
    const manifest = putBlob(dir, JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: img.config, layers: [fake] }), OCI_MANIFEST);
    writeIndex(dir, [ref(manifest)]);
    await assert.rejects(openOciLayout(dir, 'latest'), refused('EIMAGE', new RegExp(`blob ${fake.digest} is a symlink`)));
  });

  test('a manifest blob that is a symlink (even to a blob inside the layout) is refused', async () => {
    const dir = fresh();
    const img = await handLayout(dir);
    const real = blobPath(dir, img.manifest.digest);
    fs.renameSync(real, `${real}.real`);
    fs.symlinkSync(`${path.basename(real)}.real`, real);
    await assert.rejects(openOciLayout(dir, 'latest'), refused('EIMAGE', /is a symlink/));
  });

  test('blobs/sha256 or blobs/ replaced by a symlink to a directory of good blobs is refused', async () => {
    const good = fresh();
    await handLayout(good);
    for (const which of [['blobs', 'sha256'], ['blobs']]) {
      const dir = fresh();
      fs.mkdirSync(dir);
      fs.copyFileSync(path.join(good, 'oci-layout'), path.join(dir, 'oci-layout'));
      fs.copyFileSync(path.join(good, 'index.json'), path.join(dir, 'index.json'));
      if (which.length === 2) fs.mkdirSync(path.join(dir, 'blobs'));
      fs.symlinkSync(path.join(good, ...which), path.join(dir, ...which));
      await assert.rejects(openOciLayout(dir, 'latest'), refused('EIMAGE', new RegExp(`${which.join('/')} is a symlink`)));
    }
  });

  test('the layout directory itself may be reached through a symlink (the user chose it)', async () => {
    const dir = fresh();
    await handLayout(dir);
    const link = fresh();
    fs.symlinkSync(dir, link);
    const img = await openOciLayout(link, 'latest');
    await img.close();
    assert.equal(img.name, `oci:${link}:latest`);
  });

  test('index.json as a symlink is refused', async () => {
    const dir = fresh();
    await handLayout(dir);
    fs.renameSync(path.join(dir, 'index.json'), path.join(dir, 'real.json'));
    fs.symlinkSync('real.json', path.join(dir, 'index.json'));
    await assert.rejects(openOciLayout(dir, 'latest'), refused('EIMAGE', /index\.json is a symlink/));
  });

  test('a FIFO or a directory planted as a blob is refused without hanging', async () => {
    const dir = fresh();
    const img = await handLayout(dir);
    fs.rmSync(blobPath(dir, img.layer.digest));
    run('mkfifo', [blobPath(dir, img.layer.digest)]);
    await assert.rejects(openOciLayout(dir, 'latest'), refused('EIMAGE', /is not a regular file/));
    fs.rmSync(blobPath(dir, img.layer.digest));
    fs.mkdirSync(blobPath(dir, img.layer.digest));
    await assert.rejects(openOciLayout(dir, 'latest'), refused('EIMAGE', /is not a regular file|EISDIR/));
  });

  test('a digest that is not a digest never becomes a path', async () => {
    const dir = fresh();
    await handLayout(dir);
    writeIndex(dir, [], JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: OCI_MANIFEST, digest: 'sha256:../../../../etc/passwd', size: 10, annotations: { [REF_NAME]: 'latest' } }] }));
    await assert.rejects(openOciLayout(dir, 'latest'), refused('EIMAGE', /index\.json is invalid: manifests\.0\.digest/));
  });

  test('digest mismatch: in the manifest, in the config', async () => {
    for (const which of ['manifest', 'config'] as const) {
      const dir = fresh();
      const img = await handLayout(dir);
      const p = blobPath(dir, img[which].digest);
      const b = fs.readFileSync(p);
      b[b.length - 2] = b[b.length - 2]! ^ 1; // same size, other bytes
      fs.writeFileSync(p, b);
      await assert.rejects(openOciLayout(dir, 'latest'), refused('EIMAGE', new RegExp(`blob ${img[which].digest} has digest sha256:`)));
    }
  });

  test('a layer whose size differs from its descriptor is refused at resolve; one that grows later is not served past its size', async () => {
    const dir = fresh();
    const img = await handLayout(dir);
    const p = blobPath(dir, img.layer.digest);
    fs.appendFileSync(p, 'extra');
    await assert.rejects(openOciLayout(dir, 'latest'), refused('EIMAGE', /has \d+ bytes, its descriptor says/));
    fs.truncateSync(p, img.layer.size);
    const resolved = await openOciLayout(dir, 'latest');
    fs.appendFileSync(p, 'grown');
    await assert.rejects(resolved.openLayer(resolved.layers[0]!), refused('EIMAGE', /now has \d+ bytes/));
  });

  test('an index that references itself is refused (its digest cannot match) and does not loop', async () => {
    const dir = fresh();
    await handLayout(dir);
    const self = `sha256:${'5'.repeat(64)}`;
    const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_INDEX, digest: self, size: 0 }] });
    // Stored under the digest it names, with the size its descriptor says.
    const desc = { mediaType: OCI_INDEX, digest: self, size: Buffer.byteLength(body) };
    fs.writeFileSync(blobPath(dir, self), body);
    writeIndex(dir, [ref(desc)]);
    await assert.rejects(openOciLayout(dir, 'latest'), refused('EIMAGE', new RegExp(`blob ${self} has digest`)));
  });

  test('indexes nested deeper than the limit are refused', async () => {
    const dir = fresh();
    const img = await handLayout(dir);
    let top: { mediaType: string; digest: string; size: number } = img.manifest;
    for (let i = 0; i < 6; i++) top = putBlob(dir, JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [top] }), OCI_INDEX);
    writeIndex(dir, [ref(top)]);
    await assert.rejects(openOciLayout(dir, 'latest'), refused('ELIMIT', /indexes nest deeper than 4/));
  });

  test('oversize index.json, and a manifest descriptor over the limit, are refused before reading', async () => {
    const dir = fresh();
    const img = await handLayout(dir);
    const big = JSON.stringify({ schemaVersion: 2, manifests: [ref(img.manifest)], annotations: { pad: 'x'.repeat(4 * 1024 * 1024) } });
    writeIndex(dir, [], big);
    await assert.rejects(openOciLayout(dir, 'latest'), refused('ELIMIT', /index\.json is \d+ bytes, more than the 4194304/));
    writeIndex(dir, [ref({ ...img.manifest, size: 5 * 1024 * 1024 })]);
    await assert.rejects(openOciLayout(dir, 'latest'), refused('ELIMIT', /is 5242880 bytes, more than the 4194304/));
  });

  test('missing pieces: oci-layout, index.json, the manifest, a layer', async () => {
    const cases: [string, (dir: string, img: Awaited<ReturnType<typeof handLayout>>) => void, RegExp][] = [
      ['oci-layout', (d) => fs.rmSync(path.join(d, 'oci-layout')), /has no oci-layout/],
      ['index.json', (d) => fs.rmSync(path.join(d, 'index.json')), /has no index\.json/],
      ['manifest', (d, i) => fs.rmSync(blobPath(d, i.manifest.digest)), /has no blob sha256:/],
      ['layer', (d, i) => fs.rmSync(blobPath(d, i.layer.digest)), /has no blob sha256:/],
      ['blobs dir', (d) => fs.rmSync(path.join(d, 'blobs'), { recursive: true }), /no blobs\/ directory/],
    ];
    for (const [what, breakIt, re] of cases) {
      const dir = fresh();
      breakIt(dir, await handLayout(dir));
      await assert.rejects(openOciLayout(dir, 'latest'), refused('ENOTFOUND', re), what);
    }
    const dir = fresh();
    await handLayout(dir);
    fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    await assert.rejects(openOciLayout(dir, 'latest'), refused('EIMAGE', /oci-layout is invalid/));
  });

  test('platform substitution: an index claims linux/amd64 for an arm64 image', async () => {
    const dir = fresh();
    const arm = await putImage(dir, { arch: 'arm64' });
    const idx = putBlob(dir, JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...arm.manifest, platform: { os: 'linux', architecture: 'amd64' } }] }), OCI_INDEX);
    writeIndex(dir, [ref(idx)]);
    await assert.rejects(openOciLayout(dir, 'latest'), refused('EPLATFORM', /the index says linux\/amd64 but the config says linux\/arm64 \(platform substitution\)/));
    // The same claim made directly in index.json.
    writeIndex(dir, [{ ...ref(arm.manifest), platform: { os: 'linux', architecture: 'amd64' } }]);
    await assert.rejects(openOciLayout(dir, 'latest'), refused('EPLATFORM', /platform substitution/));
  });

  test('media types that lie: an "index" that is a manifest, a config that is not an image config, an encrypted layer', async () => {
    const dir = fresh();
    const img = await handLayout(dir);
    writeIndex(dir, [ref({ ...img.manifest, mediaType: OCI_INDEX })]);
    await assert.rejects(openOciLayout(dir, 'latest'), refused('EIMAGE', /descriptor says media type .*index.* but the content is a manifest/));
    const helm = putBlob(dir, JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { ...img.config, mediaType: 'application/vnd.cncf.helm.config.v1+json' }, layers: [img.layer] }), OCI_MANIFEST);
    writeIndex(dir, [ref(helm)]);
    await assert.rejects(openOciLayout(dir, 'latest'), refused('EIMAGE', /is not a container image config/));
    const enc = putBlob(dir, JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: img.config, layers: [{ ...img.layer, mediaType: `${OCI_LAYER_GZIP}+encrypted` }] }), OCI_MANIFEST);
    writeIndex(dir, [ref(enc)]);
    await assert.rejects(openOciLayout(dir, 'latest'), refused('EIMAGE', /\+encrypted, which ward cannot apply/));
  });

  test('a manifest with more layers than the config has diff_ids is refused', async () => {
    const dir = fresh();
    const img = await handLayout(dir);
    const m = putBlob(dir, JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: img.config, layers: [img.layer, img.layer] }), OCI_MANIFEST);
    writeIndex(dir, [ref(m)]);
    await assert.rejects(openOciLayout(dir, 'latest'), refused('EIMAGE', /lists 2 layers but the config's rootfs has 1/));
  });
});

describe('hostile archives', () => {
  const write = (bytes: Buffer) => {
    const f = path.join(tmp, `a${n++}.tar`);
    fs.writeFileSync(f, bytes);
    return f;
  };

  test("oci-archive: a member named with '..' refuses the archive", async () => {
    const dir = fresh();
    await handLayout(dir);
    const members = layoutMembers(dir);
    const bytes = await tarOf([...members, { name: 'blobs/../../escape', body: 'x' }]);
    await assert.rejects(openOciArchive(write(bytes), 'latest'), refused('EIMAGE', /member 'blobs\/\.\.\/\.\.\/escape' contains '\.\.'/));
  });

  test('oci-archive: a blob that is a symlink member leading out of the archive is refused', async () => {
    const dir = fresh();
    const img = await handLayout(dir);
    const name = `blobs/sha256/${img.layer.digest.slice(7)}`;
    const members = layoutMembers(dir).map((m): TarEntry => (m.name === name ? { name, type: 'symlink', linkname: '../../../etc/passwd' } : m));
    await assert.rejects(openOciArchive(write(await tarOf(members)), 'latest'), refused('EIMAGE', /links outside the archive/));
  });

  test('oci-archive: digest mismatch and a missing blob', async () => {
    const dir = fresh();
    const img = await handLayout(dir);
    const cfg = `blobs/sha256/${img.config.digest.slice(7)}`;
    const tampered = layoutMembers(dir).map((m): TarEntry => (m.name === cfg ? { ...m, body: Buffer.from(String(m.body).replace('"amd64"', '"AMD64"')) } : m));
    await assert.rejects(openOciArchive(write(await tarOf(tampered)), 'latest'), refused('EIMAGE', /has digest sha256:/));
    const missing = layoutMembers(dir).filter((m) => m.name !== `blobs/sha256/${img.layer.digest.slice(7)}`);
    await assert.rejects(openOciArchive(write(await tarOf(missing)), 'latest'), refused('ENOTFOUND', /has no member 'blobs\/sha256\//));
  });

  async function dockerArchive(o: { layerPath?: string; configPath?: string; layer?: Buffer; entries?: object[]; extra?: TarEntry[] } = {}): Promise<string> {
    const raw = await busyboxLayer();
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [sha256(raw)] } });
    const configPath = o.configPath ?? `${sha256(config).slice(7)}.json`;
    const layerPath = o.layerPath ?? 'aaaa/layer.tar';
    const manifest = o.entries ?? [{ Config: configPath, RepoTags: ['example.com/app:1'], Layers: [layerPath] }];
    return write(await tarOf([
      { name: `${sha256(config).slice(7)}.json`, body: config },
      { name: 'aaaa/', type: 'directory' },
      { name: 'aaaa/layer.tar', body: o.layer ?? raw },
      { name: 'manifest.json', body: JSON.stringify(manifest) },
      ...(o.extra ?? []),
    ]));
  }

  test('docker-archive: the hand-made archive resolves (the base for the hostile variants)', async () => {
    const img = await openDockerArchive(await dockerArchive(), undefined);
    await img.close();
    assert.equal(img.layers.length, 1);
  });

  test("docker-archive: manifest.json naming a layer or the config through '../' or an absolute path is refused", async () => {
    for (const layerPath of ['../aaaa/layer.tar', 'aaaa/../../etc/passwd', '/etc/passwd']) {
      await assert.rejects(openDockerArchive(await dockerArchive({ layerPath }), undefined), refused('EIMAGE', /manifest\.json names layer 1 '.*', which is not a path inside the archive/));
    }
    await assert.rejects(openDockerArchive(await dockerArchive({ configPath: '../config.json' }), undefined), refused('EIMAGE', /names the config '\.\.\/config\.json'/));
  });

  test('docker-archive: a layer that is not what the config says, and a config that is not what its name says', async () => {
    const other = await tarOf([{ name: 'evil', body: 'x' }]);
    await assert.rejects(openDockerArchive(await dockerArchive({ layer: other }), undefined), refused('EIMAGE', /layer 1 \(aaaa\/layer\.tar\) has digest sha256:\w+ but the config says/));
    const wrongName = `${'c'.repeat(64)}.json`;
    await assert.rejects(openDockerArchive(await dockerArchive({ extra: [{ name: wrongName, body: '{}' }], configPath: wrongName }), undefined), refused('EIMAGE', new RegExp(`${wrongName} has digest`)));
  });

  test('docker-archive: a compressed layer is hashed as stored and not held to the uncompressed diff_id', async () => {
    const raw = await busyboxLayer();
    const gz = zlib.gzipSync(raw);
    const img = await openDockerArchive(await dockerArchive({ layer: gz }), undefined);
    await img.close();
    assert.equal(img.layers[0]!.digest, sha256(gz));
    assert.equal(img.layers[0]!.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
  });

  test('docker-archive: several images need a REF; a tag on two images is ambiguous', async () => {
    const raw = await busyboxLayer();
    const cfg = `${sha256(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [sha256(raw)] } })).slice(7)}.json`;
    const two = [
      { Config: cfg, RepoTags: ['a:1', 'shared:1'], Layers: ['aaaa/layer.tar'] },
      { Config: cfg, RepoTags: ['b:1', 'shared:1'], Layers: ['aaaa/layer.tar'] },
    ];
    const f = await dockerArchive({ entries: two });
    await assert.rejects(openDockerArchive(f, undefined), refused('ENOTFOUND', /holds 2 images; name one/));
    await assert.rejects(openDockerArchive(f, 'shared:1'), refused('EIMAGE', /2 images are tagged shared:1; pick one with @N/));
    await assert.rejects(openDockerArchive(f, '@2'), refused('ENOTFOUND', /has no image @2/));
    const b = await openDockerArchive(f, 'b:1');
    await b.close();
    assert.equal(b.name, `docker-archive:${f}:b:1`);
  });

  test('docker-archive: platform substitution (an arm64 image) and an oversize manifest.json', async () => {
    const raw = await busyboxLayer();
    const config = JSON.stringify({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(raw)] } });
    const f = write(await tarOf([
      { name: 'c.json', body: config },
      { name: 'l.tar', body: raw },
      { name: 'manifest.json', body: JSON.stringify([{ Config: 'c.json', Layers: ['l.tar'] }]) },
    ]));
    await assert.rejects(openDockerArchive(f, undefined), refused('EPLATFORM', /is for linux\/arm64/));
    const big = write(await tarOf([{ name: 'manifest.json', body: `[${' '.repeat(5 * 1024 * 1024)}]` }]));
    await assert.rejects(openDockerArchive(big, undefined), refused('ELIMIT', /manifest\.json is \d+ bytes, more than the 4194304/));
  });

  test('an oci-archive given to docker-archive (and a layout dir given to oci-archive) is refused clearly', async () => {
    const dir = fresh();
    await handLayout(dir);
    const f = write(await tarOf(layoutMembers(dir)));
    await assert.rejects(openDockerArchive(f, undefined), refused('ENOTFOUND', /has no member 'manifest\.json'/));
    await assert.rejects(openOciArchive(dir, undefined), refused('EIMAGE', /is a directory, not an archive/));
    await assert.rejects(openOciLayout(f, undefined), refused('EIMAGE', /is not a directory/));
  });
});
