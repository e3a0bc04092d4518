// Bearer tokens, kept for their lifetime so a pull asks the token server once per scope and not
// once per request. Entries are keyed by who asked (a hash of the credentials, never the
// credentials themselves) as well as by realm, service and scope, so anonymous and
// authenticated tokens never mix.
import crypto from 'node:crypto';
import type { Credentials } from './credentials';

/** Tokens are dropped this long before they expire, so one never lapses in flight. */
const MARGIN_MS = 5_000;

export class TokenCache {
  private readonly tokens = new Map<string, { token: string; until: number }>();

  static key(realm: string, service: string, scope: string, creds: Credentials | null): string {
    const who = creds ? crypto.createHash('sha256').update(`${creds.username}\0${creds.password}`).digest('hex') : 'anonymous';
    return JSON.stringify([realm, service, scope, who]);
  }

  get(key: string, now = Date.now()): string | null {
    const t = this.tokens.get(key);
    if (!t) return null;
    if (t.until <= now) {
      this.tokens.delete(key);
      return null;
    }
    return t.token;
  }

  set(key: string, token: string, lifetimeSeconds: number, now = Date.now()): void {
    this.tokens.set(key, { token, until: now + lifetimeSeconds * 1000 - MARGIN_MS });
  }

  delete(key: string): void {
    this.tokens.delete(key);
  }
}

export const sharedTokenCache = new TokenCache();
