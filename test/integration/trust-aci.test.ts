// ACI signatures end to end: keys made and ACIs signed by real GnuPG, trusted in the env's own
// system and local config dirs (as an administrator would) or by `ward trust` in the user's, and
// `ward fetch` / `ward run` as the unprivileged test users against a real helper.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxAci } from '../lib/aci-builder';
import { TestEnv, REPO, USERS, type TestUser } from '../lib/env';
import { Gpg, type GpgKey } from '../lib/gpg';

const DAY = 86400;

describe('ACI signatures and the keystore', () => {
  const env = new TestEnv('trust-aci');
  const gpg = new Gpg(path.join(env.dir, 'gnupg'));
  const now = Math.floor(Date.now() / 1000);
  let base = '';
  let foobar = '';
  let plain = '';
  const keys: Record<string, GpgKey> = {};
  let n = 0;

  /** Puts key into a config dir's keystore, as an administrator would (no checks: ward's are tested). */
  function place(configDir: string, scope: string, key: GpgKey): void {
    const dir = scope === 'root' ? path.join(configDir, 'trustedkeys', 'root.d') : path.join(configDir, 'trustedkeys', 'prefix.d', ...scope.split('/'));
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    for (let d = dir; d !== configDir; d = path.dirname(d)) fs.chmodSync(d, 0o755);
    fs.writeFileSync(path.join(dir, key.fingerprint.toLowerCase()), gpg.exportPublic(key), { mode: 0o644 });
  }

  /** A world-readable copy of an ACI under a fresh name (its signature goes beside it as NAME.asc). */
  function copy(from = base): string {
    const file = env.fixture(`case-${++n}.aci`);
    fs.copyFileSync(from, file);
    fs.chmodSync(file, 0o644);
    return file;
  }

  function signed(key: GpgKey, opts: Parameters<Gpg['sign']>[2] = {}, from = base): string {
    const file = copy(from);
    gpg.sign(file, key, opts);
    return file;
  }

  const fetch = (user: TestUser, file: string, extra: string[] = []) => env.ward(user, ['fetch', ...extra, file]);

  function storeIsEmpty(user: TestUser): void {
    const store = env.storeDir(user);
    const images = fs.existsSync(path.join(store, 'images')) ? fs.readdirSync(path.join(store, 'images')) : [];
    const blobs = fs.existsSync(path.join(store, 'blobs', 'sha512')) ? fs.readdirSync(path.join(store, 'blobs', 'sha512')) : [];
    const trees = fs.existsSync(path.join(store, 'trees')) ? fs.readdirSync(path.join(store, 'trees')) : [];
    assert.deepEqual({ images, blobs, trees }, { images: [], blobs: [], trees: [] }, 'a refused image leaves nothing in the store');
  }

  /** Refused as user b (whose store never holds an accepted image): 250, one line, nothing kept. */
  async function refused(file: string, why: RegExp): Promise<void> {
    const r = await fetch('b', file);
    assert.equal(r.code, 250, r.stderr);
    assert.match(r.stderr, /^ward: image \S+ cannot be verified: /);
    assert.match(r.stderr, why);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    storeIsEmpty('b');
  }

  async function signerOf(user: TestUser, id: string): Promise<string> {
    const list = JSON.parse((await env.ward(user, ['image', 'list', '--format=json'])).stdout) as { id: string; signer: string }[];
    return list.find((i) => i.id === id)?.signer ?? '(missing)';
  }

  before(async () => {
    await env.start();
    base = env.fixture('app.aci');
    await buildBusyboxAci(base, { name: 'example.com/foo/app' });
    foobar = env.fixture('foobar.aci');
    await buildBusyboxAci(foobar, { name: 'example.com/foobar' });
    plain = env.fixture('plain.aci');
    await buildBusyboxAci(plain, { name: 'example.com/plain' });
    keys.ed = gpg.makeKey('ed25519');
    keys.rsa = gpg.makeKey('rsa4096');
    keys.sub = gpg.makeKey('ed25519', { signingSubkey: 'ed25519' });
    keys.wrong = gpg.makeKey('ed25519');
    keys.other = gpg.makeKey('ed25519');
    keys.expired = gpg.makeKey('ed25519', { at: now - 30 * DAY, expire: '1d' });
    keys.revoked = gpg.makeKey('ed25519');
    keys.old = gpg.makeKey('ed25519', { at: now - 30 * DAY });
    keys.small = gpg.makeKey('rsa1024');
    keys.sys = gpg.makeKey('ed25519');
    place(env.localConfig, 'example.com/foo', keys.ed);
    place(env.localConfig, 'example.com/foo', keys.rsa);
    place(env.localConfig, 'root', keys.sub);
    place(env.localConfig, 'example.com/bar', keys.other);
    place(env.localConfig, 'example.com/foo', keys.expired);
    place(env.localConfig, 'example.com/foo', keys.old);
    place(env.localConfig, 'example.com/foo', keys.small);
    place(env.systemConfig, 'root', keys.sys);
  });
  after(async () => {
    gpg.close();
    await env.stop();
  });

  test('accepted: ed25519 armored and binary, rsa4096, a signing subkey in root.d, a system key', async () => {
    const cases: [string, GpgKey, Parameters<Gpg['sign']>[2]][] = [
      ['ed25519 armored', keys.ed!, { armor: true }],
      ['ed25519 binary', keys.ed!, {}],
      ['rsa4096', keys.rsa!, { armor: true }],
      ['signing subkey', keys.sub!, {}],
      ['system key', keys.sys!, { armor: true }],
    ];
    for (const [what, key, opts] of cases) {
      const r = await fetch('a', signed(key, opts));
      assert.equal(r.code, 0, `${what}: ${r.stderr}`);
      // The verdict is the primary key's fingerprint, also for a signing subkey.
      assert.equal(await signerOf('a', r.stdout.trim()), key.fingerprint, what);
    }
  });

  test('refused: no signature, wrong key, another prefix, the prefix-substring trick', async () => {
    await refused(copy(), /no signature at \S+\.asc.*--insecure-options=image/);
    await refused(signed(keys.wrong!), new RegExp(`signed by key ${keys.wrong!.fingerprint}, which is not trusted`));
    await refused(signed(keys.other!), new RegExp(`named example.com/foo/app but signed by key ${keys.other!.fingerprint}, which is trusted only for example.com/bar`));
    // A key for example.com/foo does not cover example.com/foobar (rkt's string prefix did).
    await refused(signed(keys.ed!, {}, foobar), new RegExp(`named example.com/foobar but signed by key ${keys.ed!.fingerprint}, which is trusted only for example.com/foo;`));
  });

  test('refused: expired key, revoked key, expired signature, SHA-1, RSA under 2048 bits', async () => {
    await refused(signed(keys.expired!, { at: now - 30 * DAY + 3600 }), new RegExp(`key ${keys.expired!.fingerprint}: the key expired on`));
    const revokedAci = signed(keys.revoked!);
    gpg.revoke(keys.revoked!);
    place(env.localConfig, 'example.com/foo', keys.revoked!);
    await refused(revokedAci, new RegExp(`key ${keys.revoked!.fingerprint}: the key is revoked`));
    await refused(signed(keys.old!, { at: now - 20 * DAY, expire: '1d' }), /its signature expired/);
    await refused(signed(keys.ed!, { digest: 'SHA1' }), /signed with the weak digest SHA-1/);
    await refused(signed(keys.small!), new RegExp(`key ${keys.small!.fingerprint}: its RSA key has 1024 bits, fewer than 2048`));
  });

  test('refused: one byte changed, a signature of another image, a changed manifest, malformed armor', async () => {
    const changed = signed(keys.ed!);
    const bytes = fs.readFileSync(changed);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    fs.writeFileSync(changed, bytes);
    await refused(changed, /the signature does not match its content/);
    const other = copy(foobar);
    fs.copyFileSync(`${signed(keys.ed!)}.asc`, `${other}.asc`);
    fs.chmodSync(`${other}.asc`, 0o644);
    await refused(other, /the signature does not match its content/);
    // The same image with one thing changed in its manifest, under the original's signature.
    const edited = env.fixture('edited.aci');
    await buildBusyboxAci(edited, { name: 'example.com/foo/app', exec: ['/bin/sh', '-c', 'echo edited'] });
    const editedCopy = copy(edited);
    fs.copyFileSync(`${signed(keys.ed!)}.asc`, `${editedCopy}.asc`);
    fs.chmodSync(`${editedCopy}.asc`, 0o644);
    await refused(editedCopy, /the signature does not match its content/);
    const huge = copy();
    fs.writeFileSync(`${huge}.asc`, Buffer.alloc(3 << 20, 0x41), { mode: 0o644 });
    await refused(huge, /its signature is \d+ bytes/);
    const fifo = copy();
    assert.equal(spawnSync('mkfifo', ['-m', '0644', `${fifo}.asc`]).status, 0);
    await refused(fifo, /no signature at \S+\.asc/);
    const junk = copy();
    fs.writeFileSync(`${junk}.asc`, '-----BEGIN PGP SIGNATURE-----\n\nnot base64 at all !!\n-----END PGP SIGNATURE-----\n', { mode: 0o644 });
    await refused(junk, /its signature is malformed/);
  });

  test('a system key masked by an empty file in the local dir is no longer trusted', async () => {
    const file = signed(keys.sys!);
    const ok = await fetch('a', file, ['--pull-policy=update']);
    assert.equal(ok.code, 0, ok.stderr);
    const mask = path.join(env.localConfig, 'trustedkeys', 'root.d', keys.sys!.fingerprint.toLowerCase());
    fs.writeFileSync(mask, '', { mode: 0o644 });
    try {
      await refused(signed(keys.sys!), new RegExp(`signed by key ${keys.sys!.fingerprint}, which is not trusted`));
      const list = JSON.parse((await env.ward('a', ['trust', 'list', '--format=json'])).stdout) as { fingerprint: string }[];
      assert.ok(!list.some((k) => k.fingerprint === keys.sys!.fingerprint), 'trust list does not show a masked key');
      // The image fetched while the key was trusted fails ward image verify now.
      const v = await env.ward('a', ['image', 'verify']);
      assert.equal(v.code, 250, v.stdout + v.stderr);
      assert.match(v.stdout, new RegExp(`CHANGED .* example.com/foo/app: signature: .*signed by key ${keys.sys!.fingerprint}, which is not trusted`));
    } finally {
      fs.rmSync(mask);
    }
    const v = await env.ward('a', ['image', 'verify']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

  test('a verified ACI runs without --insecure-options; its signer is in the audit record', async () => {
    const file = signed(keys.ed!, { armor: true });
    const r = await env.ward('a', ['run', file, '--', '-c', 'echo verified']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'verified\n');
    const audit = fs.readFileSync(path.join(env.state, 'audit.log'), 'utf8');
    assert.match(audit, new RegExp(`"result":"started [0-9a-f-]+ tree [^"]* signer ${keys.ed!.fingerprint} selinux `));
  });

  test('an unverified ACI runs only with --insecure-options=image; policy can forbid it for one user', async () => {
    // Other bytes than the signed image's: a verdict belongs to the bytes it was reached for.
    const file = copy(plain);
    const without = await env.ward('a', ['run', file, '--', '-c', 'true']);
    assert.equal(without.code, 250, without.stderr);
    assert.match(without.stderr, /no signature.*--insecure-options=image/);
    const insecure = await env.ward('a', ['run', '--insecure-options=image', file, '--', '-c', 'echo unverified']);
    assert.equal(insecure.code, 0, insecure.stderr);
    assert.equal(insecure.stdout, 'unverified\n');
    assert.match(fs.readFileSync(path.join(env.state, 'audit.log'), 'utf8'), /"result":"started [0-9a-f-]+ tree [^"]* signer unverified selinux /);
    // Stored unverified, it still needs the flag to run.
    const stored = await env.ward('a', ['run', 'example.com/plain', '--', '-c', 'true']);
    assert.equal(stored.code, 250, stored.stderr);
    assert.match(stored.stderr, /^ward: image example.com\/plain is not verified .*--insecure-options=image\n$/);

    // The helper's policy: user a may not run unverified images, although group ward may.
    const policy = JSON.parse(fs.readFileSync(path.join(REPO, 'policies', 'helper.json'), 'utf8')) as Record<string, unknown>;
    policy.users = { 'ward-test-a': { allowUnverified: false } };
    const policyFile = path.join(env.dir, 'helper-users.json');
    fs.writeFileSync(policyFile, JSON.stringify(policy));
    await env.stopHelper();
    await env.start(['--policy', policyFile]);
    const forbidden = await env.ward('a', ['run', '--insecure-options=image', copy(plain), '--', '-c', 'true']);
    assert.equal(forbidden.code, 252, forbidden.stderr);
    assert.match(forbidden.stderr, /helper policy does not allow you to run unverified images/);
    const other = await env.ward('b', ['run', '--insecure-options=image', copy(plain), '--', '-c', 'echo b may']);
    assert.equal(other.code, 0, other.stderr);
    assert.equal(other.stdout, 'b may\n');
    const verified = await env.ward('a', ['run', signed(keys.ed!), '--', '-c', 'echo still runs']);
    assert.equal(verified.code, 0, verified.stderr);
    assert.equal(verified.stdout, 'still runs\n');
  });

  test('ward trust: add to the user dir, list, rm; no terminal means no review; bad keys are refused', async () => {
    const keyFile = env.fixture('wrong.pub');
    fs.writeFileSync(keyFile, gpg.exportPublic(keys.wrong!), { mode: 0o644 });
    const noTty = await env.ward('a', ['trust', '--prefix=example.com/baz', keyFile]);
    assert.equal(noTty.code, 253);
    assert.match(noTty.stderr, /^ward: ward trust: no terminal to review the key fingerprint on; .*--skip-fingerprint-review\n$/);
    const both = await env.ward('a', ['trust', '--root', '--prefix=example.com/baz', '--skip-fingerprint-review', keyFile]);
    assert.equal(both.code, 253);

    const add = await env.ward('a', ['trust', '--prefix=example.com/baz', '--skip-fingerprint-review', keyFile]);
    assert.equal(add.code, 0, add.stderr);
    const stored = path.join(env.userConfig('a'), 'trustedkeys', 'prefix.d', 'example.com', 'baz', keys.wrong!.fingerprint.toLowerCase());
    assert.ok(fs.existsSync(stored), add.stdout);
    const list = JSON.parse((await env.ward('a', ['trust', 'list', '--format=json'])).stdout) as { fingerprint: string; prefix: string; layer: string; userIds: string[] }[];
    const mine = list.find((k) => k.fingerprint === keys.wrong!.fingerprint);
    assert.deepEqual(mine && { prefix: mine.prefix, layer: mine.layer, uid: mine.userIds[0] }, { prefix: 'example.com/baz', layer: 'user', uid: keys.wrong!.uid });
    assert.ok(list.some((k) => k.fingerprint === keys.ed!.fingerprint && k.layer === 'local' && k.prefix === 'example.com/foo'));
    // User a's key is a's alone.
    const bList = JSON.parse((await env.ward('b', ['trust', 'list', '--format=json'])).stdout) as { fingerprint: string }[];
    assert.ok(!bList.some((k) => k.fingerprint === keys.wrong!.fingerprint));

    const rm = await env.ward('a', ['trust', 'rm', keys.wrong!.fingerprint]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.ok(!fs.existsSync(stored));
    const again = await env.ward('a', ['trust', 'rm', keys.wrong!.fingerprint]);
    assert.equal(again.code, 253);
    assert.match(again.stderr, /no trusted key has fingerprint/);

    const expiredFile = env.fixture('expired.pub');
    fs.writeFileSync(expiredFile, gpg.exportPublic(keys.expired!), { mode: 0o644 });
    const expired = await env.ward('a', ['trust', '--root', '--skip-fingerprint-review', expiredFile]);
    assert.equal(expired.code, 250);
    assert.match(expired.stderr, /cannot sign images: the key expired/);
    const secret = env.fixture('secret.key');
    fs.writeFileSync(secret, gpg.run(['--armor', '--export-secret-keys', keys.wrong!.fingerprint]), { mode: 0o644 });
    const sec = await env.ward('a', ['trust', '--root', '--skip-fingerprint-review', secret]);
    assert.equal(sec.code, 250);
    assert.match(sec.stderr, /is a secret key/);
  });

  test('on a terminal, ward trust shows the fingerprint and user id and trusts only after "yes"', async () => {
    const keyFile = env.fixture('tty.pub');
    fs.writeFileSync(keyFile, gpg.exportPublic(keys.other!), { mode: 0o644 });
    const home = path.join(env.dir, 'users', USERS.a);
    // script(1) gives ward a pseudo-terminal, as a person's shell would; the answer is typed into it.
    const cmd = ['node', path.join(REPO, 'bin', 'ward'), '--system-config', env.systemConfig, '--local-config', env.localConfig, 'trust', '--prefix=example.com/tty', keyFile].map((a) => JSON.stringify(a)).join(' ');
    const answer = (text: string) =>
      new Promise<{ out: string; code: number | null }>((resolve) => {
        const child = spawn('setpriv', ['--reuid', USERS.a, '--regid', USERS.a, '--init-groups', '--', 'script', '-qec', cmd, '/dev/null'], { env: { PATH: process.env.PATH, HOME: home, TERM: 'dumb' } });
        let out = '';
        child.stdout!.on('data', (c: Buffer) => {
          out += c.toString();
          if (out.includes('(yes/no)') && !child.stdin!.writableEnded) child.stdin!.end(`${text}\n`);
        });
        child.on('close', (code) => resolve({ out, code }));
      });
    const stored = path.join(env.userConfig('a'), 'trustedkeys', 'prefix.d', 'example.com', 'tty', keys.other!.fingerprint.toLowerCase());
    const no = await answer('no');
    assert.equal(no.code, 253, no.out);
    assert.ok(no.out.includes(`fingerprint ${keys.other!.fingerprint}`), no.out);
    assert.ok(no.out.includes(`user id     ${keys.other!.uid}`), no.out);
    assert.match(no.out, /Trust this key to sign images named example.com\/tty or example.com\/tty\/\.\.\.\? \(yes\/no\)/);
    assert.match(no.out, /not trusted: the review was declined/);
    assert.ok(!fs.existsSync(stored));
    const yes = await answer('yes');
    assert.equal(yes.code, 0, yes.out);
    assert.ok(fs.existsSync(stored), yes.out);
  });

  test('ward trust run by root writes to the local dir, which every user\'s verification reads', async () => {
    const key = gpg.makeKey('ed25519');
    const keyFile = env.fixture('admin.pub');
    fs.writeFileSync(keyFile, gpg.exportPublic(key), { mode: 0o644 });
    const userDir = path.join(env.dir, 'root-user-config');
    const r = spawnSync(process.execPath, [path.join(REPO, 'bin', 'ward'), '--system-config', env.systemConfig, '--local-config', env.localConfig, '--user-config', userDir, 'trust', '--prefix=example.com/admin', '--skip-fingerprint-review', keyFile], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const stored = path.join(env.localConfig, 'trustedkeys', 'prefix.d', 'example.com', 'admin', key.fingerprint.toLowerCase());
    assert.ok(fs.existsSync(stored), r.stdout);
    assert.ok(!fs.existsSync(userDir));
    const list = JSON.parse((await env.ward('b', ['trust', 'list', '--format=json'])).stdout) as { fingerprint: string; layer: string }[];
    assert.ok(list.some((k) => k.fingerprint === key.fingerprint && k.layer === 'local'));
  });
});
