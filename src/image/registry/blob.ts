// Blobs: the config, read whole and checked here; layers, streamed to the caller, who hashes
// them. A layer stream is cut with an error the moment it passes the size its descriptor gives,
// so a registry cannot make us write more than we agreed to. Resuming uses Range; a server that
// ignores Range and sends everything from the start has the bytes we already have skipped.
import type { IncomingMessage } from 'node:http';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { contentLength, readLimited } from './body';
import type { RegistryClient } from './client';
import { fail, REMEDY, type Site } from './errors';
import { digestOf } from './manifest';

export interface BlobRef {
  digest: string;
  size: number;
}

const DIGEST = /^sha256:[0-9a-f]{64}$|^sha512:[0-9a-f]{128}$/;

function blobUrl(client: RegistryClient, repository: string, b: BlobRef): URL {
  if (!DIGEST.test(b.digest)) throw fail(client.site(client.base), 'EIMAGE', `'${b.digest.slice(0, 80)}' is not a blob digest`);
  return client.url(`/v2/${repository}/blobs/${b.digest}`);
}

function identityEncoding(res: IncomingMessage, site: Site): void {
  const enc = res.headers['content-encoding'];
  if (enc !== undefined && enc.toLowerCase() !== 'identity') {
    res.destroy();
    throw fail(site, 'EIMAGE', `the blob comes with Content-Encoding ${enc.slice(0, 40)}, which would change its bytes`, REMEDY.hostile);
  }
}

/** A small blob (the config), whole, with its size and digest checked. */
export async function readBlob(client: RegistryClient, repository: string, b: BlobRef, max: number, what: string): Promise<Buffer> {
  const url = blobUrl(client, repository, b);
  if (b.size > max) throw fail(client.site(url), 'ELIMIT', `the ${what} is ${b.size} bytes by its descriptor, more than the ${max} allowed`, REMEDY.hostile);
  const { res, url: at } = await client.get(url, {});
  const site = client.site(at);
  if (res.statusCode !== 200) return client.statusError(res, at, what);
  identityEncoding(res, site);
  const declared = contentLength(res, site);
  if (declared !== null && declared !== b.size) {
    res.destroy();
    throw fail(site, 'EIMAGE', `the registry sends ${declared} bytes for a ${what} whose descriptor says ${b.size}`, REMEDY.hostile);
  }
  const bytes = await readLimited(res, b.size, site, what);
  if (bytes.length !== b.size) throw fail(site, 'EIMAGE', `the ${what} is ${bytes.length} bytes, its descriptor says ${b.size}`, REMEDY.hostile);
  const got = digestOf(bytes, b.digest.startsWith('sha512:') ? 'sha512' : 'sha256');
  if (got !== b.digest) throw fail(site, 'EIMAGE', `the ${what} has digest ${got}, not ${b.digest}`, REMEDY.hostile);
  return bytes;
}

/** Bytes from `skip` on, at most `max` of them; more is an error, and so is an early end. */
class Window extends Transform {
  private seen = 0;
  private passed = 0;

  constructor(private skip: number, private readonly max: number, private readonly site: Site) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.skip > 0) {
      const drop = Math.min(this.skip, chunk.length);
      this.skip -= drop;
      chunk = chunk.subarray(drop);
    }
    if (chunk.length === 0) return cb();
    if (this.passed + chunk.length > this.max) {
      return cb(fail(this.site, 'EIMAGE', `the layer is longer than the ${this.max} bytes its descriptor leaves to read`, REMEDY.hostile));
    }
    this.passed += chunk.length;
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.passed < this.max) return cb(fail(this.site, 'ENETWORK', `the layer ended after ${this.passed} of ${this.max} bytes`, REMEDY.network));
    cb();
  }

  get received(): number {
    return this.seen;
  }
}

/** GET of a layer from `offset`, as a stream of exactly size - offset bytes or an error. */
export async function openBlob(client: RegistryClient, repository: string, b: BlobRef, offset = 0): Promise<Readable> {
  const url = blobUrl(client, repository, b);
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > b.size) throw fail(client.site(url), 'EIMAGE', `cannot resume at byte ${offset} of a ${b.size}-byte layer`);
  if (offset === b.size) return Readable.from([]);
  const { res, url: at } = await client.get(url, offset > 0 ? { Range: `bytes=${offset}-` } : {});
  const site = client.site(at);
  let skip = 0;
  let expected = b.size - offset;
  if (res.statusCode === 206 && offset > 0) {
    const m = /^bytes ([0-9]+)-([0-9]+)\/([0-9]+|\*)$/.exec(res.headers['content-range'] ?? '');
    if (!m || Number(m[1]) !== offset || Number(m[2]) !== b.size - 1 || (m[3] !== '*' && Number(m[3]) !== b.size)) {
      res.destroy();
      throw fail(site, 'EIMAGE', `the partial answer's Content-Range '${(res.headers['content-range'] ?? '').slice(0, 60)}' is not bytes ${offset}-${b.size - 1}/${b.size}`, REMEDY.hostile);
    }
  } else if (res.statusCode === 200) {
    skip = offset;
    expected = b.size;
  } else {
    return client.statusError(res, at, 'layer');
  }
  identityEncoding(res, site);
  const declared = contentLength(res, site);
  if (declared !== null && declared !== expected) {
    res.destroy();
    throw fail(site, 'EIMAGE', `the registry sends ${declared} bytes where the layer's descriptor leaves ${expected}`, REMEDY.hostile);
  }
  const out = new Window(skip, b.size - offset, site);
  res.on('error', (e: NodeJS.ErrnoException) => {
    const cause = e.code === 'WARD_TIMEOUT' ? e.message : `the connection closed after ${out.received} bytes`;
    out.destroy(fail(site, 'ENETWORK', `${cause} while reading the layer`, REMEDY.network));
  });
  // The caller abandoning the stream must close the connection too.
  out.on('close', () => {
    if (!res.complete) res.destroy();
  });
  res.pipe(out);
  return out;
}
