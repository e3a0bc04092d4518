// A raw client of ward-helper's protocol for hostile-caller tests: it sends well-formed frames,
// bare bytes (broken headers, truncated bodies) and fds, as a chosen test user, and reads the
// helper's answers without trusting them. Also the checks every hostile case ends with: the
// helper still serves, created nothing, and holds no fd it was given.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { addon } from '../../src/native/addon';
import { ErrorResponse, HelloResponse } from '../../src/schema/protocol';
import { MAX_RESPONSE_BYTES } from '../../src/schema/protocol-limits';
import { account, REPO, USERS, type TestEnv, type TestUser } from './env';

export const O_PATH = 0o10000000;
export const O_NOFOLLOW = fs.constants.O_NOFOLLOW;

/** What came back: one frame (its bytes, and its JSON if it is JSON), or the end of the connection. */
export type Reply =
  | { kind: 'frame'; raw: Buffer; json: unknown }
  | { kind: 'closed'; how: string };

export function header(length: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(length >>> 0, 0);
  return b;
}

export function toBytes(body: Buffer | string | object): Buffer {
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  return Buffer.from(JSON.stringify(body), 'utf8');
}

/** The gids a login of `user` has (primary and supplementary), as setpriv --init-groups gives them. */
export function loginGroups(user: string): number[] {
  const a = account(user);
  const gids = new Set<number>([a.gid]);
  for (const line of fs.readFileSync('/etc/group', 'utf8').split('\n')) {
    const [name, , gid, members] = line.split(':');
    if (name && (members ?? '').split(',').includes(user)) gids.add(Number(gid));
  }
  return [...gids];
}

/**
 * Connects to the helper socket with the kernel seeing `user` as the caller: SO_PEERCRED records
 * the effective ids at connect(), so this process takes the user's ids and groups for the one
 * connect call and then returns to root. The socket's own permission check applies as for the user.
 */
export function connectAs(socketPath: string, user: TestUser | 'root'): number {
  if (user === 'root') return addon().connectUnix(socketPath);
  const name = USERS[user];
  const a = account(name);
  const saved = process.getgroups!();
  process.setgroups!(loginGroups(name));
  process.setegid!(a.gid);
  process.seteuid!(a.uid);
  try {
    return addon().connectUnix(socketPath);
  } finally {
    process.seteuid!(0);
    process.setegid!(0);
    process.setgroups!(saved);
  }
}

export class RawClient {
  private open = true;

  constructor(readonly fd: number) {}

  static connect(socketPath: string, user: TestUser | 'root' = 'a'): RawClient {
    return new RawClient(connectAs(socketPath, user));
  }

  /** A whole frame: the helper's u32 header over the body, fds riding with the header. */
  send(body: Buffer | string | object, fds: number[] = []): void {
    addon().sendFrame(this.fd, toBytes(body), fds, 10_000);
  }

  /** Bare bytes, no framing added. Returns false if the helper had already hung up. */
  write(bytes: Buffer): boolean {
    let off = 0;
    while (off < bytes.length) {
      try {
        off += fs.writeSync(this.fd, bytes, off, bytes.length - off);
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === 'EPIPE' || code === 'ECONNRESET') return false;
        if (code === 'EAGAIN') continue;
        throw e;
      }
    }
    return true;
  }

  /** The next frame, or the connection's end; an answer that never comes fails the test. */
  async recv(timeoutMs = 10_000): Promise<Reply> {
    let frame;
    try {
      frame = await addon().recvFrame(this.fd, MAX_RESPONSE_BYTES, 0, timeoutMs);
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'EIO';
      if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETRUNCATED') return { kind: 'closed', how: code };
      if (code === 'ETIMEDOUT') throw new Error(`the helper did not answer within ${timeoutMs} ms`);
      throw e;
    }
    if (frame === null) return { kind: 'closed', how: 'EOF' };
    let json: unknown;
    try {
      json = JSON.parse(frame.data.toString('utf8'));
    } catch {
      json = undefined;
    }
    return { kind: 'frame', raw: frame.data, json };
  }

  async request(body: Buffer | string | object, fds: number[] = [], timeoutMs = 10_000): Promise<Reply> {
    this.send(body, fds);
    return this.recv(timeoutMs);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    try {
      addon().close(this.fd);
    } catch {
      /* closed */
    }
  }
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** The reply is exactly {ok:false, code, message} with this code and a non-empty one-line message. */
export function assertErrorFrame(r: Reply, code: string | readonly string[], what = ''): { code: string; message: string } {
  assert.equal(r.kind, 'frame', `${what}: expected an error frame, the connection ended (${r.kind === 'closed' ? r.how : ''})`);
  if (r.kind !== 'frame') throw new Error('unreachable');
  assert.ok(r.raw.length > 0 && r.raw.length <= MAX_RESPONSE_BYTES, `${what}: reply of ${r.raw.length} bytes`);
  assert.doesNotThrow(() => new TextDecoder('utf-8', { fatal: true }).decode(r.raw), `${what}: reply is not valid UTF-8`);
  const parsed = ErrorResponse.safeParse(r.json);
  assert.ok(parsed.success, `${what}: not an error frame: ${r.raw.toString('utf8').slice(0, 300)}`);
  const codes = typeof code === 'string' ? [code] : code;
  assert.ok(codes.includes(parsed.data.code), `${what}: code ${parsed.data.code}, expected ${codes.join(' or ')}: ${parsed.data.message}`);
  assert.ok(parsed.data.message.trim().length > 0, `${what}: empty message`);
  assert.ok(!CONTROL.test(parsed.data.message), `${what}: the message is not one clean line: ${JSON.stringify(parsed.data.message.slice(0, 300))}`);
  return parsed.data;
}

