// Docker/OCI config → appc image manifest: every field of the mapping documented in to-appc.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ImageManifest } from '../../src/schema/aci';
import type { ImageConfig } from '../../src/schema/oci';
import { WardError } from '../../src/schema/errors';
import { ANNOTATION, ociToAppc, toAcIdentifier, toAcName } from '../../src/image/oci/to-appc';
import { appFromManifest } from '../../src/pod/app';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const CONFIG_DIGEST = `sha256:${'b'.repeat(64)}`;
type Inner = NonNullable<ImageConfig['config']>;

function conf(inner: Inner | null, extra: Partial<ImageConfig> = {}): ImageConfig {
  return { architecture: 'amd64', os: 'linux', config: inner, rootfs: { type: 'layers', diff_ids: [] }, ...extra };
}

function convert(inner: Inner | null, o: { name?: string; transport?: 'docker' | 'oci' | 'oci-archive' | 'docker-archive'; extra?: Partial<ImageConfig> } = {}) {
  const m = ociToAppc(conf(inner, o.extra), { name: o.name ?? '127.0.0.1:5000/library/busybox:1.36', manifestDigest: DIGEST, transport: o.transport ?? 'docker', configDigest: CONFIG_DIGEST });
  assert.ok(ImageManifest.safeParse(m).success, 'result is a valid appc image manifest');
  return m;
}

const ann = (m: ImageManifest, name: string) => m.annotations?.find((a) => a.name === name)?.value;
const label = (m: ImageManifest, name: string) => m.labels?.find((a) => a.name === name)?.value;
const refused = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => e instanceof WardError && e.code === 'EIMAGE' && re.test(e.message));

