// Registry credentials from the user's auth file (~/.config/ward/auth.json), which has the
// "auths" shape of docker's config.json, so `cp ~/.docker/config.json` works. Keys are
// host[:port], optionally written as URLs (docker writes https://index.docker.io/v1/ for Hub).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuthFile } from '../../schema/registry';
import { parseStrictJson } from '../../schema/strict-json';
import { WardError } from '../../schema/errors';
import { DOCKER_HUB } from './reference';

export interface Credentials {
  username: string;
  password: string;
}

const MAX_AUTH_FILE = 1024 * 1024;
const HUB_KEYS = [DOCKER_HUB, 'index.docker.io', 'registry-1.docker.io'];

export function defaultAuthFile(): string {
  const base = process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'ward', 'auth.json');
}

/** "https://host:port/v1/" -> "host:port"; "host:port" stays. */
function keyHost(key: string): string {
  const noScheme = key.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  return noScheme.split('/')[0]!.toLowerCase();
}

function unusable(file: string, why: string): WardError {
  return new WardError('EUSAGE', `credentials file ${file}: ${why}; fix it (shape: {"auths": {"HOST:PORT": {"auth": "base64 of user:password"}}}) or remove it`);
}

/** Credentials for `domain` (host[:port]) from `file`, or null when the file or the entry is absent. */
export function loadCredentials(file: string, domain: string): Credentials | null {
  let bytes: Buffer;
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw unusable(file, 'not a regular file');
      if (st.size > MAX_AUTH_FILE) throw unusable(file, `larger than ${MAX_AUTH_FILE} bytes`);
      bytes = fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (e instanceof WardError) throw e;
    throw unusable(file, `cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let parsed: AuthFile;
  try {
    parsed = AuthFile.parse(parseStrictJson(bytes));
  } catch (e) {
    const issue = (e as { issues?: { path: PropertyKey[]; message: string }[] }).issues?.[0];
    throw unusable(file, issue ? `${issue.path.map(String).join('.')}: ${issue.message}` : (e as Error).message.replace(/^frame /, ''));
  }
  const wanted = domain === DOCKER_HUB ? HUB_KEYS : [domain.toLowerCase()];
  for (const [key, entry] of Object.entries(parsed.auths ?? {})) {
    if (!wanted.includes(keyHost(key))) continue;
    if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
    if (entry.auth === undefined || entry.auth === '') continue;
    const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    if (colon <= 0) throw unusable(file, `the auth of "${keyHost(key)}" is not base64 of user:password`);
    return { username: plain.slice(0, colon), password: plain.slice(colon + 1) };
  }
  return null;
}
