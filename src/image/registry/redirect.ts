// Following redirects by hand, because the rules are ours: registries send blob downloads to
// storage on other hosts (S3, CDNs), and the registry's Authorization must never go there; a
// redirect may not downgrade https to http unless the user allowed http; at most a few hops, and a
// hop back to a URL already visited is a loop.
import type { IncomingMessage } from 'node:http';
import { discard } from './body';
import { fail, REMEDY } from './errors';
import type { Http } from './http';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export interface FollowOptions {
  headers: Record<string, string>;
  /** The Authorization header for a URL, or undefined: called for every hop. */
  authFor(url: URL): string | undefined;
  allowHttp: boolean;
  maxRedirects: number;
}

export async function getFollowing(httpc: Http, start: URL, o: FollowOptions): Promise<{ res: IncomingMessage; url: URL }> {
  let url = start;
  const seen = new Set<string>();
  for (let hops = 0; ; hops++) {
    const headers = { ...o.headers };
    const auth = o.authFor(url);
    if (auth !== undefined) headers.Authorization = auth;
    const res = await httpc.send(url, headers);
    if (!REDIRECTS.has(res.statusCode ?? 0)) return { res, url };
    const location = res.headers.location;
    discard(res);
    const site = httpc.site(url);
    if (!location) throw fail(site, 'EIMAGE', `redirect (${res.statusCode}) without a Location`, REMEDY.hostile);
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw fail(site, 'EIMAGE', 'redirect to a malformed Location', REMEDY.hostile);
    }
    if (next.protocol !== 'https:' && next.protocol !== 'http:') throw fail(site, 'EIMAGE', `redirect to a ${next.protocol.slice(0, 20)} URL`, REMEDY.hostile);
    if (next.protocol === 'http:' && url.protocol === 'https:' && !o.allowHttp) throw fail(site, 'ENETWORK', `redirect from https to plain http (${next.host})`, REMEDY.http);
    // Credentials in a Location would be sent as Basic auth by some clients; never by us.
    next.username = '';
    next.password = '';
    next.hash = '';
    seen.add(url.href);
    if (seen.has(next.href)) throw fail(site, 'EIMAGE', 'redirect loop', REMEDY.hostile);
    if (hops + 1 > o.maxRedirects) throw fail(site, 'EIMAGE', `more than ${o.maxRedirects} redirects`, REMEDY.hostile);
    url = next;
  }
}
