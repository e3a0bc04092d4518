// appc meta discovery (appc spec, discovery.md): for an image name, fetch
// https://NAME?ac-discovery=1 (then each shorter prefix of NAME), read the
//   <meta name="ac-discovery" content="PREFIX URL-TEMPLATE">
//   <meta name="ac-discovery-pubkeys" content="PREFIX URL">
// tags, and fill the longest matching template's {name}, {version}, {os}, {arch}, {ext}.
// The page is hostile: it is read size-bounded and only those meta tags are looked at.
import { WardError } from '../schema/errors';
import type { FetchOptions } from './fetch';
import { discard, readLimited } from './registry/body';
import { Http } from './registry/http';
import { DEFAULT_REGISTRY_LIMITS, DEFAULT_REGISTRY_TIMEOUTS } from './registry/options';

const MAX_PAGE_BYTES = 1024 * 1024;

export interface AppcRef {
  name: string;
  labels: Record<string, string>;
}

/** "example.com/app:1.0" or "example.com/app,version=1.0,os=linux" (rkt's forms). */
export function parseAppcRef(ref: string): AppcRef {
  const [head, ...pairs] = ref.split(',');
  let name = head!;
  const labels: Record<string, string> = { os: 'linux', arch: 'amd64' };
  const colon = name.lastIndexOf(':');
  if (colon > 0) {
    labels.version = name.slice(colon + 1);
    name = name.slice(0, colon);
  }
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new WardError('EUSAGE', `'${ref}': labels are NAME=VALUE, separated by commas`);
    labels[p.slice(0, eq)] = p.slice(eq + 1);
  }
  if (!/^[a-z0-9]+([-._~/][a-z0-9]+)*$/.test(name)) throw new WardError('EUSAGE', `'${name}' is not an appc image name`);
  return { name, labels };
}

export interface MetaTag {
  prefix: string;
  template: string;
}

/** The ac-discovery (or -pubkeys) meta tags of a page. */
export function metaTags(html: string, which: 'ac-discovery' | 'ac-discovery-pubkeys'): MetaTag[] {
  const out: MetaTag[] = [];
  for (const m of html.matchAll(/<meta\b[^>]*>/gi)) {
    const tag = m[0];
    const name = /\bname\s*=\s*["']([^"']*)["']/i.exec(tag)?.[1];
    const content = /\bcontent\s*=\s*["']([^"']*)["']/i.exec(tag)?.[1];
    if (name !== which || !content) continue;
    const [prefix, template, ...rest] = content.trim().split(/\s+/);
    if (prefix && template && rest.length === 0) out.push({ prefix, template });
  }
  return out;
}

export function fillTemplate(template: string, ref: AppcRef, ext: string): string | null {
  const values: Record<string, string> = { ...ref.labels, name: ref.name, ext };
  let missing = false;
  const url = template.replace(/\{([a-z]+)\}/g, (_, k: string) => {
    const v = values[k];
    if (v === undefined) missing = true;
    return encodeURIComponent(v ?? '').replace(/%2F/g, '/');
  });
  return missing ? null : url;
}

export interface Discovered {
  aci: string;
  signature: string;
  pubkeys: string[];
}

/** A name covers itself and what is below it, by whole path segments. */
function under(name: string, prefix: string): boolean {
  return name === prefix || name.startsWith(`${prefix}/`);
}

const MAX_KEY_BYTES = 1024 * 1024;

/**
 * ac-discovery-pubkeys for a prefix (rkt's `trust --prefix` without a key): the key URLs the
 * discovery pages of the prefix and its parents offer for it, longest page first. Keys come
 * over https only (http with --insecure-options=http) and are reviewed before they are trusted.
 */
