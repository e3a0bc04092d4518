// Real registries for tests: Debian's docker-registry (distribution 2.8) on a free loopback port
// with its storage in a temp dir, anonymous or behind htpasswd Basic auth or token auth; a token
// server in node that signs ES256 JWTs the registry trusts through a certificate we make with
// openssl; and skopeo to push and inspect. Every server is stopped by its stop().
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

/** Runs a command to completion without blocking the event loop (a token server may be serving it). */
export function run(cmd: string, args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4096)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code ?? signal}): ${err}`));
    });
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = http.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A self-signed certificate for 127.0.0.1 (ECDSA P-256), PEM files in `dir`. */
export async function makeCert(dir: string, name: string, cn = '127.0.0.1', san = 'IP:127.0.0.1'): Promise<{ cert: string; key: string }> {
  fs.mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
    '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${san}`, '-days', '2']);
  return { cert, key };
}

export type RegistryAuth =
  | { kind: 'none' }
  | { kind: 'basic'; htpasswd: string }
  | { kind: 'token'; realm: string; service: string; issuer: string; rootcertbundle: string };

export interface Registry {
  host: string;
  stop(): Promise<void>;
}

/** Starts docker-registry on a free 127.0.0.1 port; resolves once /v2/ answers. */
export async function startRegistry(dir: string, auth: RegistryAuth, tls?: { cert: string; key: string }): Promise<Registry> {
  const port = await freePort();
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
  const authYaml =
    auth.kind === 'basic'
      ? `auth:\n  htpasswd:\n    realm: ward-test\n    path: ${auth.htpasswd}\n`
      : auth.kind === 'token'
        ? `auth:\n  token:\n    realm: ${auth.realm}\n    service: ${auth.service}\n    issuer: ${auth.issuer}\n    rootcertbundle: ${auth.rootcertbundle}\n`
        : '';
  const tlsYaml = tls ? `  tls:\n    certificate: ${tls.cert}\n    key: ${tls.key}\n` : '';
  const config = path.join(dir, 'config.yml');
  fs.writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'data')}\n` +
      `http:\n  addr: 127.0.0.1:${port}\n  secret: ${crypto.randomBytes(16).toString('hex')}\n${tlsYaml}${authYaml}`,
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-8192)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const done = new Promise((r) => child.once('close', r));
      child.kill('SIGTERM');
      await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${log}`);
    const up = await new Promise<boolean>((resolve) => {
      const req = (tls ? https : http).get({ host: '127.0.0.1', port, path: '/v2/', rejectUnauthorized: false }, (res: http.IncomingMessage) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not listen: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host: `127.0.0.1:${port}`, stop };
}

/** An htpasswd file (bcrypt, which distribution requires) made with apache2-utils' htpasswd. */
export async function htpasswd(file: string, user: string, password: string): Promise<void> {
  fs.writeFileSync(file, await run('htpasswd', ['-Bbn', user, password]));
}

/** skopeo copy from an OCI layout into a registry (plain http or self-signed TLS allowed). */
export async function push(layout: string, tag: string, dest: string, o: { all?: boolean; format?: 'v2s2' | 'oci'; creds?: string } = {}): Promise<void> {
  await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', ...(o.all ? ['--all'] : []), ...(o.format ? ['--format', o.format] : []),
    ...(o.creds ? ['--dest-creds', o.creds] : []), `oci:${layout}:${tag}`, `docker://${dest}`]);
}

/** The raw manifest bytes at a reference, as skopeo sees them. */
export function inspectRaw(ref: string, creds?: string): Promise<Buffer> {
  return run('skopeo', ['inspect', '--raw', '--tls-verify=false', ...(creds ? ['--creds', creds] : []), `docker://${ref}`]);
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  /** The certificate the registry trusts for tokens (rootcertbundle). */
  certFile: string;
  /** Every request the server answered: scope asked for, and who. */
  requests: { scope: string; account: string }[];
  stop(): Promise<void>;
}

/**
 * A token server as distribution's token auth expects (docs/spec/auth/token.md, jwt.md): it
 * answers GET ?service=&scope=repository:NAME:ACTIONS with {"token", "expires_in"}. Known users
 * (Basic auth) get what they ask for; anonymous callers get pull on public/* only; a wrong
 * password is a 401. Tokens carry the certificate in x5c, which the registry checks against its
 * root bundle.
 */
export async function startTokenServer(dir: string, users: Record<string, string>): Promise<TokenServer> {
  const { cert, key } = await makeCert(dir, 'token-signer', 'ward-test-token-signer');
  const der = Buffer.from(fs.readFileSync(cert, 'utf8').replace(/-----[^-]+-----|\s+/g, ''), 'base64');
  const signer = crypto.createPrivateKey(fs.readFileSync(key));
  const service = 'ward-test-registry';
  const issuer = 'ward-test-issuer';
  const requests: TokenServer['requests'] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let account = '';
    const authz = req.headers.authorization;
    if (authz?.startsWith('Basic ')) {
      const [u, ...p] = Buffer.from(authz.slice(6), 'base64').toString().split(':');
      if (users[u!] !== p.join(':')) {
        res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Basic realm="token"' });
        return res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
      }
      account = u!;
    }
    const scopes = url.searchParams.getAll('scope');
    for (const s of scopes) requests.push({ scope: s, account });
    if (scopes.length === 0) requests.push({ scope: '', account });
    const access = scopes.flatMap((s) => {
      const m = /^repository:([^:]+):(.+)$/.exec(s);
      if (!m) return [];
      const actions = m[2]!.split(',').filter((a) => account || (a === 'pull' && m[1]!.startsWith('public/')));
      return [{ type: 'repository', name: m[1]!, actions }];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [der.toString('base64')] }));
    const claims = b64url(JSON.stringify({ iss: issuer, sub: account, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: crypto.randomBytes(8).toString('hex'), access }));
    const sig = crypto.sign('sha256', Buffer.from(`${header}.${claims}`), { key: signer, dsaEncoding: 'ieee-p1363' });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token: `${header}.${claims}.${b64url(sig)}`, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile: cert,
    requests,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}
