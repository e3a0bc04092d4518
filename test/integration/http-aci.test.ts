// ACIs over https, as a user fetches them: TLS verified (or refused), ETag revalidation,
// resuming an interrupted download, appc meta discovery, the signature fetched beside the image,
// plain http refused unless asked for. The server is the test's own, on 127.0.0.1.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxAci } from '../lib/aci-builder';
import { TestEnv } from '../lib/env';
import { makeCert } from '../lib/registry';

describe('ACIs over https and appc discovery', () => {
  const env = new TestEnv('http-aci');
  let server: https.Server;
  let port = 0;
  let aci: Buffer;
  let ca = '';
  const etag = '"v1"';
  const seen: { url: string; headers: Record<string, string | string[] | undefined> }[] = [];
  let cutNext = false;

  before(async () => {
    await env.start();
    const file = env.fixture('app.aci');
    await buildBusyboxAci(file, { name: 'localhost/app' });
    aci = fs.readFileSync(file);
    const cert = await makeCert(env.fixture('tls'), 'server', 'localhost', 'DNS:localhost,IP:127.0.0.1');
    ca = cert.cert;
    fs.chmodSync(path.dirname(ca), 0o755);
    fs.chmodSync(ca, 0o644);
    server = https.createServer({ cert: fs.readFileSync(cert.cert), key: fs.readFileSync(cert.key) }, (req, res) => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      const url = new URL(req.url ?? '/', 'https://localhost');
      if (url.pathname === '/app' && url.searchParams.get('ac-discovery') === '1') {
        res.end(`<html><head>\n<meta name="ac-discovery" content="localhost/app https://localhost:${port}/images/{name}-{version}-{os}-{arch}.{ext}">\n<meta name="ac-discovery-pubkeys" content="localhost/app https://localhost:${port}/pubkeys.gpg">\n</head></html>`);
        return;
      }
      if (url.pathname === '/images/localhost/app-1.0-linux-amd64.aci' || url.pathname === '/app.aci') {
        if (req.headers['if-none-match'] === etag) {
          res.writeHead(304, { ETag: etag });
          res.end();
          return;
        }
        const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
        if (range && req.headers['if-range'] === etag) {
          const from = Number(range[1]);
          res.writeHead(206, { ETag: etag, 'Content-Range': `bytes ${from}-${aci.length - 1}/${aci.length}`, 'Content-Length': aci.length - from });
          res.end(aci.subarray(from));
          return;
        }
        res.writeHead(200, { ETag: etag, 'Cache-Control': 'max-age=0', 'Content-Length': aci.length });
        if (cutNext) {
          cutNext = false;
          res.write(aci.subarray(0, 300_000), () => res.socket?.destroy());
          return;
        }
        res.end(aci);
        return;
      }
      if (url.pathname.endsWith('.aci.asc')) {
        res.end('-----BEGIN PGP SIGNATURE-----\n(not checked by this test)\n-----END PGP SIGNATURE-----\n');
        return;
      }
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    server?.close();
    await env.stop();
  });

  const url = () => `https://localhost:${port}/app.aci`;
  const trusted = () => ({ env: { NODE_EXTRA_CA_CERTS: ca } });

  test('an untrusted certificate is refused; trusted, or with --insecure-options=tls, it is fetched', async () => {
    const refused = await env.ward('a', ['fetch', '--insecure-options=image', url()]);
    assert.equal(refused.code, 254);
    assert.match(refused.stderr, /not trusted.*--insecure-options=tls/);
    const ok = await env.ward('a', ['fetch', '--insecure-options=image', url()], trusted());
    assert.equal(ok.code, 0, ok.stderr);
    const id = `sha512-${crypto.createHash('sha512').update(aci).digest('hex')}`;
    assert.equal(ok.stdout.trim(), id);
    const rec = JSON.parse(fs.readFileSync(path.join(env.storeDir('a'), 'images', `${id}.json`), 'utf8')) as { signature?: string; remote?: { etag?: string } };
    assert.match(rec.signature ?? '', /^sha256:/, 'the signature is kept beside the image');
    assert.equal(rec.remote?.etag, etag);
    assert.equal((await env.ward('a', ['image', 'rm', id])).code, 0);
    const insecure = await env.ward('a', ['--insecure-options=tls,image', 'fetch', url()]);
    assert.equal(insecure.stdout.trim(), id, insecure.stderr);
  });

  test('--pull-policy=update revalidates with If-None-Match and keeps the image on 304', async () => {
    seen.length = 0;
    const r = await env.ward('a', ['fetch', '--insecure-options=image', '--pull-policy=update', url()], trusted());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(seen.filter((s) => s.url === '/app.aci' && s.headers['if-none-match'] === etag).length, 1);
  });

  test('an interrupted download resumes with Range and If-Range', async () => {
    const store = env.storeDir('a');
    const list = JSON.parse((await env.ward('a', ['image', 'list', '--format=json'])).stdout) as { id: string }[];
    for (const { id } of list) await env.ward('a', ['image', 'rm', id]);
    cutNext = true;
    const cut = await env.ward('a', ['fetch', '--insecure-options=image', url()], trusted());
    assert.notEqual(cut.code, 0);
    assert.ok(fs.readdirSync(path.join(store, 'tmp')).some((n) => n.startsWith('partial-key-')), 'the partial download is kept');
    seen.length = 0;
    const again = await env.ward('a', ['fetch', '--insecure-options=image', url()], trusted());
    assert.equal(again.code, 0, again.stderr);
    assert.ok(seen.some((s) => s.headers.range === 'bytes=300000-' && s.headers['if-range'] === etag), 'resumed from the partial download');
    assert.equal(again.stdout.trim(), `sha512-${crypto.createHash('sha512').update(aci).digest('hex')}`);
    assert.equal((await env.ward('a', ['image', 'verify'])).code, 0);
  });

  test('appc discovery finds the ACI from its name and label-filled template', async () => {
    // Discovery speaks https on the default port; the test server is elsewhere, so the page is
    // served by a second listener on 127.0.0.1:443 for the duration of this test.
    const front = https.createServer({ cert: fs.readFileSync(path.join(env.fixture('tls'), 'server.crt')), key: fs.readFileSync(path.join(env.fixture('tls'), 'server.key')) }, (req, res) => {
      const proxied = https.request({ host: '127.0.0.1', port, path: req.url, method: 'GET', headers: req.headers, rejectUnauthorized: false }, (p) => {
        res.writeHead(p.statusCode ?? 502, p.headers);
        p.pipe(res);
      });
      proxied.end();
    });
    await new Promise<void>((res, rej) => {
      front.once('error', rej);
      front.listen(443, '127.0.0.1', res);
    });
    try {
      const r = await env.ward('a', ['fetch', '--insecure-options=image', 'localhost/app:1.0'], trusted());
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), `sha512-${crypto.createHash('sha512').update(aci).digest('hex')}`);
      const missing = await env.ward('a', ['fetch', '--insecure-options=image', 'localhost/nothing-here:1.0'], trusted());
      assert.equal(missing.code, 251);
      assert.match(missing.stderr, /no ac-discovery meta tag for localhost\/nothing-here/);
    } finally {
      front.close();
    }
  });

  test('plain http is refused unless --insecure-options=http', async () => {
    const r = await env.ward('a', ['fetch', '--insecure-options=image', `http://localhost:${port}/app.aci`]);
    assert.equal(r.code, 253);
    assert.match(r.stderr, /plain http; pass --insecure-options=http/);
  });
});
