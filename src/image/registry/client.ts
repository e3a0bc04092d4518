// A registry reached over one scheme with one authorizer: GET with authentication (one retry
// after a challenge) and redirects, and the status codes turned into errors the user can act on.
import type { IncomingMessage } from 'node:http';
import { Authorizer } from './auth';
import { errorDetail } from './body';
import type { Credentials } from './credentials';
import { fail, REMEDY, type Site } from './errors';
import { NetError, type Http } from './http';
import type { RegistryLimits } from './options';
import { getFollowing } from './redirect';
import type { DockerReference } from './reference';
import type { TokenCache } from './token-cache';

export interface ClientSettings {
  httpc: Http;
  ref: DockerReference;
  creds: Credentials | null;
  authFile: string;
  cache: TokenCache;
  allowHttp: boolean;
  limits: RegistryLimits;
}

export class RegistryClient {
  readonly scope: string;
  private readonly auth: Authorizer;

  private constructor(private readonly s: ClientSettings, readonly base: URL) {
    this.scope = `repository:${s.ref.repository}:pull`;
    this.auth = new Authorizer({ httpc: s.httpc, origin: base.origin, domain: s.ref.domain, creds: s.creds, authFile: s.authFile, cache: s.cache, allowHttp: s.allowHttp, limits: s.limits });
  }

  /**
   * Finds how to talk to the registry: https, or, only when the user allowed plain http, http
   * when https finds no TLS there (as docker does for an insecure registry). Then pings /v2/.
   */
  static async connect(s: ClientSettings): Promise<RegistryClient> {
    const https = new RegistryClient(s, new URL(`https://${s.ref.apiHost}/`));
    try {
      await https.ping();
      return https;
    } catch (e) {
      if (!(s.allowHttp && e instanceof NetError && (e.kind === 'notls' || e.kind === 'refused'))) throw e;
    }
    const http = new RegistryClient(s, new URL(`http://${s.ref.apiHost}/`));
    await http.ping();
    return http;
  }

  site(url: URL): Site {
    return this.s.httpc.site(url);
  }

  url(path: string): URL {
    return new URL(path, this.base);
  }

  /** GET /v2/: is this a registry, and which authentication does it want? */
  private async ping(): Promise<void> {
    const url = this.url('/v2/');
    const { res, url: at } = await this.get(url, {}, { challengeOnly: true });
    const status = res.statusCode ?? 0;
    // Answering the ping's challenge now (a token for our repository, or Basic credentials)
    // saves the round trip of a refused manifest request.
    if (status === 401 && at.origin === this.base.origin) return this.auth.challenged(res, this.site(at), this.scope, { reuse: true });
    if (status === 403) return this.auth.refused(res, this.site(at));
    res.destroy();
    if (status === 200) return;
    throw fail(this.site(at), 'ENETWORK', `answered ${status}: not a Docker registry (HTTP API v2)`, REMEDY.network);
  }

  /**
   * GET with the registry's authentication: on a 401 we answer the challenge and retry once.
   * `challengeOnly` (the ping) learns the challenge without insisting on passing it.
   */
  async get(url: URL, headers: Record<string, string>, o: { challengeOnly?: boolean } = {}): Promise<{ res: IncomingMessage; url: URL }> {
    for (let attempt = 0; ; attempt++) {
      const r = await getFollowing(this.s.httpc, url, {
        headers,
        authFor: (u) => this.auth.headerFor(u, this.scope),
        allowHttp: this.s.allowHttp,
        maxRedirects: this.s.limits.maxRedirects,
      });
      const status = r.res.statusCode ?? 0;
      // A 401 or 403 from elsewhere (blob storage) is not about our credentials: the caller's
      // status check reports it.
      if (r.url.origin !== this.base.origin || o.challengeOnly || (status !== 401 && status !== 403)) return r;
      if (status === 403 || attempt > 0) return this.auth.refused(r.res, this.site(r.url));
      await this.auth.challenged(r.res, this.site(r.url), this.scope);
    }
  }

  /** An error for a status other than the one expected. */
  async statusError(res: IncomingMessage, at: URL, what: string): Promise<never> {
    const status = res.statusCode ?? 0;
    const site = this.site(at);
    const detail = await errorDetail(res, site, this.s.limits.maxSmallBodyBytes);
    const d = detail ? ` (${detail})` : '';
    if (status === 404) throw fail(site, 'ENOTFOUND', `no such ${what}${d}`, 'check the name, the tag or the digest');
    if (status === 401 || status === 403) throw fail(site, 'EAUTH', `access denied (${status})${d}`, REMEDY.later);
    if (status === 429) throw fail(site, 'ENETWORK', `the registry limits requests (429)${d}`, REMEDY.later);
    if (status >= 500) throw fail(site, 'ENETWORK', `the registry failed (${status})${d}`, REMEDY.later);
    throw fail(site, 'EIMAGE', `unexpected answer ${status} for the ${what}${d}`, REMEDY.hostile);
  }
}
