// The image signature policy for OCI/Docker images, end to end: `ward fetch` as an unprivileged
// user against a real registry (Debian's docker-registry), simple signatures made by real GnuPG
// through `skopeo copy --sign-by` into a lookaside directory, cosign signatures made here with an
// ECDSA P-256 key and pushed at tag sha256-<hex>.sig. Every refusal is one line with exit 250
// (253 for a broken policy file) and leaves nothing in the store.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cosignKey, cosignPayload, cosignSign, countingProxy, pushCosignSignatures, type CosignKey } from '../lib/cosign';
import { TestEnv } from '../lib/env';
import { GpgHome, simplePayload, type GpgKey } from '../lib/gpg-oci';
import { push, run, startRegistry, type Registry } from '../lib/registry';
import { busyboxLayer, OciLayout } from '../lib/registry-images';

describe('signature policy for OCI and Docker images', () => {
  const env = new TestEnv('trust-oci');
  let registry: Registry;
  let gpg: GpgHome;
  let ed: GpgKey;
  let rsa: GpgKey;
  let sub: GpgKey;
  let cosign: CosignKey;
  let otherCosign: CosignKey;
  let host = '';
  let layoutDir = '';
  let digest = '';
  let otherDigest = '';
  let otherManifest: Buffer;
  let lookaside = '';

  const policyFile = () => path.join(env.localConfig, 'policy.json');
  const writePolicy = (p: unknown, file = policyFile()) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, typeof p === 'string' ? p : JSON.stringify(p));
    fs.chmodSync(file, 0o644);
  };
  const signedBy = (keyPath: string, signedIdentity?: unknown) => ({ type: 'signedBy', keyType: 'GPGKeys', keyPath, ...(signedIdentity ? { signedIdentity } : {}) });
  const cosignPub = (k: CosignKey, name: string) => {
    const f = env.fixture(`${name}.pub`);
    fs.writeFileSync(f, k.publicPem);
    fs.chmodSync(f, 0o644);
    return f;
  };
  /** default reject, and `reqs` for the host (so each test states exactly what applies). */
  const hostPolicy = (...reqs: unknown[]) => writePolicy({ default: [{ type: 'reject' }], transports: { docker: { [host]: reqs } } });
  const fetch = (ref: string, extra: string[] = []) => env.ward('a', ['--insecure-options=http', ...extra, 'fetch', '--pull-policy=update', `docker://${ref}`]);
  const signerOf = async (id: string) => {
    const list = JSON.parse((await env.ward('a', ['image', 'list', '--format=json'])).stdout) as { id: string; signer: string }[];
    return list.find((r) => r.id === id)?.signer;
  };
  const blobs = () => {
    try {
      return fs.readdirSync(path.join(env.storeDir('a'), 'blobs', 'sha256')).sort();
    } catch {
      return [];
    }
  };
  /** A refusal: the exit status, one line naming the image, the cause; nothing new in the store. */
  async function refused(ref: string, status: number, cause: RegExp, extra: string[] = []): Promise<string> {
    const before = blobs();
    const r = await fetch(ref, extra);
    assert.equal(r.code, status, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^ward: /);
    assert.match(lines[0]!, cause);
    assert.equal(r.stdout, '');
    assert.deepEqual(blobs(), before, 'a refused image leaves no blob');
    if (process.env.WARD_TEST_SHOW) process.stdout.write(`# ${lines[0]}\n`);
    return lines[0]!;
  }
  async function accepted(ref: string, signer: string): Promise<void> {
    const r = await fetch(ref);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await signerOf(r.stdout.trim()), signer);
  }
  const sigDir = (repo: string, d = digest) => path.join(lookaside, `${repo}@${d.replace(':', '=')}`);
  const putSignatures = (repo: string, sigs: Buffer[], d = digest) => {
    const dir = sigDir(repo, d);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    sigs.forEach((s, i) => fs.writeFileSync(path.join(dir, `signature-${i + 1}`), s));
    execFileSync('chmod', ['-R', 'a+rX', lookaside]);
  };

  before(async () => {
    registry = await startRegistry(env.fixture('registry'), { kind: 'none' });
    host = registry.host;
    layoutDir = env.fixture('layout');
    const layout = new OciLayout(layoutDir);
    const layer = await busyboxLayer();
    const img = layout.image({ arch: 'amd64', layers: [layer.gz], diffIds: [layer.diffId] });
    layout.tag('v1', img);
    digest = img.digest;
    const otherLayer = await busyboxLayer('other');
    const other = layout.image({ arch: 'amd64', layers: [otherLayer.gz], diffIds: [otherLayer.diffId] });
    layout.tag('other', other);
    otherDigest = other.digest;
    otherManifest = other.bytes;
    await run('chmod', ['-R', 'a+rX', layoutDir]);

    gpg = new GpgHome(env.fixture('gnupg'));
    ed = await gpg.key('ward ed25519 <ed@example.test>', 'ed25519');
    rsa = await gpg.key('ward rsa4096 <rsa@example.test>', 'rsa4096');
    sub = await gpg.key('ward subkey <sub@example.test>', 'ed25519', { subkey: true });

    lookaside = env.fixture('lookaside');
    fs.mkdirSync(lookaside);
    const skopeoD = env.fixture('skopeo-registries.d');
    fs.mkdirSync(skopeoD);
    fs.writeFileSync(path.join(skopeoD, 'ward-test.yaml'), `docker:\n  ${host}:\n    sigstore-staging: file://${lookaside}\n`);
    await gpg.pushSigned(layoutDir, 'v1', `${host}/demo/ed:v1`, ed.fpr, skopeoD);
    await gpg.pushSigned(layoutDir, 'v1', `${host}/demo/rsa:v1`, rsa.fpr, skopeoD);
    await gpg.pushSigned(layoutDir, 'v1', `${host}/demo/sub:v1`, sub.fpr, skopeoD);
    await push(layoutDir, 'v1', `${host}/demo/ed:v2`);
    await push(layoutDir, 'v1', `${host}/demo/unsigned:v1`);
    await push(layoutDir, 'v1', `${host}/demo/cosign:v1`);
    await push(layoutDir, 'v1', `${host}/demo/plain:v1`);
    await run('chmod', ['-R', 'a+rX', lookaside]);

    cosign = cosignKey();
    otherCosign = cosignKey();
    const payload = cosignPayload(digest, `${host}/demo/cosign`);
    await pushCosignSignatures(host, 'demo/cosign', digest, [{ payload, signature: cosignSign(cosign, payload) }]);

    fs.mkdirSync(path.join(env.localConfig, 'registries.d'));
    fs.writeFileSync(path.join(env.localConfig, 'registries.d', 'test.yaml'), `docker:\n  ${host}:\n    lookaside: file://${lookaside}\n    use-sigstore-attachments: true\n`);
    await run('chmod', ['-R', 'a+rX', env.localConfig]);
  });
  after(async () => {
    await gpg?.stop();
    await registry?.stop();
    await env.stop();
  });

  test('skopeo wrote the simple signatures where the lookaside layout says', () => {
    for (const repo of ['demo/ed', 'demo/rsa', 'demo/sub']) assert.ok(fs.existsSync(path.join(sigDir(repo), 'signature-1')), repo);
    assert.ok(!fs.existsSync(sigDir('demo/unsigned')));
  });

  test('no policy file: every OCI/Docker image is refused, naming the three places and the remedy', async () => {
    fs.rmSync(policyFile(), { force: true });
    const line = await refused(`${host}/demo/ed:v1`, 250, /no image signature policy/);
    for (const d of [env.userConfig('a'), env.localConfig, env.systemConfig]) assert.ok(line.includes(path.join(d, 'policy.json')), line);
    assert.match(line, /--insecure-options=image/);
    // oci: layouts too, before the layout is opened.
    const r = await env.ward('a', ['fetch', `oci:${layoutDir}:v1`]);
    assert.equal(r.code, 250, r.stderr);
    // --insecure-options=image is the way to take it unverified.
    const ok = await env.ward('a', ['--insecure-options=image,http', 'fetch', `docker://${host}/demo/ed:v1`]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(await signerOf(ok.stdout.trim()), 'unverified');
    // In the store now, unverified: a fetch without the flag does not take it from there.
    const again = await env.ward('a', ['--insecure-options=http', 'fetch', `docker://${host}/demo/ed:v1`]);
    assert.equal(again.code, 250, again.stderr);
    assert.match(again.stderr, /no image signature policy/);
    const never = await env.ward('a', ['--insecure-options=http', 'fetch', '--pull-policy=never', `docker://${host}/demo/ed:v1`]);
    assert.equal(never.code, 250, never.stderr);
    assert.match(never.stderr, /in the store unverified/);
  });

  test('a policy file with an unknown field, or malformed, is refused whole (253) naming the file and the field', async () => {
    writePolicy({ default: [{ type: 'insecureAcceptAnything' }], transports: { docker: { [host]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: ed.keyring, signedIdentty: { type: 'matchExact' } }] } } });
    const line = await refused(`${host}/demo/ed:v1`, 253, /unknown field 'signedIdentty'/);
    assert.ok(line.includes(policyFile()), line);
    writePolicy({ default: [{ type: 'insecureAcceptAnything' }], extra: true });
    await refused(`${host}/demo/ed:v1`, 253, /unknown field 'extra'/);
    writePolicy('{"default": [{"type": "insecureAcceptAnything"}], "default": [{"type": "reject"}]}');
    await refused(`${host}/demo/ed:v1`, 253, /not valid JSON.*duplicate/i);
    writePolicy({ default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: ed.keyring, keyData: 'AAAA' }] });
    await refused(`${host}/demo/ed:v1`, 253, /exactly one of keyPath, keyPaths, keyData/);
    writePolicy({ default: [{ type: 'signedByy' }] });
    await refused(`${host}/demo/ed:v1`, 253, /unknown requirement/);
  });

  test("the user's policy.json replaces the local one", async () => {
    writePolicy({ default: [{ type: 'reject' }] });
    await refused(`${host}/demo/plain:v1`, 250, /requirement 1 \(reject\)/);
    const mine = path.join(env.userConfig('a'), 'policy.json');
    writePolicy({ default: [{ type: 'insecureAcceptAnything' }] }, mine);
    await run('chown', ['-R', 'ward-test-a:ward-test-a', path.dirname(path.dirname(env.userConfig('a')))]);
    try {
      await accepted(`${host}/demo/plain:v1`, 'unverified');
      // A user policy that cannot be looked at does not fall through to the local one.
      fs.chmodSync(path.dirname(mine), 0o000);
      await refused(`${host}/demo/plain:v1`, 250, /cannot look at the signature policy .*EACCES/);
    } finally {
      fs.chmodSync(path.dirname(mine), 0o755);
      fs.rmSync(mine);
    }
  });

  test('a reject scope refuses; the most specific scope wins over the less specific and over default', async () => {
    writePolicy({
      default: [{ type: 'insecureAcceptAnything' }],
      transports: { docker: { [host]: [{ type: 'reject' }], [`${host}/demo/plain`]: [{ type: 'insecureAcceptAnything' }], [`${host}/demo/unsigned:v1`]: [signedBy(ed.keyring)] } },
    });
    const line = await refused(`${host}/demo/ed:v2`, 250, /refused by the signature policy .*transports\.docker\["127\.0\.0\.1:\d+"\] requirement 1 \(reject\): this scope rejects every image/);
    assert.match(line, /demo\/ed:v2/);
    await accepted(`${host}/demo/plain:v1`, 'unverified');
    await refused(`${host}/demo/unsigned:v1`, 250, /transports\.docker\[".*\/demo\/unsigned:v1"\] requirement 1 \(signedBy\): no simple signature/);
    // Every requirement of the scope must pass.
    writePolicy({ default: [{ type: 'reject' }], transports: { docker: { [host]: [{ type: 'insecureAcceptAnything' }, signedBy(rsa.keyring)] } } });
    await refused(`${host}/demo/ed:v1`, 250, /requirement 2 \(signedBy\)/);
  });

  test('signedBy accepts skopeo --sign-by signatures: ed25519, rsa4096, a signing subkey; the signer is the primary fingerprint', async () => {
    hostPolicy(signedBy(ed.keyring));
    await accepted(`${host}/demo/ed:v1`, ed.fpr);
    hostPolicy(signedBy(rsa.keyring));
    await accepted(`${host}/demo/rsa:v1`, rsa.fpr);
    hostPolicy(signedBy(sub.keyring));
    await accepted(`${host}/demo/sub:v1`, sub.fpr);
    // keyData and keyPaths name the same keys.
    hostPolicy({ type: 'signedBy', keyType: 'GPGKeys', keyData: fs.readFileSync(ed.keyring).toString('base64') });
    await accepted(`${host}/demo/ed:v1`, ed.fpr);
    hostPolicy({ type: 'signedBy', keyType: 'GPGKeys', keyPaths: [rsa.keyring, sub.keyring] });
    await accepted(`${host}/demo/sub:v1`, sub.fpr);
  });

  test('signedBy refuses: no signature, the wrong key', async () => {
    hostPolicy(signedBy(ed.keyring));
    await refused(`${host}/demo/unsigned:v1`, 250, /\(signedBy\): no simple signature found/);
    hostPolicy(signedBy(rsa.keyring));
    const line = await refused(`${host}/demo/ed:v1`, 250, /signed by key [0-9A-F]{16}, which is not among the policy's keys/);
    assert.ok(line.includes(ed.fpr.slice(-16)), line);
    // No lookaside configured for the image: no signatures at all.
    writePolicy({ default: [signedBy(ed.keyring)] });
    fs.renameSync(path.join(env.localConfig, 'registries.d'), path.join(env.localConfig, 'registries.d.off'));
    try {
      await refused(`${host}/demo/ed:v1`, 250, /registries\.d gives no lookaside/);
    } finally {
      fs.renameSync(path.join(env.localConfig, 'registries.d.off'), path.join(env.localConfig, 'registries.d'));
    }
  });

  test('signedBy refuses: a changed manifest, a signature for another digest, garbage and malformed armor, an unknown critical field, SHA-1', async () => {
    hostPolicy(signedBy(ed.keyring));
    const good = fs.readFileSync(path.join(sigDir('demo/ed'), 'signature-1'));
    // The tag now points at another manifest, and the old signature is put beside the new digest.
    await push(layoutDir, 'other', `${host}/demo/changed:v1`);
    putSignatures('demo/changed', [good], otherDigest);
    await refused(`${host}/demo/changed:v1`, 250, new RegExp(`key ${ed.fpr}: the signature is for ${digest}, not this image's manifest ${otherDigest}`));
    // A genuine signature, by the trusted key, of another manifest under this identity.
    putSignatures('demo/plain', [await gpg.standaloneSign(otherManifest, `${host}/demo/plain:v1`, ed.fpr)]);
    await refused(`${host}/demo/plain:v1`, 250, /the signature is for sha256:[0-9a-f]{64}, not this image's manifest/);
    putSignatures('demo/plain', [Buffer.from('this is not a signature at all')]);
    await refused(`${host}/demo/plain:v1`, 250, /not an OpenPGP message/);
    putSignatures('demo/plain', [Buffer.from('-----BEGIN PGP MESSAGE-----\n\nowGbwMvMwCR4\n-----END PGP MESSAGE-----\n')]);
    await refused(`${host}/demo/plain:v1`, 250, /not an OpenPGP message|carries 0 signatures/);
    // One byte changed in a valid signature.
    const flipped = Buffer.from(good);
    flipped[flipped.length - 40] = flipped[flipped.length - 40]! ^ 0x01;
    putSignatures('demo/plain', [flipped]);
    await refused(`${host}/demo/plain:v1`, 250, /\(signedBy\): /);
    // A signature over the claim "demo/plain:v0", changed in place to claim "demo/plain:v1": the
    // payload would pass every other check, so only the crypto refuses it.
    const v0 = await gpg.sign(ed.fpr, simplePayload(digest, `${host}/demo/plain:v0`), { uncompressed: true });
    const at = v0.indexOf(Buffer.from('/demo/plain:v0'));
    assert.ok(at > 0, 'the literal data is in the clear');
    const v1 = Buffer.from(v0);
    v1[at + 13] = '1'.charCodeAt(0);
    putSignatures('demo/plain', [v1]);
    await refused(`${host}/demo/plain:v1`, 250, new RegExp(`key ${ed.fpr}: the signature does not verify`));
    putSignatures('demo/plain', [v0]);
    await refused(`${host}/demo/plain:v1`, 250, /claims .*\/demo\/plain:v0/);
    putSignatures('demo/plain', [await gpg.sign(ed.fpr, simplePayload(digest, `${host}/demo/plain:v1`, { extra: 'member' }))]);
    await refused(`${host}/demo/plain:v1`, 250, /unknown field 'extra' in critical/);
    putSignatures('demo/plain', [await gpg.sign(ed.fpr, simplePayload(digest, `${host}/demo/plain:v1`).replace('atomic container signature', 'other signature'))]);
    await refused(`${host}/demo/plain:v1`, 250, /payload is malformed \(critical\.type/);
    putSignatures('demo/plain', [await gpg.sign(rsa.fpr, simplePayload(digest, `${host}/demo/plain:v1`), { digestAlgo: 'SHA1' })]);
    hostPolicy(signedBy(rsa.keyring));
    await refused(`${host}/demo/plain:v1`, 250, /does not verify.*(SHA1|sha1|hash)/i);
    // The same payload signed properly is accepted: the refusals above are about what they change.
    putSignatures('demo/plain', [await gpg.sign(ed.fpr, simplePayload(digest, `${host}/demo/plain:v1`))]);
    hostPolicy(signedBy(ed.keyring));
    await accepted(`${host}/demo/plain:v1`, ed.fpr);
    // Of several signatures, one good one suffices.
    putSignatures('demo/plain', [Buffer.from('junk'), await gpg.sign(ed.fpr, simplePayload(digest, `${host}/demo/plain:v1`))]);
    await accepted(`${host}/demo/plain:v1`, ed.fpr);
    fs.rmSync(sigDir('demo/plain'), { recursive: true });
  });

  test('signedBy refuses keys openpgp holds too weak or no longer valid: RSA 1024, an expired key', async () => {
    const payload = simplePayload(digest, `${host}/demo/plain:v1`);
    const weak = await gpg.key('ward rsa1024 <weak@example.test>', 'rsa1024');
    putSignatures('demo/plain', [await gpg.sign(weak.fpr, payload)]);
    hostPolicy(signedBy(weak.keyring));
    await refused(`${host}/demo/plain:v1`, 250, /GPG keyring .* is not readable|does not verify/);
    const old = await gpg.key('ward expired <old@example.test>', 'ed25519', { at: '20200101T000000', expires: '1d' });
    putSignatures('demo/plain', [await gpg.sign(old.fpr, payload, { at: '20200101T120000' })]);
    hostPolicy(signedBy(old.keyring));
    await refused(`${host}/demo/plain:v1`, 250, new RegExp(`key ${old.fpr}: the signature does not verify`));
    fs.rmSync(sigDir('demo/plain'), { recursive: true });
  });

  test('signedIdentity: matchRepoDigestOrExact (default), matchExact, matchRepository, exactReference, exactRepository', async () => {
    // demo/ed:v2 is the same manifest as demo/ed:v1, whose signature claims demo/ed:v1.
    const byDigest = `${host}/demo/ed@${digest}`;
    hostPolicy(signedBy(ed.keyring));
    await accepted(`${host}/demo/ed:v1`, ed.fpr);
    await accepted(byDigest, ed.fpr);
    await refused(`${host}/demo/ed:v2`, 250, new RegExp(`the signature claims ${host.replace(/\./g, '\\.')}/demo/ed:v1, not .*/demo/ed:v2 \\(matchRepoDigestOrExact\\)`));
    hostPolicy(signedBy(ed.keyring, { type: 'matchExact' }));
    await accepted(`${host}/demo/ed:v1`, ed.fpr);
    await refused(byDigest, 250, /\(matchExact\)/);
    await refused(`${host}/demo/ed:v2`, 250, /\(matchExact\)/);
    hostPolicy(signedBy(ed.keyring, { type: 'matchRepository' }));
    await accepted(`${host}/demo/ed:v2`, ed.fpr);
    await accepted(byDigest, ed.fpr);
    // A signature by the right key for another repository: identity mismatch in every mode.
    putSignatures('demo/plain', [fs.readFileSync(path.join(sigDir('demo/ed'), 'signature-1'))]);
    await refused(`${host}/demo/plain:v1`, 250, /claims .*\/demo\/ed:v1, not the repository .*\/demo\/plain \(matchRepository\)/);
    hostPolicy(signedBy(ed.keyring, { type: 'exactReference', dockerReference: `${host}/demo/ed:v1` }));
    await accepted(`${host}/demo/plain:v1`, ed.fpr);
    hostPolicy(signedBy(ed.keyring, { type: 'exactRepository', dockerRepository: `${host}/demo/other` }));
    await refused(`${host}/demo/plain:v1`, 250, /\(exactRepository\)/);
    fs.rmSync(sigDir('demo/plain'), { recursive: true });
  });

  test('sigstoreSigned accepts a cosign signature; the signer is the SHA-256 of the public key', async () => {
    hostPolicy({ type: 'sigstoreSigned', keyPath: cosignPub(cosign, 'cosign'), signedIdentity: { type: 'matchRepository' } });
    await accepted(`${host}/demo/cosign:v1`, cosign.fingerprint);
    assert.match(cosign.fingerprint, /^[0-9A-F]{64}$/);
    hostPolicy({ type: 'sigstoreSigned', keyData: Buffer.from(cosign.publicPem).toString('base64'), signedIdentity: { type: 'matchRepository' } });
    await accepted(`${host}/demo/cosign:v1`, cosign.fingerprint);
    // cosign's identity has no tag, so the default matchRepoDigestOrExact refuses a tag (as containers does).
    hostPolicy({ type: 'sigstoreSigned', keyPath: cosignPub(cosign, 'cosign') });
    await refused(`${host}/demo/cosign:v1`, 250, /claims .*\/demo\/cosign, not .*\/demo\/cosign:v1 \(matchRepoDigestOrExact\)/);
    await accepted(`${host}/demo/cosign@${digest}`, cosign.fingerprint);
  });

  test('sigstoreSigned refuses: no signature, wrong key, changed payload, another digest, identity, unknown critical field, attachments off', async () => {
    const repo = 'demo/cosign-bad';
    await push(layoutDir, 'v1', `${host}/${repo}:v1`);
    const ref = `${host}/${repo}:v1`;
    hostPolicy({ type: 'sigstoreSigned', keyPath: cosignPub(cosign, 'cosign'), signedIdentity: { type: 'matchRepository' } });
    await refused(ref, 250, /\(sigstoreSigned\): no cosign signature \(no tag sha256-[0-9a-f]{64}\.sig/);
    const good = cosignPayload(digest, `${host}/${repo}`);
    await pushCosignSignatures(host, repo, digest, [{ payload: good, signature: cosignSign(otherCosign, good) }]);
    await refused(ref, 250, new RegExp(`not made by the policy's key ${cosign.fingerprint}`));
    const changed = Buffer.from(good.toString().replace('demo/cosign-bad', 'demo/cosign-bax'));
    await pushCosignSignatures(host, repo, digest, [{ payload: changed, signature: cosignSign(cosign, good) }]);
    await refused(ref, 250, /not made by the policy's key/);
    const other = cosignPayload(otherDigest, `${host}/${repo}`);
    await pushCosignSignatures(host, repo, digest, [{ payload: other, signature: cosignSign(cosign, other) }]);
    await refused(ref, 250, new RegExp(`key ${cosign.fingerprint}: the signature is for ${otherDigest}`));
    const elsewhere = cosignPayload(digest, `${host}/demo/cosign`);
    await pushCosignSignatures(host, repo, digest, [{ payload: elsewhere, signature: cosignSign(cosign, elsewhere) }]);
    await refused(ref, 250, /claims .*\/demo\/cosign, not the repository .*\/demo\/cosign-bad \(matchRepository\)/);
    const critical = cosignPayload(digest, `${host}/${repo}`, { 'new-thing': 1 });
    await pushCosignSignatures(host, repo, digest, [{ payload: critical, signature: cosignSign(cosign, critical) }]);
    await refused(ref, 250, /unknown field 'new-thing' in critical/);
    await pushCosignSignatures(host, repo, digest, [{ payload: good, signature: 'bm90IGEgc2lnbmF0dXJl' }]);
    await refused(ref, 250, /not made by the policy's key/);
    await pushCosignSignatures(host, repo, digest, [{ payload: good, signature: cosignSign(cosign, good) }]);
    await accepted(ref, cosign.fingerprint);
    // Without use-sigstore-attachments, the attachments are not read (as containers).
    const yaml = path.join(env.localConfig, 'registries.d', 'test.yaml');
    const saved = fs.readFileSync(yaml);
    fs.writeFileSync(yaml, `docker:\n  ${host}:\n    lookaside: file://${lookaside}\n`);
    try {
      await refused(ref, 250, /use-sigstore-attachments/);
    } finally {
      fs.writeFileSync(yaml, saved);
    }
  });

  test('an http lookaside: signature-1, -2, ... until the first 404', async () => {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.url ?? '');
      const file = path.join(lookaside, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/sigs\//, ''));
      if (!file.startsWith(lookaside + '/') || !fs.existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      res.end(fs.readFileSync(file));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const yaml = path.join(env.localConfig, 'registries.d', 'http.yaml');
    try {
      fs.writeFileSync(yaml, `docker:\n  ${host}/demo/ed:\n    lookaside: http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}/sigs\n`);
      fs.chmodSync(yaml, 0o644);
      hostPolicy(signedBy(ed.keyring));
      await accepted(`${host}/demo/ed:v1`, ed.fpr);
      const at = `/sigs/demo/ed@${digest.replace(':', '=')}`;
      assert.deepEqual(seen, [`${at}/signature-1`, `${at}/signature-2`]);
    } finally {
      fs.rmSync(yaml, { force: true });
      await new Promise((r) => server.close(r));
    }
  });

  test('a registries.d file with an unknown key is refused naming it', async () => {
    hostPolicy(signedBy(ed.keyring));
    const bad = path.join(env.localConfig, 'registries.d', 'bad.yaml');
    fs.writeFileSync(bad, `docker:\n  example.com:\n    lookasid: file:///x\n`);
    fs.chmodSync(bad, 0o644);
    try {
      await refused(`${host}/demo/ed:v1`, 253, /registries\.d\/bad\.yaml: unknown field 'lookasid'/);
    } finally {
      fs.rmSync(bad);
    }
  });

  test('verified before any layer or the config is read: a refused image asks the registry for no blob', async () => {
    const proxy = await countingProxy(host);
    try {
      writePolicy({ default: [{ type: 'reject' }], transports: { docker: { [proxy.host]: [signedBy(ed.keyring)], [host]: [signedBy(ed.keyring)] } } });
      const yaml = path.join(env.localConfig, 'registries.d', 'proxy.yaml');
      fs.writeFileSync(yaml, `docker:\n  ${proxy.host}:\n    lookaside: file://${lookaside}\n`);
      fs.chmodSync(yaml, 0o644);
      // demo/ed's signature claims the registry's own name, not the proxy's: refused on identity.
      await refused(`${proxy.host}/demo/ed:v1`, 250, /claims/);
      assert.ok(proxy.paths.some((p) => p.includes('/manifests/v1')), proxy.paths.join('\n'));
      assert.deepEqual(proxy.paths.filter((p) => p.includes('/blobs/')), [], 'no config or layer blob requested');
      // The same image accepted through the proxy does read its blobs (the check above can fail).
      writePolicy({ default: [{ type: 'reject' }], transports: { docker: { [proxy.host]: [signedBy(ed.keyring, { type: 'exactReference', dockerReference: `${host}/demo/ed:v1` })] } } });
      const ok = await env.ward('b', ['--insecure-options=http', 'fetch', `docker://${proxy.host}/demo/ed:v1`]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.ok(proxy.paths.some((p) => p.includes('/blobs/')), proxy.paths.join('\n'));
      fs.rmSync(yaml);
    } finally {
      await proxy.stop();
    }
  });

  test('oci:, oci-archive: and docker-archive: carry no signatures: insecureAcceptAnything or a refusal, by path scope', async () => {
    writePolicy({ default: [{ type: 'reject' }], transports: { oci: { [layoutDir]: [{ type: 'insecureAcceptAnything' }] } } });
    const ok = await env.ward('a', ['fetch', `oci:${layoutDir}:v1`]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(await signerOf(ok.stdout.trim()), 'unverified');
    writePolicy({ default: [{ type: 'reject' }], transports: { oci: { [path.dirname(layoutDir)]: [signedBy(ed.keyring)] } } });
    const r = await env.ward('a', ['fetch', '--pull-policy=update', `oci:${layoutDir}:v1`]);
    assert.equal(r.code, 250, r.stderr);
    assert.match(r.stderr, /transports\.oci\[".*fixtures"\] requirement 1 \(signedBy\): the oci transport carries no signatures/);
  });
});