export function assertClosed(r: Reply, what = ''): void {
  assert.equal(r.kind, 'closed', `${what}: expected the connection to be closed, got ${r.kind === 'frame' ? r.raw.toString('utf8').slice(0, 200) : ''}`);
}

export function assertHello(r: Reply, uid: number, what = ''): void {
  assert.equal(r.kind, 'frame', `${what}: hello was not answered`);
  if (r.kind !== 'frame') return;
  const parsed = HelloResponse.safeParse(r.json);
  assert.ok(parsed.success, `${what}: not a hello answer: ${r.raw.toString('utf8').slice(0, 300)}`);
  assert.equal(parsed.data.uid, uid);
}

export const HELLO = { verb: 'hello', version: 1 } as const;

/** A fresh connection as `user` gets its hello answered: the helper is alive and serving. */
export async function helloWorks(env: TestEnv, user: TestUser = 'a', timeoutMs = 10_000): Promise<void> {
  const c = RawClient.connect(env.socket, user);
  try {
    assertHello(await c.request(HELLO, [], timeoutMs), account(USERS[user]).uid, 'fresh hello');
  } finally {
    c.close();
  }
}

/** Every name under the helper's trees/ (two levels, .staging included) and pods/. */
export function stateEntries(env: TestEnv): string[] {
  const out: string[] = [];
  const walk = (rel: string, depth: number) => {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(env.state, rel));
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const r = path.join(rel, n);
      out.push(r);
      if (depth > 1 && fs.lstatSync(path.join(env.state, r)).isDirectory()) walk(r, depth - 1);
    }
  };
  walk('trees', 2);
  walk('pods', 1);
  return out;
}

export function helperFds(pid: number): Map<number, string> {
  const out = new Map<number, string>();
  const dir = `/proc/${pid}/fd`;
  for (const n of fs.readdirSync(dir)) {
    try {
      out.set(Number(n), fs.readlinkSync(path.join(dir, n)));
    } catch {
      /* closed meanwhile */
    }
  }
  return out;
}

/** Waits (a little) for the helper's fd table to come back to `baseline` entries. */
export async function settleFds(pid: number, baseline: number, timeoutMs = 5000): Promise<Map<number, string>> {
  const deadline = Date.now() + timeoutMs;
  let fds = helperFds(pid);
  while (fds.size > baseline && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    fds = helperFds(pid);
  }
  return fds;
}

/**
 * Runs test/lib/raw-frame-cli.js under setpriv as `user` (a real process of that user, as the
 * CLI is run) to send one frame (and fds it opens itself) and print the reply.
 */
export function rawFrameAs(env: TestEnv, user: TestUser, body: Buffer | string | object, fdSpecs: string[] = []): Promise<{ reply: Reply | { kind: 'error'; code: string; message: string }; stderr: string; code: number | null }> {
  const name = USERS[user];
  const script = path.join(REPO, 'dist', 'test', 'lib', 'raw-frame-cli.js');
  const child = spawn('setpriv', ['--reuid', name, '--regid', name, '--init-groups', '--', process.execPath, script, env.socket, toBytes(body).toString('hex'), ...fdSpecs], {
    cwd: '/',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      const text = Buffer.concat(out).toString('utf8').trim();
      let reply: Reply | { kind: 'error'; code: string; message: string };
      try {
        const o = JSON.parse(text) as { kind: string; hex?: string; how?: string; code?: string; message?: string };
        if (o.kind === 'frame') {
          const raw = Buffer.from(o.hex ?? '', 'hex');
          let json: unknown;
          try {
            json = JSON.parse(raw.toString('utf8'));
          } catch {
            json = undefined;
          }
          reply = { kind: 'frame', raw, json };
        } else if (o.kind === 'closed') reply = { kind: 'closed', how: o.how ?? '' };
        else reply = { kind: 'error', code: o.code ?? '', message: o.message ?? '' };
      } catch {
        reply = { kind: 'error', code: 'EOUTPUT', message: `raw-frame-cli printed ${JSON.stringify(text)}` };
      }
      resolve({ reply, stderr: Buffer.concat(err).toString('utf8'), code });
    });
  });
}
