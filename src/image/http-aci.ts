// ACIs over http(s): streamed into the blob store (sha512, the appc id) with their detached
// signature (.asc) beside them; resumed with Range/If-Range after an interruption; cached with
// ETag/If-None-Match and Cache-Control max-age for --pull-policy=update. TLS is verified unless
// --insecure-options=tls, and plain http needs --insecure-options=http, also after a redirect.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { WardError } from '../schema/errors';
import type { FetchOptions } from './fetch';
import { importAciBlob, noSignature, recordServes, verifyBlob, type AciTrust } from './import-aci';
import { discard, readLimited } from './registry/body';
import { fail } from './registry/errors';
import { Http } from './registry/http';
import { DEFAULT_REGISTRY_LIMITS, DEFAULT_REGISTRY_TIMEOUTS } from './registry/options';
import type { ImageRecord, Store } from './store';

const MAX_SIGNATURE_BYTES = 1024 * 1024;

function checkScheme(url: URL, opts: FetchOptions, what: string): void {
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && opts.insecure.has('http')) return;
  if (url.protocol === 'http:') throw new WardError('EUSAGE', `${what}: ${url.href} is plain http; pass --insecure-options=http to allow it`);
  throw new WardError('EUSAGE', `${what}: ${url.href} is neither https nor http`);
}

/** One GET following redirects, each hop checked like the first. */
export async function get(http: Http, url: URL, headers: Record<string, string>, opts: FetchOptions, what: string): Promise<{ res: IncomingMessage; url: URL }> {
  let at = url;
  for (let hop = 0; hop <= DEFAULT_REGISTRY_LIMITS.maxRedirects; hop++) {
    checkScheme(at, opts, what);
    const res = await http.send(at, headers);
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && status !== 304 && res.headers.location) {
      discard(res);
      at = new URL(res.headers.location, at);
      continue;
    }
    return { res, url: at };
  }
  throw fail(http.site(url), 'ENETWORK', `more than ${DEFAULT_REGISTRY_LIMITS.maxRedirects} redirects`, 'the server is broken or hostile');
}

function maxAge(res: IncomingMessage): number | undefined {
  const m = /(?:^|,)\s*max-age=(\d+)/.exec(String(res.headers['cache-control'] ?? ''));
  return m ? Number(m[1]) : undefined;
}

/** The detached signature's bytes, or null when there is none (404). */
async function fetchSignature(http: Http, sigUrl: URL, opts: FetchOptions, what: string): Promise<Buffer | null> {
  const { res } = await get(http, sigUrl, {}, opts, what);
  if (res.statusCode === 404) {
    discard(res);
    return null;
  }
  if (res.statusCode !== 200) {
    discard(res);
    throw fail(http.site(sigUrl), 'ENETWORK', `answered ${res.statusCode} for the signature`, 'check the URL, or try again later');
  }
  return readLimited(res, MAX_SIGNATURE_BYTES, http.site(sigUrl), 'signature');
}

export interface HttpAciSource {
  /** Where the signature is: URL.asc unless discovery's template said otherwise. */
  signatureUrl?: string;
  /** The image name when known before its bytes (discovery): only keys for it may sign. */
  name?: string;
}

export async function fetchHttpAci(store: Store, href: string, opts: FetchOptions, source = href, from: HttpAciSource = {}): Promise<ImageRecord> {
  const url = new URL(href);
  const what = `image ${source}`;
  checkScheme(url, opts, what);
  const trust: AciTrust = opts.insecure.has('image') ? null : { dirs: requireConfig(opts) };
  const previous = store.all().find((r) => r.remote?.url === url.href);
  const usable = previous && recordServes(previous, trust) ? previous : undefined;
  if (usable && opts.pullPolicy !== 'update') return usable;
  if (usable?.remote?.maxAge !== undefined && Date.now() - Date.parse(usable.remote.fetchedAt) < usable.remote.maxAge * 1000) return usable;
  const http = new Http({ image: source, insecureTls: opts.insecure.has('tls'), limits: DEFAULT_REGISTRY_LIMITS, timeouts: DEFAULT_REGISTRY_TIMEOUTS, userAgent: 'ward' });
  const key = crypto.createHash('sha256').update(url.href).digest('hex');
  // The ETag a partial download was made from: resuming is safe only against the same version.
  const etagFile = path.join(store.tmp, `partial-key-${key}.etag`);
  try {
    // The signature first: without one (or with an untrusted signer) nothing is downloaded.
    const sigUrl = new URL(from.signatureUrl ?? `${url.href}.asc`);
    const sig = await fetchSignature(http, sigUrl, opts, what);
    let prepared = null;
    if (trust) {
      if (!sig) throw noSignature(what, sigUrl.href);
      const { prepareAciVerify } = await import('../trust/aci-verify');
      prepared = await prepareAciVerify(trust.dirs, sig, what, from.name);
    }
    let etag: string | undefined;
    let age: number | undefined;
    const id = await store.blobs.write(
      async (offset) => {
        const headers: Record<string, string> = {};
        if (previous?.remote?.etag && offset === 0) headers['If-None-Match'] = previous.remote.etag;
        const partialEtag = offset > 0 && fs.existsSync(etagFile) ? fs.readFileSync(etagFile, 'utf8') : null;
        if (partialEtag) {
          headers.Range = `bytes=${offset}-`;
          headers['If-Range'] = partialEtag;
        }
        const { res } = await get(http, url, headers, opts, what);
        const status = res.statusCode ?? 0;
        etag = typeof res.headers.etag === 'string' ? res.headers.etag : undefined;
        if (etag && status === 200) fs.writeFileSync(etagFile, etag, { mode: 0o600 });
        age = maxAge(res);
        if (status === 304) {
          discard(res);
          throw new NotModified();
        }
        if (status === 206 && partialEtag) return { stream: res, from: offset };
        if (status === 200) return { stream: res, from: 0 };
        discard(res);
        if (status === 404) throw fail(http.site(url), 'ENOTFOUND', 'no image there (404)', 'check the URL');
        throw fail(http.site(url), 'ENETWORK', `answered ${status}`, 'check the URL, or try again later');
      },
      { alg: 'sha512', what, partialKey: key },
    ).catch((e: unknown) => {
      if (e instanceof NotModified) return null;
      throw e;
    });
    fs.rmSync(etagFile, { force: true });
    const remote = { url: url.href, ...(etag ? { etag } : {}), ...(age !== undefined ? { maxAge: age } : {}), fetchedAt: new Date().toISOString() };
    let blob = id;
    if (blob === null) {
      // Not modified: the record stands, unless it is unverified and this fetch verifies.
      if (!prepared || previous!.signer !== 'unverified') {
        const rec = { ...previous!, remote };
        store.put(rec);
        return rec;
      }
      blob = previous!.id;
    }
    // Downloads may resume across runs, so the bytes are verified from the finished blob.
    const verdict = prepared ? await verifyBlob(store, blob, prepared) : null;
    const signature = sig ? await store.blobs.write(Readable.from([sig]), { alg: 'sha256', what: `the signature of ${what}` }) : undefined;
    return importAciBlob(store, blob, what, { transport: 'http', source, signer: verdict?.signer ?? 'unverified', remote, ...(signature ? { signature } : {}) }, verdict);
  } finally {
    http.close();
  }
}

class NotModified extends Error {}

function requireConfig(opts: FetchOptions) {
  if (!opts.config) throw new WardError('EINTERNAL', 'ACI verification needs the trust configuration dirs');
  return opts.config;
}