describe('exec from Entrypoint and Cmd', () => {
  test('both: Entrypoint then Cmd, each kept as an annotation', () => {
    const m = convert({ Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo hi'] });
    assert.deepEqual(m.app?.exec, ['/bin/sh', '-c', 'echo hi']);
    assert.equal(ann(m, ANNOTATION.entrypoint), '["/bin/sh","-c"]');
    assert.equal(ann(m, ANNOTATION.cmd), '["echo hi"]');
  });
  test('Entrypoint only, Cmd only, and null Cmd', () => {
    assert.deepEqual(convert({ Entrypoint: ['/bin/true'] }).app?.exec, ['/bin/true']);
    assert.deepEqual(convert({ Cmd: ['/bin/sh'] }).app?.exec, ['/bin/sh']);
    const m = convert({ Entrypoint: ['/bin/echo'], Cmd: null });
    assert.deepEqual(m.app?.exec, ['/bin/echo']);
    assert.equal(ann(m, ANNOTATION.cmd), undefined);
  });
  test('neither: converts (fetch succeeds) and running it is refused with a clear error', () => {
    for (const inner of [{}, { Entrypoint: [], Cmd: [] }, null] as (Inner | null)[]) {
      const m = convert(inner);
      assert.equal(m.app?.exec, undefined);
      assert.equal(m.app?.user, '0');
      assert.throws(() => appFromManifest(m, [], 'app'), /names no command to run; give one after --/);
    }
  });
  test('a NUL in an argument is refused', () => {
    refused(() => convert({ Cmd: ['/bin/sh', 'a\u0000b'] }), /NUL/);
  });
});

describe('environment', () => {
  test('NAME=VALUE entries, values may hold "=", a repeated name keeps the last value in first place', () => {
    const m = convert({ Env: ['PATH=/usr/bin:/bin', 'A=x=y', 'EMPTY=', 'PATH=/bin'] });
    assert.deepEqual(m.app?.environment, [
      { name: 'PATH', value: '/bin' },
      { name: 'A', value: 'x=y' },
      { name: 'EMPTY', value: '' },
    ]);
  });
  test('malformed entries are refused', () => {
    for (const bad of ['NOEQUALS', '=value', '']) refused(() => convert({ Env: [bad] }), /malformed Env entry/);
  });
  test('no Env gives an empty environment', () => {
    assert.deepEqual(convert({ Env: null }).app?.environment, []);
  });
});

describe('user and group', () => {
  test('absent or empty: root', () => {
    for (const User of [undefined, '']) {
      const m = convert(User === undefined ? {} : { User });
      assert.equal(m.app?.user, '0');
      assert.equal(m.app?.group, '0');
      assert.equal(ann(m, ANNOTATION.user), undefined);
    }
  });
  test('uid:gid and name:group are kept as given', () => {
    let m = convert({ User: '1000:100' });
    assert.deepEqual([m.app?.user, m.app?.group], ['1000', '100']);
    m = convert({ User: 'nobody:nogroup' });
    assert.deepEqual([m.app?.user, m.app?.group], ['nobody', 'nogroup']);
    assert.equal(ann(m, ANNOTATION.user), undefined);
  });
  test('a user alone: group = user (docker2aci), original kept for the passwd lookup docker does', () => {
    for (const u of ['1000', 'www-data']) {
      const m = convert({ User: u });
      assert.deepEqual([m.app?.user, m.app?.group], [u, u]);
      assert.equal(ann(m, ANNOTATION.user), u);
    }
  });
  test('malformed forms are refused', () => {
    for (const bad of ['a:b:c', ':100', '1000:', 'a b']) refused(() => convert({ User: bad }), /is not USER, USER:GROUP/);
  });
});

describe('working directory', () => {
  test('defaults to / and keeps an absolute WorkingDir', () => {
    assert.equal(convert({}).app?.workingDirectory, '/');
    assert.equal(convert({ WorkingDir: '' }).app?.workingDirectory, '/');
    assert.equal(convert({ WorkingDir: '/srv/app' }).app?.workingDirectory, '/srv/app');
  });
  test('a relative WorkingDir is refused', () => {
    refused(() => convert({ WorkingDir: 'srv' }), /not an absolute path/);
  });
});

describe('ports', () => {
  test('ExposedPorts become appc ports named <port>-<proto>, sorted, tcp by default', () => {
    const m = convert({ ExposedPorts: { '8080': {}, '53/udp': {}, '80/tcp': {}, '9/SCTP': {}, '8080/tcp': {} } });
    assert.deepEqual(m.app?.ports, [
      { name: '53-udp', protocol: 'udp', port: 53 },
      { name: '80-tcp', protocol: 'tcp', port: 80 },
      { name: '8080-tcp', protocol: 'tcp', port: 8080 },
      { name: '9-sctp', protocol: 'sctp', port: 9 },
    ]);
  });
  test('malformed or out-of-range ports are refused', () => {
    for (const bad of ['0/tcp', '65536', '80/icmp', 'http', '80-90/tcp', '']) refused(() => convert({ ExposedPorts: { [bad]: {} } }), /ExposedPorts entry/);
  });
});

describe('volumes', () => {
  test('named as docker2aci does (volume-<path>), sorted; repeats numbered', () => {
    const m = convert({ Volumes: { '/data': {}, '/var/lib/My_DB': {}, '/var/lib/my-db': {}, '/a/.b//': {} } });
    assert.deepEqual(m.app?.mountPoints, [
      { name: 'volume-a-b', path: '/a/.b/' },
      { name: 'volume-data', path: '/data' },
      { name: 'volume-var-lib-my-db', path: '/var/lib/My_DB' },
      { name: 'volume-var-lib-my-db-1', path: '/var/lib/my-db' },
    ]);
  });
  test('a relative volume is refused', () => {
    refused(() => convert({ Volumes: { 'data': {} } }), /not an absolute path/);
  });
});

describe('labels and annotations', () => {
  test('os, arch (appc names) and version from the tag', () => {
    let m = convert({});
    assert.equal(label(m, 'os'), 'linux');
    assert.equal(label(m, 'arch'), 'amd64');
    assert.equal(label(m, 'version'), '1.36');
    m = convert({}, { extra: { architecture: 'arm64' } });
    assert.equal(label(m, 'arch'), 'aarch64');
    m = convert({}, { extra: { architecture: '386' } });
    assert.equal(label(m, 'arch'), 'i386');
  });
  test('source annotations: manifest digest, image id, registry, repository, tag, transport', () => {
    const m = convert({ Cmd: ['/bin/sh'] }, { extra: { created: '2024-01-01T00:00:00Z' } });
    assert.equal(ann(m, ANNOTATION.manifestHash), DIGEST);
    assert.equal(ann(m, ANNOTATION.imageId), CONFIG_DIGEST);
    assert.equal(ann(m, ANNOTATION.registry), '127.0.0.1:5000');
    assert.equal(ann(m, ANNOTATION.repository), 'library/busybox');
    assert.equal(ann(m, ANNOTATION.tag), '1.36');
    assert.equal(ann(m, ANNOTATION.originalName), '127.0.0.1:5000/library/busybox:1.36');
    assert.equal(ann(m, ANNOTATION.transport), 'docker');
    assert.equal(ann(m, ANNOTATION.created), '2024-01-01T00:00:00Z');
  });
  test('config Labels become annotations with AC Identifier names', () => {
    const m = convert({
      Labels: {
        'org.opencontainers.image.source': 'https://example.com/x',
        'com.Example.Foo_Bar': 'v',
        maintainer: 'Someone <a@b>',
        empty: '',
        '!!!': 'dropped',
      },
    });
    assert.equal(ann(m, 'org.opencontainers.image.source'), 'https://example.com/x');
    assert.equal(ann(m, 'com.example.foo_bar'), 'v');
    assert.equal(ann(m, 'maintainer'), 'Someone <a@b>');
    assert.equal(ann(m, 'empty'), '');
    assert.ok(!m.annotations?.some((a) => a.value === 'dropped'));
  });
  test('labels cannot overwrite what ward records, and colliding names stay distinct', () => {
    const m = convert({ Labels: { 'appc.io/docker/manifesthash': 'forged', 'ward/source-transport': 'forged', created: 'forged', 'a.B': '1', 'a.b': '2', 'A.b': '3' } });
    assert.equal(ann(m, ANNOTATION.manifestHash), DIGEST);
    assert.equal(ann(m, ANNOTATION.transport), 'docker');
    assert.equal(ann(m, 'label/appc.io/docker/manifesthash'), 'forged');
    assert.equal(ann(m, 'label/ward/source-transport'), 'forged');
    assert.equal(ann(m, 'label/created'), 'forged');
    assert.deepEqual(['a.b', 'a.b-2', 'a.b-3'].map((n) => ann(m, n)), ['3', '1', '2']);
  });
});

describe('names', () => {
  test('docker references: registry/repository, lower-cased', () => {
    assert.equal(convert({}, { name: 'Registry.Example.COM:5000/team/app:v1' }).name, 'registry.example.com:5000/team/app');
    assert.equal(convert({}, { name: 'busybox@sha256:' + 'c'.repeat(64) }).name, 'busybox');
    assert.equal(label(convert({}, { name: 'busybox@sha256:' + 'c'.repeat(64) }), 'version'), undefined);
  });
  test('local transports: a REF with a repository names the image, a bare tag uses the file name', () => {
    assert.equal(convert({}, { name: 'oci:/tmp/x/layout:example.com/app:2', transport: 'oci' }).name, 'example.com/app');
    const m = convert({}, { name: 'oci:/tmp/x/My Layout:stable', transport: 'oci' });
    assert.equal(m.name, 'my-layout');
    assert.equal(label(m, 'version'), 'stable');
    assert.equal(convert({}, { name: 'oci-archive:/tmp/busybox.tar', transport: 'oci-archive' }).name, 'busybox');
    assert.equal(convert({}, { name: 'docker-archive:/tmp/d.tar:busybox:latest', transport: 'docker-archive' }).name, 'busybox');
    assert.equal(convert({}, { name: 'docker-archive:/tmp/d.tar:@1', transport: 'docker-archive' }).name, 'd');
  });
  test('sanitisers produce valid identifiers', () => {
    assert.equal(toAcIdentifier('--A__b..c//d--'), 'a_b.c/d');
    assert.equal(toAcIdentifier('a b\tc!d'), 'a-b-c-d');
    assert.equal(toAcIdentifier('***'), '');
    assert.equal(toAcName('volume//Var/Lib/__x'), 'volume-var-lib-x');
    assert.equal(toAcIdentifier('x'.repeat(600)).length, 512);
  });
});
