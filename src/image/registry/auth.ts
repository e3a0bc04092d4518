// Authentication as registries ask for it (distribution docs/spec/auth/token.md): the answer 401
// carries WWW-Authenticate. "Bearer realm,service,scope" sends us to a token server (with the
// user's credentials as Basic auth when there are some) for a short-lived token; "Basic" wants
// the credentials on every request. Whatever we learn is only ever sent to the registry's own
// origin: a redirect to blob storage elsewhere goes without it.
import type { IncomingMessage } from 'node:http';
import { TokenResponse } from '../../schema/registry';
import { parseStrictJson } from '../../schema/strict-json';
import { discard, errorDetail, readLimited } from './body';
import { parseChallenges } from './challenge';
import type { Credentials } from './credentials';
import { clean, fail, REMEDY, type Site } from './errors';
import type { Http } from './http';
import type { RegistryLimits } from './options';
import { getFollowing } from './redirect';
import { TokenCache } from './token-cache';

export interface AuthSettings {
  httpc: Http;
  /** scheme://host:port of the registry: the only origin that gets credentials or tokens. */
  origin: string;
  /** host[:port] as the user names the registry, for messages and the auth file. */
  domain: string;
  creds: Credentials | null;
  /** Where credentials come from (or would go), for the remedies. */
  authFile: string;
  cache: TokenCache;
  allowHttp: boolean;
  limits: RegistryLimits;
}

export class Authorizer {
  private basic: string | null = null;
  private bearer: { realm: string; service: string } | null = null;

  constructor(private readonly s: AuthSettings) {}

  private tokenKey(scope: string): string {
    return TokenCache.key(this.bearer?.realm ?? '', this.bearer?.service ?? '', scope, this.s.creds);
  }

  /** The Authorization header for `url`, for a request that needs `scope`. */
  headerFor(url: URL, scope: string): string | undefined {
    if (url.origin !== this.s.origin) return undefined;
    if (this.basic) return this.basic;
    if (this.bearer) {
      const t = this.s.cache.get(this.tokenKey(scope));
      if (t) return `Bearer ${t}`;
    }
    return undefined;
  }

  private loginRemedy(): string {
    return this.s.creds
      ? `check the user name and password for ${this.s.domain} in ${this.s.authFile}`
      : `log in: add credentials for ${this.s.domain} to ${this.s.authFile}`;
  }

  /**
   * The registry answered 401: learn how it wants to be asked and get what it wants (a token,
   * or the Basic credentials) so the caller can retry once. Throws EAUTH when we have nothing
   * to offer. `reuse` keeps a cached token instead of asking for a new one.
   */
  async challenged(res: IncomingMessage, site: Site, scope: string, o: { reuse?: boolean } = {}): Promise<void> {
    const challenges = parseChallenges(res.headers['www-authenticate']);
    discard(res);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    if (bearer) {
      this.bearer = { realm: bearer.params.realm!, service: bearer.params.service ?? '' };
      // The ping's challenge may be met by a token still valid from an earlier pull; a request
      // refused with a token needs a fresh one.
      if (o.reuse && this.s.cache.get(this.tokenKey(scope))) return;
      this.s.cache.delete(this.tokenKey(scope));
      await this.fetchToken(site, scope, bearer.params.scope ?? scope);
      return;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      if (!this.s.creds) throw fail(site, 'EAUTH', `${this.s.domain} requires a login`, this.loginRemedy());
      this.basic = `Basic ${Buffer.from(`${this.s.creds.username}:${this.s.creds.password}`).toString('base64')}`;
      return;
    }
    const schemes = challenges.map((c) => c.scheme).join(', ');
    throw fail(site, 'EAUTH', schemes ? `${this.s.domain} asks for authentication ward does not speak (${clean(schemes, 60)})` : `${this.s.domain} answered 401 without a WWW-Authenticate challenge`, this.loginRemedy());
  }

  /** The registry still says 401 (or 403) after we answered its challenge. */
  async refused(res: IncomingMessage, site: Site): Promise<never> {
    const detail = await errorDetail(res, site, this.s.limits.maxSmallBodyBytes);
    const why = this.s.creds ? `${this.s.domain} refused the credentials for it` : `${this.s.domain} refused anonymous access (a private or missing repository)`;
    throw fail(site, 'EAUTH', `${why}${detail ? ` (${detail})` : ''}`, this.loginRemedy());
  }

  private async fetchToken(site: Site, cacheScope: string, askScope: string): Promise<void> {
    let realm: URL;
    try {
      realm = new URL(this.bearer!.realm);
    } catch {
      throw fail(site, 'EAUTH', `the token realm '${clean(this.bearer!.realm, 100)}' is not a URL`, REMEDY.hostile);
    }
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && this.s.allowHttp)) {
      throw fail(site, 'EAUTH', `the token server ${clean(realm.origin, 100)} is not https`, realm.protocol === 'http:' ? REMEDY.http : REMEDY.hostile);
    }
    if (this.bearer!.service) realm.searchParams.set('service', this.bearer!.service);
    realm.searchParams.append('scope', askScope);
    const creds = this.s.creds;
    const basic = creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` : undefined;
    const { res, url } = await getFollowing(this.s.httpc, realm, {
      headers: { Accept: 'application/json' },
      // The realm is the registry's chosen token server: it gets the credentials, as docker sends them.
      authFor: (u) => (u.origin === realm.origin ? basic : undefined),
      allowHttp: this.s.allowHttp,
      maxRedirects: this.s.limits.maxRedirects,
    });
    const tsite = this.s.httpc.site(url);
    if (res.statusCode === 401 || res.statusCode === 403) {
      const detail = await errorDetail(res, tsite, this.s.limits.maxSmallBodyBytes);
      const why = creds ? `the token server refused the credentials for ${this.s.domain}` : `the token server for ${this.s.domain} requires a login`;
      throw fail(tsite, 'EAUTH', `${why}${detail ? ` (${detail})` : ''}`, this.loginRemedy());
    }
    if (res.statusCode !== 200) {
      discard(res);
      throw fail(tsite, 'EAUTH', `the token server answered ${res.statusCode}`, REMEDY.later);
    }
    const body = await readLimited(res, this.s.limits.maxSmallBodyBytes, tsite, 'token answer');
    let answer: TokenResponse;
    try {
      answer = TokenResponse.parse(parseStrictJson(body));
    } catch (e) {
      const issue = (e as { issues?: { path: PropertyKey[]; message: string }[] }).issues?.[0];
      throw fail(tsite, 'EAUTH', `the token answer is malformed (${issue ? `${issue.path.map(String).join('.') || 'answer'}: ${issue.message}` : 'not JSON'})`, REMEDY.hostile);
    }
    this.s.cache.set(this.tokenKey(cacheScope), (answer.token ?? answer.access_token)!, answer.expires_in ?? 60);
  }
}
