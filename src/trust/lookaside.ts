// Reading simple signatures from a lookaside store, as containers lays it out:
// <base>/<repository>@<alg>=<hex>/signature-1, -2, ... up to the first one missing. The base is a
// file:// URL (a directory) or an http(s):// URL. A signature is self-authenticating (it is
// checked against the policy's keys), so the store only has to be bounded, not trusted.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WardError } from '../schema/errors';

export const MAX_SIGNATURES = 64;
export const MAX_SIGNATURE_BYTES = 4 * 1024 * 1024;

function refused(image: string, why: string): WardError {
  return new WardError('ESIGNATURE', `${image}: ${why}`);
}

export async function readLookaside(image: string, base: string, repository: string, digest: string): Promise<Buffer[]> {
  const [alg, hex] = digest.split(':') as [string, string];
  if (!/^sha256$|^sha512$/.test(alg) || !/^[0-9a-f]+$/.test(hex) || repository.split('/').some((c) => c === '' || c === '.' || c === '..')) {
    throw refused(image, `cannot look signatures up for ${digest.slice(0, 80)}`);
  }
  const rel = `${repository}@${alg}=${hex}`;
  let url: URL;
  let dir = '';
  try {
    url = new URL(base);
    if (url.protocol === 'file:') dir = fileURLToPath(url);
  } catch {
    throw new WardError('EUSAGE', `${image}: the lookaside '${base.slice(0, 200)}' in registries.d is not a URL; write file:///DIR or https://HOST/PATH`);
  }
  const out: Buffer[] = [];
  for (let n = 1; n <= MAX_SIGNATURES + 1; n++) {
    const sig = url.protocol === 'file:' ? readFileSignature(image, path.join(dir, rel, `signature-${n}`)) : await readHttpSignature(image, new URL(`${url.pathname.replace(/\/$/, '')}/${rel}/signature-${n}`, url));
    if (!sig) break;
    if (n > MAX_SIGNATURES) throw refused(image, `more than ${MAX_SIGNATURES} signatures in the lookaside ${base}`);
    out.push(sig);
  }
  return out;
}

function readFileSignature(image: string, file: string): Buffer | null {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw refused(image, `cannot read the signature ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw refused(image, `the signature ${file} is not a regular file`);
    if (st.size > MAX_SIGNATURE_BYTES) throw refused(image, `the signature ${file} is larger than ${MAX_SIGNATURE_BYTES} bytes`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = fs.readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    fs.closeSync(fd);
  }
}

async function readHttpSignature(image: string, url: URL): Promise<Buffer | null> {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new WardError('EUSAGE', `${image}: the lookaside scheme ${url.protocol} is not supported; use file:// or https://`);
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    throw new WardError('ENETWORK', `${image}: GET ${url.origin}${url.pathname}: ${(e as Error).message}; check the lookaside in registries.d and the network`);
  }
  if (res.status === 404) {
    await res.body?.cancel();
    return null;
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new WardError('ENETWORK', `${image}: GET ${url.origin}${url.pathname}: the lookaside answered ${res.status}; try again later`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > MAX_SIGNATURE_BYTES) {
      await reader.cancel();
      throw refused(image, `the signature at ${url.origin}${url.pathname} is larger than ${MAX_SIGNATURE_BYTES} bytes`);
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks);
}
