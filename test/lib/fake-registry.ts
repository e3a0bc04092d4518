// A node HTTP server that plays a registry for the hostile-answer tests: it serves manifests and
// blobs from maps the test fills (honouring Range like a real registry), and a test can take over
// any request with `override` to answer as a broken or hostile registry would.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export const sha256 = (b: Buffer | string): string => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

export interface FakeManifest {
  body: Buffer;
  contentType: string;
  /** Docker-Content-Digest to send: default the true digest; null sends none. */
  digestHeader?: string | null;
}

export interface FakeImage {
  manifest: Buffer;
  manifestDigest: string;
  config: Buffer;
  configDigest: string;
  layer: Buffer;
  layerDigest: string;
}

/** An OCI image (one random "layer", not a real tar: the registry client never looks inside). */
export function fakeImage(o: { arch?: string; layer?: Buffer; config?: object; configMediaType?: string } = {}): FakeImage {
  const layer = o.layer ?? crypto.randomBytes(64 * 1024);
  const config = Buffer.from(JSON.stringify(o.config ?? { architecture: o.arch ?? 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256('whatever')] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: o.configMediaType ?? 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
    }),
  );
  return { manifest, manifestDigest: sha256(manifest), config, configDigest: sha256(config), layer, layerDigest: sha256(layer) };
}

export function indexOf(entries: { digest: string; size: number; mediaType?: string; platform?: object }[], mediaType = 'application/vnd.oci.image.index.v1+json'): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      manifests: entries.map((e) => ({ mediaType: e.mediaType ?? 'application/vnd.oci.image.manifest.v1+json', digest: e.digest, size: e.size, platform: e.platform ?? { architecture: 'amd64', os: 'linux' } })),
    }),
  );
}

export class FakeRegistry {
  readonly manifests = new Map<string, FakeManifest>();
  readonly blobs = new Map<string, Buffer>();
  /** Return true when the request was answered. */
  override: ((req: http.IncomingMessage, res: http.ServerResponse) => boolean) | null = null;
  readonly seen: { url: string; authorization?: string }[] = [];
  private readonly server: http.Server | https.Server;
  host = '';

  /** With `tls` (PEM files), the fake speaks https with that certificate. */
  constructor(tls?: { cert: string; key: string }) {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res);
    this.server = tls ? https.createServer({ cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key) }, handler) : http.createServer(handler);
    // Answers that are cut off on purpose leave sockets behind: do not let them keep us alive.
    this.server.on('clientError', (_e, socket) => socket.destroy());
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  /** Serves `img` at NAME:TAG (and its blobs). */
  add(name: string, tag: string, img: FakeImage): void {
    const m: FakeManifest = { body: img.manifest, contentType: 'application/vnd.oci.image.manifest.v1+json' };
    this.manifests.set(`${name}:${tag}`, m);
    this.manifests.set(`${name}@${img.manifestDigest}`, m);
    this.blobs.set(img.configDigest, img.config);
    this.blobs.set(img.layerDigest, img.layer);
  }

  reset(): void {
    this.manifests.clear();
    this.blobs.clear();
    this.override = null;
    this.seen.length = 0;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
    if (this.override?.(req, res)) return;
    const url = req.url ?? '';
    if (url === '/v2/') return void res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url);
    if (m && m[2] === 'manifests') {
      const ref = m[3]!.startsWith('sha') ? `${m[1]}@${m[3]}` : `${m[1]}:${m[3]}`;
      const man = this.manifests.get(ref);
      if (man) {
        const headers: Record<string, string> = { 'Content-Type': man.contentType, 'Content-Length': String(man.body.length) };
        const d = man.digestHeader === undefined ? sha256(man.body) : man.digestHeader;
        if (d !== null) headers['Docker-Content-Digest'] = d;
        return void res.writeHead(200, headers).end(man.body);
      }
    }
    if (m && m[2] === 'blobs') {
      const blob = this.blobs.get(m[3]!);
      if (blob) {
        const range = /^bytes=([0-9]+)-$/.exec(req.headers.range ?? '');
        if (range) {
          const from = Number(range[1]);
          return void res.writeHead(206, { 'Content-Range': `bytes ${from}-${blob.length - 1}/${blob.length}`, 'Content-Length': String(blob.length - from) }).end(blob.subarray(from));
        }
        return void res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.length) }).end(blob);
      }
    }
    res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'NOT_FOUND', message: 'not here' }] }));
  }
}
