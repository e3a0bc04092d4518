// The signature policy's pure parts: the strict schema, scope lists and most-specific selection,
// signedIdentity matching, the strict reading of signed payloads, and registries.d merging.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { identityMismatch, normalizeReference } from '../../src/trust/identity';
import { parsePayload } from '../../src/trust/payload';
import { parsePolicy, selectScope } from '../../src/trust/policy';
import { loadRegistriesD, lookasideFor, useSigstoreAttachments } from '../../src/trust/registries-d';
import { dockerScopes, pathScopes } from '../../src/trust/scopes';

const accept = [{ type: 'insecureAcceptAnything' }];
const policy = (p: unknown) => parsePolicy('/p/policy.json', Buffer.from(JSON.stringify(p)));
const D = `sha256:${'a'.repeat(64)}`;

describe('policy.json schema', () => {
  test('the containers examples parse; default is mandatory and no list may be empty', () => {
    const p = policy({
      default: [{ type: 'reject' }],
      transports: {
        docker: {
          'docker.io/openshift': accept,
          '*.temporary-project.example.com': accept,
          'hostname:5000/myns/official': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/etc/pki/official.gpg' }],
          'registry.example.com/app:v1': [{ type: 'sigstoreSigned', keyPath: '/k.pub', signedIdentity: { type: 'matchRepository' } }],
          '': accept,
        },
        oci: { '/srv/images': accept },
        'docker-archive': { '': accept },
      },
    });
    assert.equal(p.default[0]!.type, 'reject');
    assert.throws(() => policy({ transports: {} }), /default: /);
    assert.throws(() => policy({ default: [] }), /default: /);
  });

  test('unknown fields anywhere, unknown transports and types, bad scopes: the file is refused naming the place', () => {
    assert.throws(() => policy({ default: accept, x: 1 }), /unknown field 'x' in the top level/);
    assert.throws(() => policy({ default: [{ type: 'reject', why: 'no' }] }), /unknown field 'why' in default\[0\]/);
    assert.throws(() => policy({ default: accept, transports: { atomic: {} } }), /unknown field 'atomic' in transports/);
    assert.throws(() => policy({ default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k', signedIdentity: { type: 'remapIdentity' } }] }), /unknown requirement or identity type/);
    assert.throws(() => policy({ default: [{ type: 'signedBy', keyType: 'X509', keyPath: '/k' }] }), /keyType/);
    assert.throws(() => policy({ default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: 'relative/k' }] }), /absolute path/);
    assert.throws(() => policy({ default: [{ type: 'sigstoreSigned' }] }), /exactly one of keyPath, keyPaths, keyData, keyDatas/);
    assert.throws(() => policy({ default: accept, transports: { docker: { 'Bad Scope': accept } } }), /not a docker scope/);
    assert.throws(() => policy({ default: accept, transports: { oci: { '/': accept } } }), /not a scope/);
    assert.throws(() => policy({ default: accept, transports: { oci: { 'relative': accept } } }), /not a scope/);
    assert.throws(() => policy({ default: accept, transports: { 'docker-archive': { '/x': accept } } }), /docker-archive/);
    assert.throws(() => parsePolicy('/p/policy.json', Buffer.from('{"default":[],"default":[]}')), /duplicate field "default"/);
  });
});

describe('scopes', () => {
  const name = { domain: 'registry.example.com:5000', repository: 'team/app/web', tag: 'v1', digest: null };
  test('docker: the reference, the repository, each namespace, the host, wildcards without the port', () => {
    assert.deepEqual(dockerScopes(name), [
      'registry.example.com:5000/team/app/web:v1',
      'registry.example.com:5000/team/app/web',
      'registry.example.com:5000/team/app',
      'registry.example.com:5000/team',
      'registry.example.com:5000',
      '*.example.com',
      '*.com',
    ]);
    assert.deepEqual(dockerScopes({ domain: 'docker.io', repository: 'library/busybox', tag: 'latest', digest: D }).slice(0, 3), [`docker.io/library/busybox:latest@${D}`, 'docker.io/library/busybox:latest', 'docker.io/library/busybox']);
  });

  test('paths: with the reference, then each parent up to but not including /', () => {
    assert.deepEqual(pathScopes('/srv/images/app', 'v1'), ['/srv/images/app:v1', '/srv/images/app', '/srv/images', '/srv']);
  });

  test('the most specific defined scope wins; then the transport default; then default', () => {
    const p = policy({
      default: [{ type: 'reject' }],
      transports: { docker: { 'registry.example.com:5000': accept, 'registry.example.com:5000/team/app': [{ type: 'reject' }], '*.example.com': accept } },
    });
    assert.equal(selectScope(p, 'docker', dockerScopes(name)).scope, 'transports.docker["registry.example.com:5000/team/app"]');
    assert.equal(selectScope(p, 'docker', dockerScopes({ ...name, repository: 'other/x' })).scope, 'transports.docker["registry.example.com:5000"]');
    assert.equal(selectScope(p, 'docker', dockerScopes({ ...name, domain: 'cdn.example.com', repository: 'x' })).scope, 'transports.docker["*.example.com"]');
    assert.equal(selectScope(p, 'docker', dockerScopes({ ...name, domain: 'elsewhere.org' })).scope, 'default');
    const withDefault = policy({ default: [{ type: 'reject' }], transports: { docker: { '': accept } } });
    assert.equal(selectScope(withDefault, 'docker', dockerScopes(name)).scope, 'transports.docker[""]');
    assert.equal(selectScope(withDefault, 'oci', ['/a']).scope, 'default');
  });
});

describe('signedIdentity', () => {
  const tagged = normalizeReference('registry.example.com/app:v1')!;
  const digested = normalizeReference(`registry.example.com/app@${D}`)!;
  test('normalization as docker: busybox is docker.io/library/busybox; no tag is added', () => {
    assert.deepEqual(normalizeReference('busybox:1'), { domain: 'docker.io', repository: 'library/busybox', tag: '1', digest: null });
    assert.equal(normalizeReference('registry.example.com/app')!.tag, null);
    assert.equal(normalizeReference('Not A Reference'), null);
  });
  test('matchRepoDigestOrExact: exact for a tag, same repository for a digest', () => {
    assert.equal(identityMismatch(undefined, tagged, 'registry.example.com/app:v1'), null);
    assert.match(identityMismatch(undefined, tagged, 'registry.example.com/app:v2')!, /matchRepoDigestOrExact/);
    assert.equal(identityMismatch(undefined, digested, 'registry.example.com/app:v2'), null);
    assert.match(identityMismatch(undefined, digested, 'registry.example.com/other:v2')!, /not the repository/);
  });
  test('matchExact, matchRepository, exactReference, exactRepository', () => {
    assert.equal(identityMismatch({ type: 'matchExact' }, tagged, 'registry.example.com/app:v1'), null);
    assert.match(identityMismatch({ type: 'matchExact' }, digested, 'registry.example.com/app:v1')!, /matchExact/);
    assert.equal(identityMismatch({ type: 'matchRepository' }, tagged, 'registry.example.com/app'), null);
    assert.match(identityMismatch({ type: 'matchRepository' }, tagged, 'registry.example.com/app2:v1')!, /matchRepository/);
    assert.equal(identityMismatch({ type: 'exactReference', dockerReference: 'upstream.org/app:v1' }, tagged, 'upstream.org/app:v1'), null);
    assert.match(identityMismatch({ type: 'exactReference', dockerReference: 'upstream.org/app:v1' }, tagged, 'registry.example.com/app:v1')!, /exactReference/);
    assert.equal(identityMismatch({ type: 'exactRepository', dockerRepository: 'upstream.org/app' }, tagged, 'upstream.org/app:v9'), null);
    assert.match(identityMismatch(undefined, tagged, 'not a reference')!, /not a docker reference/);
  });
});

describe('signed payloads', () => {
  const simple = (critical: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    Buffer.from(JSON.stringify({ critical: { type: 'atomic container signature', image: { 'docker-manifest-digest': D }, identity: { 'docker-reference': 'r.example/app:v1' }, ...critical }, optional: {}, ...extra }));
  test('a good payload gives its claim; optional members are free', () => {
    assert.deepEqual(parsePayload('simple', simple({})), { manifestDigest: D, dockerReference: 'r.example/app:v1' });
    assert.deepEqual(parsePayload('simple', Buffer.from(JSON.stringify({ critical: JSON.parse(simple({}).toString()).critical, optional: { creator: 'x', anything: [1] } }))), { manifestDigest: D, dockerReference: 'r.example/app:v1' });
  });
  test('unknown critical members at any depth, a wrong type, duplicates, extra top-level members: refused', () => {
    assert.match(parsePayload('simple', simple({ surprise: 1 })) as string, /unknown field 'surprise' in critical/);
    assert.match(parsePayload('simple', simple({ image: { 'docker-manifest-digest': D, also: 1 } })) as string, /unknown field 'also' in critical\.image/);
    assert.match(parsePayload('simple', simple({ type: 'cosign container image signature' })) as string, /critical\.type/);
    assert.match(parsePayload('cosign', simple({})) as string, /critical\.type/);
    assert.match(parsePayload('simple', simple({}, { more: 1 })) as string, /unknown field 'more'/);
    assert.match(parsePayload('simple', Buffer.from(`{"critical":{"type":"atomic container signature","type":"x"},"optional":{}}`)) as string, /duplicate field "type"/);
    assert.match(parsePayload('simple', simple({ image: { 'docker-manifest-digest': 'md5:00' } })) as string, /not a digest/);
  });
});

describe('registries.d', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-regd-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const dirs = { system: path.join(tmp, 'system'), local: path.join(tmp, 'local'), user: path.join(tmp, 'user') };
  const write = (dir: keyof typeof dirs, name: string, text: string) => {
    fs.mkdirSync(path.join(dirs[dir], 'registries.d'), { recursive: true });
    fs.writeFileSync(path.join(dirs[dir], 'registries.d', name), text);
  };
  const scopes = dockerScopes({ domain: 'reg.example.com', repository: 'team/app', tag: 'v1', digest: null });

  test('the most specific scope that sets a key wins; default-docker last; the user dir over the local one', () => {
    write('system', 'a.yaml', 'default-docker:\n  lookaside: file:///system\n');
    write('local', 'a.yaml', 'docker:\n  reg.example.com:\n    lookaside: file:///host\n    use-sigstore-attachments: true\n  reg.example.com/team/app:\n    lookaside: file:///app\n');
    let cfg = loadRegistriesD(dirs);
    assert.equal(lookasideFor(cfg, scopes), 'file:///app');
    assert.equal(useSigstoreAttachments(cfg, scopes), true, 'from the less specific scope that sets it');
    assert.equal(lookasideFor(cfg, dockerScopes({ domain: 'other.org', repository: 'x', tag: 'v1', digest: null })), 'file:///system');
    write('user', 'mine.yaml', 'docker:\n  reg.example.com/team/app:\n    lookaside: file:///mine\n');
    cfg = loadRegistriesD(dirs);
    assert.equal(lookasideFor(cfg, scopes), 'file:///mine');
  });

  test('a scope or default-docker twice in one dir, an unknown key, bad YAML: refused naming the file', () => {
    write('local', 'b.yaml', 'docker:\n  reg.example.com:\n    lookaside: file:///again\n');
    assert.throws(() => loadRegistriesD(dirs), /docker scope 'reg\.example\.com' is also defined in .*a\.yaml/);
    fs.rmSync(path.join(dirs.local, 'registries.d', 'b.yaml'));
    write('local', 'c.yaml', 'default-docker:\n  lookaside: file:///x\n');
    write('local', 'd.yaml', 'default-docker:\n  lookaside: file:///y\n');
    assert.throws(() => loadRegistriesD(dirs), /default-docker is also defined/);
    fs.rmSync(path.join(dirs.local, 'registries.d', 'd.yaml'));
    write('local', 'e.yaml', 'docker:\n  reg.example.com/x:\n    look-aside: file:///x\n');
    assert.throws(() => loadRegistriesD(dirs), /e\.yaml: unknown field 'look-aside'/);
    write('local', 'e.yaml', 'docker: [unclosed\n');
    assert.throws(() => loadRegistriesD(dirs), /e\.yaml: not valid YAML/);
    write('local', 'e.yaml', 'docker:\n  a.example:\n    lookaside: file:///1\n  a.example:\n    lookaside: file:///2\n');
    assert.throws(() => loadRegistriesD(dirs), /e\.yaml: not valid YAML/);
  });
});
