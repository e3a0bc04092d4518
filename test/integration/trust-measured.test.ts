// What a pod's measurement says about trust: the signer the frontend accepted and the digest of
// the trust configuration it was accepted under (the effective keystore for an ACI, the
// policy.json bytes for an OCI image), in the pod-start event a swtpm-backed helper logs.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { splitJsonSeq, type LogRecord } from '../../src/schema/tpm-log';
import { buildBusyboxAci } from '../lib/aci-builder';
import { REPO, TestEnv } from '../lib/env';
import { Gpg } from '../lib/gpg';
import { handLayout } from '../lib/oci-fixtures';
import { Swtpm } from '../lib/swtpm';

const UUID_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
const sha256 = (b: Buffer | string) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

describe('the trust verdict in the measured launch', () => {
  const env = new TestEnv('trust-measured');
  const gpg = new Gpg(path.join(env.dir, 'gnupg'));
  let sw: Swtpm;

  function podStart(uuid: string): Extract<LogRecord['content'], { event_type: 'pod-start' }> {
    const recs = splitJsonSeq(fs.readFileSync(path.join(env.state, 'tpm', 'events.log'), 'utf8')).records.map((r) => JSON.parse(r) as LogRecord);
    const c = recs.map((r) => r.content).find((x) => x.event_type === 'pod-start' && x.pod === uuid);
    assert.ok(c && c.event_type === 'pod-start', `a pod-start event for ${uuid}`);
    return c;
  }

  async function runUuid(args: string[]): Promise<string> {
    const r = await env.ward('a', ['run', ...args, '--', '-c', 'hostname']);
    assert.equal(r.code, 0, r.stderr);
    return UUID_RE.exec(r.stdout)![0];
  }

  before(async () => {
    sw = await Swtpm.start();
    const base = JSON.parse(fs.readFileSync(path.join(REPO, 'policies', 'helper.json'), 'utf8')) as object;
    const policy = path.join(env.dir, 'helper-tpm.json');
    fs.writeFileSync(policy, JSON.stringify({ ...base, tpm: { require: true, auditInterval: 0 } }), { mode: 0o600 });
    await env.start(['--tpm-tcti', sw.tcti, '--policy', policy]);
  });
  after(async () => {
    await env.stop();
    await sw.stop();
    gpg.close();
  });

  test('a verified ACI: the signer and the digest of the keystore that trusted it; an unverified one: neither', async () => {
    const key = gpg.makeKey('ed25519');
    const other = gpg.makeKey('ed25519');
    for (const [scope, k] of [['example.com/app', key], ['example.com/unrelated', other]] as const) {
      const dir = path.join(env.localConfig, 'trustedkeys', 'prefix.d', ...scope.split('/'));
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
      for (let d = dir; d !== env.localConfig; d = path.dirname(d)) fs.chmodSync(d, 0o755);
      fs.writeFileSync(path.join(dir, k.fingerprint.toLowerCase()), gpg.exportPublic(k), { mode: 0o644 });
    }
    const aci = env.fixture('app.aci');
    await buildBusyboxAci(aci, { name: 'example.com/app' });
    gpg.sign(aci, key, {});
    const c = podStart(await runUuid([aci]));
    assert.equal(c.signer, key.fingerprint);
    // The effective keystore: every trusted key's scope and fingerprint, sorted, in ward-keystore-v1.
    const lines = [`example.com/app\0${key.fingerprint}\n`, `example.com/unrelated\0${other.fingerprint}\n`].sort().join('');
    assert.equal(c.trustPolicy, sha256(`ward-keystore-v1\n${lines}`));

    const plain = env.fixture('plain.aci');
    await buildBusyboxAci(plain, { name: 'example.com/plain' });
    const u = podStart(await runUuid(['--insecure-options=image', plain]));
    assert.equal(u.signer, 'unverified');
    assert.equal(u.trustPolicy, null, 'nothing was verified, so no trust configuration applied');
  });

  test('an OCI image accepted by policy.json: the digest of the policy file it was accepted under', async () => {
    const layout = env.fixture('layout');
    fs.mkdirSync(layout, { mode: 0o755 });
    await handLayout(layout);
    for (const f of fs.readdirSync(layout, { recursive: true }) as string[]) fs.chmodSync(path.join(layout, f), fs.statSync(path.join(layout, f)).isDirectory() ? 0o755 : 0o644);
    const policy = `${JSON.stringify({ default: [{ type: 'reject' }], transports: { oci: { '': [{ type: 'insecureAcceptAnything' }] } } })}\n`;
    fs.writeFileSync(path.join(env.localConfig, 'policy.json'), policy, { mode: 0o644 });
    const f = await env.ward('a', ['fetch', `oci:${layout}:latest`]);
    assert.equal(f.code, 0, f.stderr);
    // Accepted without a signature: it still runs only with --insecure-options=image.
    const refused = await env.ward('a', ['run', `oci:${layout}:latest`]);
    assert.equal(refused.code, 250, refused.stderr);
    const c = podStart(await runUuid(['--insecure-options=image', `oci:${layout}:latest`]));
    assert.equal(c.signer, 'unverified');
    assert.equal(c.trustPolicy, sha256(policy));
  });
});
