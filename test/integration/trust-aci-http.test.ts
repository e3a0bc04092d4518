// Signed ACIs over https: the key found through ac-discovery-pubkeys and trusted by `ward trust`,
// the image found through ac-discovery with its signature at the template's "aci.asc", and an
// ACI without a signature refused before it is downloaded. The server is the test's own, on
// 127.0.0.2:443 (discovery speaks https on the default port; .2 keeps clear of other tests' .1).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxAci } from '../lib/aci-builder';
import { TestEnv } from '../lib/env';
import { Gpg, type GpgKey } from '../lib/gpg';
import { makeCert } from '../lib/registry';

const HOST = '127.0.0.2';

describe('signed ACIs over https, keys through ac-discovery-pubkeys', () => {
  const env = new TestEnv('trust-aci-http');
  const gpg = new Gpg(path.join(env.dir, 'gnupg'));
  let server: https.Server;
  let key: GpgKey;
  let ca = '';
  let aci: Buffer;
  let sig: Buffer;
  const seen: string[] = [];

  before(async () => {
    await env.start();
    key = gpg.makeKey('ed25519');
    const file = env.fixture('app.aci');
    await buildBusyboxAci(file, { name: `${HOST}/app` });
    gpg.sign(file, key, { armor: true });
    aci = fs.readFileSync(file);
    sig = fs.readFileSync(`${file}.asc`);
    const pub = gpg.exportPublic(key);
    const cert = await makeCert(env.fixture('tls'), 'server', HOST, `IP:${HOST}`);
    ca = cert.cert;
    fs.chmodSync(path.dirname(ca), 0o755);
    fs.chmodSync(ca, 0o644);
    server = https.createServer({ cert: fs.readFileSync(cert.cert), key: fs.readFileSync(cert.key) }, (req, res) => {
      const url = new URL(req.url ?? '/', `https://${HOST}`);
      seen.push(url.pathname);
      if (url.pathname === '/app' && url.searchParams.get('ac-discovery') === '1') {
        res.end(`<html><head>
<meta name="ac-discovery" content="${HOST}/app https://${HOST}/images/{name}-{version}.{ext}">
<meta name="ac-discovery-pubkeys" content="${HOST}/app https://${HOST}/pubkeys.gpg">
<meta name="ac-discovery-pubkeys" content="${HOST}/ap https://${HOST}/not-for-app.gpg">
</head></html>`);
        return;
      }
      const body: Record<string, Buffer | string> = {
        '/pubkeys.gpg': pub,
        [`/images/${HOST}/app-1.0.aci`]: aci,
        [`/images/${HOST}/app-1.0.aci.asc`]: sig,
        '/nosig.aci': aci,
      };
      const b = body[url.pathname];
      if (b === undefined) {
        res.writeHead(404);
        res.end();
        return;
      }
      res.end(b);
    });
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(443, HOST, res);
    });
  });
  after(async () => {
    server?.close();
    gpg.close();
    await env.stop();
  });

  const tls = () => ({ env: { NODE_EXTRA_CA_CERTS: ca } });

  test('ward trust --prefix without a key trusts the key its ac-discovery-pubkeys names (only for that prefix)', async () => {
    const r = await env.ward('a', ['trust', `--prefix=${HOST}/app`, '--skip-fingerprint-review'], tls());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^trusted ${key.fingerprint} for images named ${HOST}/app or ${HOST}/app/\\.\\.\\.: `));
    assert.ok(seen.includes('/pubkeys.gpg'));
    assert.ok(!seen.includes('/not-for-app.gpg'), 'a tag for the string prefix 127.0.0.2/ap is not one for 127.0.0.2/app');
    const list = JSON.parse((await env.ward('a', ['trust', 'list', '--format=json'])).stdout) as { fingerprint: string; prefix: string }[];
    assert.deepEqual(list.map((k) => [k.fingerprint, k.prefix]), [[key.fingerprint, `${HOST}/app`]]);
    const plain = await env.ward('a', ['trust', `--prefix=${HOST}/app`, '--skip-fingerprint-review', `http://${HOST}/pubkeys.gpg`]);
    assert.equal(plain.code, 253);
    assert.match(plain.stderr, /plain http.*--insecure-options=http/);
  });

  test('ward fetch NAME: found by discovery, verified against the template\'s aci.asc', async () => {
    const r = await env.ward('a', ['fetch', `${HOST}/app:1.0`], tls());
    assert.equal(r.code, 0, r.stderr);
    assert.ok(seen.includes(`/images/${HOST}/app-1.0.aci.asc`));
    const list = JSON.parse((await env.ward('a', ['image', 'list', '--format=json'])).stdout) as { id: string; signer: string }[];
    assert.equal(list.find((i) => i.id === r.stdout.trim())?.signer, key.fingerprint);
  });

  test('an ACI URL without a signature is refused before a byte of it is downloaded', async () => {
    seen.length = 0;
    const r = await env.ward('b', ['fetch', `https://${HOST}/nosig.aci`], tls());
    assert.equal(r.code, 250, r.stderr);
    assert.match(r.stderr, new RegExp(`^ward: image https://${HOST.replace(/\./g, '\\.')}/nosig\\.aci cannot be verified: no signature at https://\\S+/nosig\\.aci\\.asc; .*--insecure-options=image\\n$`));
    assert.deepEqual(seen, ['/nosig.aci.asc']);
    // User b trusts no key: the signed image is refused for b, by the signer's fingerprint.
    const b = await env.ward('b', ['fetch', `${HOST}/app:1.0`], tls());
    assert.equal(b.code, 250, b.stderr);
    assert.match(b.stderr, new RegExp(`signed by key ${key.fingerprint}, which is not trusted for ${HOST}/app`));
  });
});