export async function discoverPubkeys(prefix: string, opts: Pick<FetchOptions, 'insecure'>): Promise<string[]> {
  const found = await walkDiscoveryPages(prefix, opts, false, (html) => {
    const keys = metaTags(html, 'ac-discovery-pubkeys').filter((k) => under(prefix, k.prefix)).map((k) => k.template);
    return keys.length > 0 ? keys : null;
  });
  if (found.result) return found.result;
  throw new WardError('ENOTFOUND', `no ac-discovery-pubkeys meta tag for ${prefix} (tried ${found.tried.join(', ')}); give the key file or URL`);
}

/**
 * Reads the discovery pages of name and of each parent, longest first (https, or http with
 * --insecure-options=http), until pick finds what it looks for in one. A page that cannot be read
 * is skipped; with failLast, the last one's failure (the bare host) is thrown.
 */
async function walkDiscoveryPages<T>(name: string, opts: Pick<FetchOptions, 'insecure'>, failLast: boolean, pick: (html: string) => T | null): Promise<{ result: T | null; tried: string[] }> {
  const scheme = opts.insecure.has('http') ? 'http' : 'https';
  const http = new Http({ image: name, insecureTls: opts.insecure.has('tls'), limits: DEFAULT_REGISTRY_LIMITS, timeouts: DEFAULT_REGISTRY_TIMEOUTS, userAgent: 'ward' });
  const tried: string[] = [];
  try {
    const parts = name.split('/');
    for (let n = parts.length; n >= 1; n--) {
      const url = new URL(`${scheme}://${parts.slice(0, n).join('/')}?ac-discovery=1`);
      tried.push(url.href);
      let html: string;
      try {
        const res = await http.send(url, {});
        if (res.statusCode !== 200) {
          discard(res);
          continue;
        }
        html = (await readLimited(res, MAX_PAGE_BYTES, http.site(url), 'discovery page')).toString('utf8');
      } catch (e) {
        if (failLast && n === 1) throw e;
        continue;
      }
      const result = pick(html);
      if (result !== null) return { result, tried };
    }
  } finally {
    http.close();
  }
  return { result: null, tried };
}

/** A public key's bytes from an https (or, with --insecure-options=http, http) URL. */
export async function fetchKeyBytes(href: string, opts: Pick<FetchOptions, 'insecure'>): Promise<Buffer> {
  const { get } = await import('./http-aci');
  const url = new URL(href);
  const http = new Http({ image: href, insecureTls: opts.insecure.has('tls'), limits: DEFAULT_REGISTRY_LIMITS, timeouts: DEFAULT_REGISTRY_TIMEOUTS, userAgent: 'ward' });
  try {
    const { res } = await get(http, url, {}, opts as FetchOptions, `key ${href}`);
    if (res.statusCode !== 200) {
      discard(res);
      throw new WardError('ENOTFOUND', `key ${href}: the server answered ${res.statusCode}; check the URL`);
    }
    return await readLimited(res, MAX_KEY_BYTES, http.site(url), 'public key');
  } finally {
    http.close();
  }
}

export async function discover(ref: AppcRef, opts: FetchOptions): Promise<Discovered> {
  const found = await walkDiscoveryPages(ref.name, opts, true, (html): Discovered | null => {
    // The longest prefix that covers the name wins, as in appc's reference implementation.
    const matching = metaTags(html, 'ac-discovery').filter((t) => under(ref.name, t.prefix)).sort((a, b) => b.prefix.length - a.prefix.length);
    for (const t of matching) {
      const aci = fillTemplate(t.template, ref, 'aci');
      const signature = fillTemplate(t.template, ref, 'aci.asc');
      if (aci && signature) {
        const pubkeys = metaTags(html, 'ac-discovery-pubkeys').filter((k) => under(ref.name, k.prefix)).map((k) => k.template);
        return { aci, signature, pubkeys };
      }
    }
    return null;
  });
  if (found.result) return found.result;
  throw new WardError('ENOTFOUND', `no ac-discovery meta tag for ${ref.name} (tried ${found.tried.join(', ')}); check the name, or fetch the ACI by URL`);
}
