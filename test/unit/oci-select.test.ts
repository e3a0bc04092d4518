// Manifest classification, platform selection and the substitution check; reference parsing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Descriptor, ImageConfig } from '../../src/schema/oci';
import { ImageSourceError } from '../../src/image/source';
import { familiarName, parseDockerReference, parseLocalReference } from '../../src/image/oci/reference';
import { checkConfigPlatform, parseManifestDoc, pickPlatform, resolveToManifest } from '../../src/image/oci/select';
import { digestOf } from '../../src/image/oci/verify';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const AMD64 = { os: 'linux', architecture: 'amd64' };
const d = (n: number, extra: Partial<Descriptor> = {}): Descriptor => ({ mediaType: OCI_MANIFEST, digest: `sha256:${String(n).repeat(64).slice(0, 64)}`, size: 10, ...extra });
const manifestJson = (extra: object = {}) => Buffer.from(JSON.stringify({ schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'1'.repeat(64)}`, size: 2 }, layers: [], ...extra }));
const rejects = (code: string, re: RegExp) => (e: unknown) => e instanceof ImageSourceError && e.code === code && re.test(e.message);

describe('parseManifestDoc', () => {
  test('classifies by content and accepts agreeing media types', () => {
    assert.equal(parseManifestDoc(manifestJson(), OCI_MANIFEST, 'm').kind, 'manifest');
    assert.equal(parseManifestDoc(manifestJson({ mediaType: DOCKER_MANIFEST }), DOCKER_MANIFEST, 'm').kind, 'manifest');
    assert.equal(parseManifestDoc(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] })), OCI_INDEX, 'i').kind, 'index');
  });
  test('a media type that lies about the content is refused', () => {
    assert.throws(() => parseManifestDoc(manifestJson(), OCI_INDEX, 'm'), rejects('EIMAGE', /content is a manifest/));
    assert.throws(() => parseManifestDoc(manifestJson({ mediaType: OCI_INDEX }), undefined, 'm'), rejects('EIMAGE', /the document says/));
    assert.throws(() => parseManifestDoc(manifestJson({ mediaType: DOCKER_MANIFEST }), OCI_MANIFEST, 'm'), rejects('EIMAGE', /descriptor says .* but the document says/));
    assert.throws(() => parseManifestDoc(manifestJson(), 'application/octet-stream', 'm'), rejects('EIMAGE', /media type/));
  });
  test('a document that is both, or neither, or has duplicate keys, is refused', () => {
    assert.throws(() => parseManifestDoc(manifestJson({ manifests: [] }), undefined, 'm'), rejects('EIMAGE', /neither/));
    assert.throws(() => parseManifestDoc(Buffer.from('{"schemaVersion":2}'), undefined, 'm'), rejects('EIMAGE', /neither/));
    assert.throws(() => parseManifestDoc(Buffer.from('{"schemaVersion":2,"layers":[],"layers":[],"config":{}}'), undefined, 'm'), rejects('EIMAGE', /duplicate field/));
  });
});

describe('pickPlatform', () => {
  test('the first entry for the wanted platform', () => {
    const entries = [d(1, { platform: { os: 'linux', architecture: 'arm64' } }), d(2, { platform: AMD64 }), d(3, { platform: AMD64 })];
    assert.equal(pickPlatform(entries, AMD64, 'i').digest, entries[1]!.digest);
  });
  test('a lone entry without a platform; otherwise the choices are listed', () => {
    assert.equal(pickPlatform([d(1)], AMD64, 'i').digest, d(1).digest);
    assert.throws(() => pickPlatform([d(1), d(2)], AMD64, 'i'), rejects('EPLATFORM', /unspecified, unspecified/));
    assert.throws(() => pickPlatform([d(1, { platform: { os: 'linux', architecture: 'arm64' } })], AMD64, 'i'), rejects('EPLATFORM', /no image for linux\/amd64 \(it has: linux\/arm64\)/));
  });
  test('entries that are not images (attestations, artifacts) are never picked', () => {
    assert.throws(() => pickPlatform([d(1, { mediaType: 'application/vnd.in-toto+json', platform: AMD64 })], AMD64, 'i'), rejects('EPLATFORM', /none/));
  });
});

describe('resolveToManifest', () => {
  test('follows nested indexes to the platform manifest and remembers the claim', async () => {
    const m = manifestJson();
    const md: Descriptor = { mediaType: OCI_MANIFEST, digest: digestOf(m), size: m.length, platform: AMD64 };
    const inner = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ ...md, digest: `sha256:${'9'.repeat(64)}`, platform: { os: 'linux', architecture: 'arm64' } }, md] }));
    const id: Descriptor = { mediaType: OCI_INDEX, digest: digestOf(inner), size: inner.length };
    const blobs = new Map([[md.digest, m], [id.digest, inner]]);
    const sel = await resolveToManifest(id, async (x) => blobs.get(x.digest)!, { what: 't', platform: AMD64 });
    assert.equal(sel.descriptor.digest, md.digest);
    assert.deepEqual(sel.claimed, AMD64);
  });
  test('nesting deeper than the limit is refused', async () => {
    // Each index points at the next; content addressing makes a true cycle impossible, depth stops a chain.
    let next: Descriptor | null = null;
    const blobs = new Map<string, Buffer>();
    for (let i = 0; i < 8; i++) {
      const doc: Buffer = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: next ? [next] : [], annotations: { n: String(i) } }));
      next = { mediaType: OCI_INDEX, digest: digestOf(doc), size: doc.length };
      blobs.set(next.digest, doc);
    }
    await assert.rejects(resolveToManifest(next!, async (x) => blobs.get(x.digest)!, { what: 't', platform: AMD64 }), rejects('ELIMIT', /nest deeper than 4/));
  });
});

describe('checkConfigPlatform', () => {
  const cfg = (architecture?: string, os?: string): ImageConfig => ({ ...(architecture ? { architecture } : {}), ...(os ? { os } : {}), rootfs: { type: 'layers', diff_ids: [] } });
  test('accepts the host platform, with or without a claim', () => {
    checkConfigPlatform(cfg('amd64', 'linux'), undefined, AMD64, 'x');
    checkConfigPlatform(cfg('amd64', 'linux'), AMD64, AMD64, 'x');
  });
  test('platform substitution: the index claims amd64, the config is arm64', () => {
    assert.throws(() => checkConfigPlatform(cfg('arm64', 'linux'), AMD64, AMD64, 'x'), rejects('EPLATFORM', /platform substitution/));
  });
  test('another platform, or none named, is refused', () => {
    assert.throws(() => checkConfigPlatform(cfg('arm64', 'linux'), undefined, AMD64, 'x'), rejects('EPLATFORM', /is for linux\/arm64; this host runs linux\/amd64/));
    assert.throws(() => checkConfigPlatform(cfg(undefined, 'linux'), undefined, AMD64, 'x'), rejects('EPLATFORM', /names no os\/architecture/));
  });
});

describe('references', () => {
  test('local references split at the first colon, as skopeo does', () => {
    assert.deepEqual(parseLocalReference('oci:/a/b'), { transport: 'oci', path: '/a/b' });
    assert.deepEqual(parseLocalReference('oci:/a/b:latest'), { transport: 'oci', path: '/a/b', ref: 'latest' });
    assert.deepEqual(parseLocalReference('docker-archive:x.tar:example.com:5000/app:1'), { transport: 'docker-archive', path: 'x.tar', ref: 'example.com:5000/app:1' });
    assert.deepEqual(parseLocalReference('oci-archive:x.tar:@0'), { transport: 'oci-archive', path: 'x.tar', ref: '@0' });
    assert.equal(parseLocalReference('docker://busybox'), null);
    assert.throws(() => parseLocalReference('oci::latest'), /names no directory/);
    assert.throws(() => parseLocalReference('oci:/a:'), /empty or malformed/);
  });
  test('docker references', () => {
    assert.deepEqual(parseDockerReference('busybox'), { repository: 'busybox' });
    assert.deepEqual(parseDockerReference('localhost:5000/a/b:1.0'), { registry: 'localhost:5000', repository: 'a/b', tag: '1.0' });
    assert.deepEqual(parseDockerReference(`x.io/y@sha256:${'f'.repeat(64)}`), { registry: 'x.io', repository: 'y', digest: `sha256:${'f'.repeat(64)}` });
    for (const bad of ['', 'UPPER', 'a//b', 'a:b:c', 'a b', 'a@sha256:zz']) assert.equal(parseDockerReference(bad), null, bad);
  });
  test('familiar names match RepoTags the way docker shows them', () => {
    assert.equal(familiarName('docker.io/library/busybox:latest'), 'busybox:latest');
    assert.equal(familiarName('busybox'), 'busybox:latest');
    assert.equal(familiarName('docker.io/me/app'), 'me/app:latest');
    assert.equal(familiarName('example.com/app:2'), 'example.com/app:2');
  });
});
