// cosign signatures made by the tests, to cosign's specs/SIGNATURE_SPEC.md: an ECDSA P-256 key
// (node:crypto), the simple-signing payload, the signature (ASN.1 DER, base64) in the layer
// annotation dev.cosignproject.cosign/signature, pushed to a real registry at tag
// sha256-<hex>.sig through the registry HTTP API (blob uploads and a manifest PUT), as cosign
// does. Plain http on loopback only.
import crypto from 'node:crypto';
import http from 'node:http';

export const COSIGN_PAYLOAD = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const COSIGN_ANNOTATION = 'dev.cosignproject.cosign/signature';

export interface CosignKey {
  privateKey: crypto.KeyObject;
  /** PEM "PUBLIC KEY", as cosign.pub. */
  publicPem: string;
  /** Uppercase hex SHA-256 of the DER SubjectPublicKeyInfo. */
  fingerprint: string;
}

export function cosignKey(): CosignKey {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return { privateKey, publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(), fingerprint: crypto.createHash('sha256').update(der).digest('hex').toUpperCase() };
}

/** cosign's payload: the identity is the repository without a tag, "optional" is null. */
export function cosignPayload(digest: string, repository: string, extraCritical: Record<string, unknown> = {}): Buffer {
  return Buffer.from(JSON.stringify({ critical: { identity: { 'docker-reference': repository }, image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature', ...extraCritical }, optional: null }));
}

export function cosignSign(key: CosignKey, payload: Buffer): string {
  return crypto.sign('sha256', payload, key.privateKey).toString('base64');
}

const sha256 = (b: Buffer) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

function request(method: string, url: URL, body?: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { ...headers, ...(body ? { 'Content-Length': String(body.length) } : { 'Content-Length': '0' }) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function uploadBlob(host: string, repo: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
  const start = await request('POST', new URL(`http://${host}/v2/${repo}/blobs/uploads/`));
  if (start.status !== 202) throw new Error(`blob upload start: ${start.status} ${start.body.toString()}`);
  const loc = new URL(start.headers.location!, `http://${host}/`);
  const digest = sha256(bytes);
  loc.searchParams.set('digest', digest);
  const put = await request('PUT', loc, bytes, { 'Content-Type': 'application/octet-stream' });
  if (put.status !== 201) throw new Error(`blob upload: ${put.status} ${put.body.toString()}`);
  return { digest, size: bytes.length };
}

/** Pushes a signature manifest with these (payload, signature) layers at sha256-<hex>.sig of `digest`. */
export async function pushCosignSignatures(host: string, repo: string, digest: string, sigs: { payload: Buffer; signature: string }[]): Promise<void> {
  const layers = [];
  for (const s of sigs) {
    const b = await uploadBlob(host, repo, s.payload);
    layers.push({ mediaType: COSIGN_PAYLOAD, digest: b.digest, size: b.size, annotations: { [COSIGN_ANNOTATION]: s.signature } });
  }
  const config = await uploadBlob(host, repo, Buffer.from(JSON.stringify({ architecture: '', config: {}, created: '0001-01-01T00:00:00Z', history: [{ created: '0001-01-01T00:00:00Z' }], os: '', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } })));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers }));
  const tag = `${digest.replace(':', '-')}.sig`;
  const put = await request('PUT', new URL(`http://${host}/v2/${repo}/manifests/${tag}`), manifest, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' });
  if (put.status !== 201) throw new Error(`manifest put: ${put.status} ${put.body.toString()}`);
}

/** A logging HTTP proxy in front of a registry: every request path it forwarded, in order. */
export async function countingProxy(target: string): Promise<{ host: string; paths: string[]; stop(): Promise<void> }> {
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    paths.push(`${req.method} ${req.url}`);
    const up = http.request(`http://${target}${req.url}`, { method: req.method, headers: { ...req.headers, host: target } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as import('node:net').AddressInfo;
  return { host: `127.0.0.1:${port}`, paths, stop: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}
