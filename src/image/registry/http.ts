// One HTTP(S) exchange at a time, with node's own client: the registry protocol needs no more
// than GET, a few headers and streaming bodies, and a library would add parsing of hostile input
// we would have to audit. Keep-alive agents carry every request of one pull; certificate checks
// are on unless --insecure-options=tls; the header block is bounded by node's parser; an answer
// that does not come, or a body that stalls, fails with a timeout instead of hanging.
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { ImageSourceError } from '../source';
import { fail, REMEDY, type Site } from './errors';
import type { RegistryLimits, RegistryTimeouts } from './options';

export interface HttpSettings {
  image: string;
  insecureTls: boolean;
  limits: RegistryLimits;
  timeouts: RegistryTimeouts;
  userAgent: string;
}

/** How a connection failed, for choosing the remedy and whether plain http is worth a try. */
export type NetFailure = 'refused' | 'notls' | 'tls' | 'timeout' | 'headers' | 'other';

const TLS_TRUST = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH/;

export function classifyNetError(e: NodeJS.ErrnoException): NetFailure {
  const code = e.code ?? '';
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'HPE_HEADER_OVERFLOW') return 'headers';
  if (code === 'ETIMEDOUT' || code === 'WARD_TIMEOUT') return 'timeout';
  if (TLS_TRUST.test(code)) return 'tls';
  // What a TLS client sees when the server answers the handshake with plain HTTP, or hangs up on it.
  if (code === 'EPROTO' || /wrong version number|packet length too long|unknown protocol|before secure TLS connection was established/i.test(e.message)) return 'notls';
  return 'other';
}

/** A failed connection: an ImageSourceError that also says how it failed. */
export class NetError extends ImageSourceError {
  constructor(readonly kind: NetFailure, code: ImageSourceError['code'], message: string) {
    super(code, message);
  }
}

export class Http {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(readonly settings: HttpSettings) {
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: !settings.insecureTls });
  }

  site(url: URL, method = 'GET'): Site {
    return { image: this.settings.image, method, url };
  }

  /** Sends one GET and resolves with the response head; the body is the caller's to read or discard. */
  send(url: URL, headers: Record<string, string>): Promise<IncomingMessage> {
    const { limits, timeouts } = this.settings;
    return new Promise((resolve, reject) => {
      const req = (url.protocol === 'https:' ? https : http).request(url, {
        method: 'GET',
        headers: { 'User-Agent': this.settings.userAgent, ...headers },
        agent: url.protocol === 'https:' ? this.httpsAgent : this.httpAgent,
        maxHeaderSize: limits.maxHeaderBytes,
      });
      let response: IncomingMessage | null = null;
      const timeout = (what: string) => Object.assign(new Error(what), { code: 'WARD_TIMEOUT' });
      const answer = setTimeout(() => req.destroy(timeout(`no answer within ${timeouts.answerMs / 1000} s`)), timeouts.answerMs);
      // A silent socket: before the answer it fails the request, after it the body being read.
      req.setTimeout(timeouts.idleMs, () => {
        const e = timeout(`the connection was silent for ${timeouts.idleMs / 1000} s`);
        if (response) response.destroy(e);
        else req.destroy(e);
      });
      req.on('response', (res) => {
        clearTimeout(answer);
        response = res;
        resolve(res);
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(answer);
        if (!response) reject(this.netError(url, e));
      });
      req.end();
    });
  }

  /** A connection-level failure as the user should read it. */
  netError(url: URL, e: NodeJS.ErrnoException): NetError {
    const kind = classifyNetError(e);
    const err = (cause: string, remedy: string) => new NetError(kind, 'ENETWORK', fail(this.site(url), 'ENETWORK', cause, remedy).message);
    switch (kind) {
      case 'refused':
        return err('connection refused', url.protocol === 'https:' ? `${REMEDY.network}, or ${REMEDY.http} if the registry has no TLS` : REMEDY.network);
      case 'notls':
        return err(`the server does not speak TLS (${e.code ?? e.message})`, REMEDY.http);
      case 'tls':
        return err(`the TLS certificate is not trusted (${e.code})`, REMEDY.tls);
      case 'timeout':
        return err(e.message, REMEDY.later);
      case 'headers':
        return new NetError(kind, 'ELIMIT', fail(this.site(url), 'ELIMIT', `the response headers are larger than ${this.settings.limits.maxHeaderBytes} bytes`, REMEDY.hostile).message);
      default:
        return err(`${e.code ? `${e.code}: ` : ''}${e.message}`, REMEDY.network);
    }
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
