// Reading response bodies without trusting the server about their size: a declared length over
// the limit is refused before a byte is read, an undeclared one is cut as soon as it passes the
// limit, and a connection that closes early is an error rather than a short document.
import type { IncomingMessage } from 'node:http';
import { RegistryErrorBody } from '../../schema/registry';
import { parseStrictJson } from '../../schema/strict-json';
import { clean, fail, REMEDY, type Site } from './errors';

/** Content-Length as a number, null when absent; a malformed one is hostile. */
export function contentLength(res: IncomingMessage, site: Site): number | null {
  const v = res.headers['content-length'];
  if (v === undefined) return null;
  if (!/^[0-9]{1,16}$/.test(v)) {
    res.destroy();
    throw fail(site, 'EIMAGE', `malformed Content-Length '${clean(v, 40)}'`, REMEDY.hostile);
  }
  return Number(v);
}

/** The whole body, at most `max` bytes. */
export function readLimited(res: IncomingMessage, max: number, site: Site, what: string): Promise<Buffer> {
  const declared = contentLength(res, site);
  if (declared !== null && declared > max) {
    res.destroy();
    return Promise.reject(fail(site, 'ELIMIT', `the ${what} is ${declared} bytes, more than the ${max} allowed`, REMEDY.hostile));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    let settled = false;
    const settle = (e: Error | null) => {
      if (settled) return;
      settled = true;
      if (e) reject(e);
      else resolve(Buffer.concat(chunks, n));
    };
    res.on('data', (c: Buffer) => {
      n += c.length;
      if (n > max) {
        res.destroy();
        settle(fail(site, 'ELIMIT', `the ${what} is more than the ${max} bytes allowed`, REMEDY.hostile));
      } else chunks.push(c);
    });
    res.on('end', () => settle(null));
    const early = () => fail(site, 'ENETWORK', `the connection closed after ${n}${declared !== null ? ` of the ${declared}` : ''} bytes of the ${what}`, REMEDY.network);
    res.on('error', (e: NodeJS.ErrnoException) => settle(e.code === 'WARD_TIMEOUT' ? fail(site, 'ENETWORK', `${e.message} while reading the ${what}`, REMEDY.later) : early()));
    // 'end' resolves; a close without the whole message having arrived is the early end.
    res.on('close', () => {
      if (!res.complete) settle(early());
    });
  });
}

/**
 * Lets go of a body we do not want. A small, declared one is drained so the connection can be
 * reused; anything else closes the connection rather than read what a server chooses to send.
 */
export function discard(res: IncomingMessage): void {
  const v = Number(res.headers['content-length'] ?? NaN);
  if (Number.isFinite(v) && v <= 65536) {
    res.on('error', () => undefined);
    res.resume();
  } else res.destroy();
}

/** "CODE: message" from a registry error body, or '' when there is none worth showing. */
export async function errorDetail(res: IncomingMessage, site: Site, max: number): Promise<string> {
  try {
    const body = await readLimited(res, max, site, 'error body');
    const parsed = RegistryErrorBody.safeParse(parseStrictJson(body));
    const first = parsed.success ? parsed.data.errors[0] : undefined;
    return first ? clean(`${first.code}${first.message ? `: ${first.message}` : ''}`, 160) : '';
  } catch {
    return '';
  }
}
