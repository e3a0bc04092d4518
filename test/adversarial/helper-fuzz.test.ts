// Property-based fuzzing of ward-helper's frame handling (fast-check): random bytes, random JSON
// values and mutated valid requests, thousands of frames over a few connections of two users,
// then random byte streams with broken framing. Every frame must get exactly one answer: a
// well-formed error frame (EFRAME or EVERB: no fd ever rides along, so nothing can get further),
// or a hello answer when the frame happens to be a valid hello. The helper must stay up, create
// nothing, keep no fds, and audit every frame in an intact chain.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { verifyAuditLog } from '../../src/helper/audit';
import { MAX_REQUEST_BYTES } from '../../src/schema/protocol-limits';
import { account, TestEnv, USERS, type TestUser } from '../lib/env';
import {
  assertClosed, assertErrorFrame, assertHello, header, HELLO, helloWorks, helperFds, RawClient, settleFds, stateEntries, type Reply,
} from '../lib/raw-client';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const VERBS = ['hello', 'seal', 'run', 'signal'];
const IMAGE = { name: 'example.com/busybox', id: `sha512-${'ab'.repeat(64)}`, signer: 'unverified' };
const TEMPLATES: unknown[] = [
  HELLO,
  { verb: 'seal', image: IMAGE },
  {
    verb: 'run',
    apps: [{ tree: `sha256:${'0123456789abcdef'.repeat(4)}`, image: IMAGE, app: { exec: ['/bin/sh', '-c', 'true'], user: 0, group: 0, workingDirectory: '/', environment: [{ name: 'A', value: 'b' }] } }],
    hostname: 'web1', insecureOptions: ['image'],
  },
  { verb: 'signal', signal: 'SIGTERM' },
];

// ---- what the helper must answer: an oracle independent of its parser --------------------------

type Expect = 'hello' | 'EFRAME' | 'EFRAME|EVERB';

/** Each top-level key of a flat object's text, decoded, once per occurrence. */
function topKeys(text: string): string[] {
  return [...text.matchAll(/"((?:[^"\\]|\\.)*)"\s*:/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
}

function expected(body: Buffer): Expect {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return 'EFRAME';
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'EFRAME';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'EFRAME';
  if (isDeepStrictEqual(v, HELLO)) {
    const keys = topKeys(text);
    if (keys.length === 2 && keys.includes('verb') && keys.includes('version')) return 'hello';
    return 'EFRAME'; // a duplicate key
  }
  const verb = (v as { verb?: unknown }).verb;
  if (typeof verb !== 'string') return 'EFRAME';
  return 'EFRAME|EVERB';
}

/** Answers seen, by kind, for the test's diagnostics. */
const tally = new Map<string, number>();

function check(body: Buffer, r: Reply, uid: number, what: string): void {
  const want = expected(body);
  const shown = `${what}: ${JSON.stringify(body.toString('latin1').slice(0, 200))}`;
  if (want === 'hello') {
    assertHello(r, uid, shown);
    tally.set('hello', (tally.get('hello') ?? 0) + 1);
  } else {
    const e = assertErrorFrame(r, want === 'EFRAME' ? 'EFRAME' : ['EFRAME', 'EVERB'], shown);
    tally.set(e.code, (tally.get(e.code) ?? 0) + 1);
  }
}

// ---- generators --------------------------------------------------------------------------------

const nastyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', '..', '../..', '/..', '/bin/../..', 'a\u0000b', '\u0000', '\n', '\u001b[2J', '\ud800', '\uffff', 'hello', 'run', 'seal', 'signal',
    'sha256:' + '0'.repeat(64), 'x'.repeat(5000), '__proto__', 'constructor', 'SIGKILL', '/proc/self/root', '%s%n'),
);
const nastyNumber = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 1.5, 65535, 65536, 2 ** 31, 2 ** 32, -(2 ** 31), Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 1e308, -1e308, 5e-324),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  nastyString, nastyNumber, fc.boolean(), fc.constant(null),
  fc.jsonValue({ maxDepth: 3 }),
  fc.constant([]), fc.constant({}),
  fc.array(nastyString, { maxLength: 5 }),
);
const nastyKey = fc.oneof(fc.constantFrom('verb', 'version', 'extra', '__proto__', 'constructor', 'privileged', 'hostNetwork', 'tree', 'image', 'app', 'fds', 'uid'), fc.string({ maxLength: 12 }));

interface Mutation {
  op: 'delete' | 'replace' | 'add' | 'verb';
  pick: number;
  key: string;
  value: unknown;
}

interface TextMutation {
  kind: 'none' | 'duplicate-verb' | 'duplicate-key' | 'truncate' | 'flip' | 'insert-nul' | 'nest' | 'whitespace';
  pos: number;
  byte: number;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('delete', 'replace', 'add', 'verb'),
  pick: fc.nat(),
  key: nastyKey,
  value: nastyValue,
}) as fc.Arbitrary<Mutation>;

const textMutation: fc.Arbitrary<TextMutation> = fc.record({
  kind: fc.constantFrom('none', 'none', 'none', 'duplicate-verb', 'duplicate-key', 'truncate', 'flip', 'insert-nul', 'nest', 'whitespace'),
  pos: fc.nat(),
  byte: fc.nat({ max: 255 }),
}) as fc.Arbitrary<TextMutation>;

type Path = (string | number)[];

function paths(v: unknown, prefix: Path = []): Path[] {
  const out: Path[] = [];
  if (Array.isArray(v)) v.forEach((x, i) => out.push([...prefix, i], ...paths(x, [...prefix, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push([...prefix, k], ...paths(x, [...prefix, k]));
  return out;
}

function containers(v: unknown, prefix: Path = []): Path[] {
  if (!v || typeof v !== 'object') return [];
  const out: Path[] = [prefix];
  for (const [k, x] of Object.entries(v)) out.push(...containers(x, [...prefix, Array.isArray(v) ? Number(k) : k]));
  return out;
}

function at(v: unknown, p: Path): unknown {
  return p.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], v);
}

function mutate(template: unknown, ms: Mutation[], tm: TextMutation): Buffer {
  const v = structuredClone(template) as Record<string, unknown>;
  for (const m0 of ms) {
    // Generated values may be shared (fc.constant): never mutate or link them.
    const m = { ...m0, value: structuredClone(m0.value) };
    const all = paths(v);
    if (m.op === 'verb') {
      v.verb = typeof m.value === 'string' && m.pick % 2 ? m.value : VERBS[m.pick % VERBS.length];
    } else if (m.op === 'add') {
      const cs = containers(v);
      const target = at(v, cs[m.pick % cs.length]!);
      if (Array.isArray(target)) target.push(m.value);
      else Object.defineProperty(target, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
    } else if (all.length > 0) {
      const p = all[m.pick % all.length]!;
      const parent = at(v, p.slice(0, -1)) as Record<string | number, unknown>;
      const last = p[p.length - 1]!;
      if (m.op === 'delete') {
        if (Array.isArray(parent)) parent.splice(Number(last), 1);
        else delete parent[last];
      } else {
        parent[last] = m.value;
      }
    }
  }
  let text = JSON.stringify(v);
  const pos = text.length ? tm.pos % text.length : 0;
  switch (tm.kind) {
    case 'duplicate-verb':
      text = text.replace(/^\{/, '{"verb":"hello",');
      break;
    case 'duplicate-key': {
      const m = /"((?:[^"\\]|\\.)*)"\s*:\s*("(?:[^"\\]|\\.)*"|-?[0-9.eE+]+|true|false|null)/.exec(text);
      if (m) text = text.replace(m[0], `${m[0]},${m[0]}`);
      break;
    }
    case 'truncate':
      text = text.slice(0, pos);
      break;
    case 'insert-nul':
      text = `${text.slice(0, pos)}\u0000${text.slice(pos)}`;
      break;
    case 'nest':
      text = '['.repeat(40 + (tm.byte % 2000)) + text + ']'.repeat(40 + (tm.byte % 2000));
      break;
    case 'whitespace':
      text = text.replace(/([,:{}[\]])/g, ' \n\t$1\r ');
      break;
    case 'flip': {
      const b = Buffer.from(text, 'utf8');
      if (b.length) b[tm.pos % b.length] = tm.byte;
      return b.subarray(0, MAX_REQUEST_BYTES);
    }
    case 'none':
      break;
  }
  return Buffer.from(text, 'utf8').subarray(0, MAX_REQUEST_BYTES);
}

const randomBytes = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.uint8Array({ maxLength: 2048 }),
  // Mostly printable, so some of it gets past UTF-8 into the JSON reader.
  fc.string({ unit: 'binary-ascii', maxLength: 256 }).map((s) => Uint8Array.from(Buffer.from(s, 'latin1'))),
).map((u) => Buffer.from(u));

const jsonBody = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  // Objects that look like requests: a verb, maybe a real one, and random fields.
  fc.record({ verb: fc.oneof(fc.constantFrom(...VERBS), nastyString), rest: fc.dictionary(nastyKey, nastyValue, { maxKeys: 4 }) })
    .map(({ verb, rest }) => ({ ...rest, verb })),
).map((v) => Buffer.from(JSON.stringify(v) ?? 'null', 'utf8').subarray(0, MAX_REQUEST_BYTES));

const mutatedBody = fc.tuple(fc.nat({ max: TEMPLATES.length - 1 }), fc.array(mutation, { minLength: 0, maxLength: 3 }), textMutation)
  .map(([t, ms, tm]) => mutate(TEMPLATES[t], ms, tm));

/** One chunk of a raw byte stream: a whole frame, an oversized header, or bare bytes. */
const streamChunk = fc.oneof(
  { weight: 5, arbitrary: fc.oneof(randomBytes, jsonBody, mutatedBody).map((b) => Buffer.concat([header(b.length), b])) },
  { weight: 1, arbitrary: fc.integer({ min: MAX_REQUEST_BYTES + 1, max: 0xffffffff }).map((n) => header(n)) },
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 12 }).map((u) => Buffer.from(u)) },
  { weight: 1, arbitrary: fc.constant(header(0)) },
);

/** How the helper must read a byte stream: the complete frames' bodies, then how it ends. */
function framesOf(stream: Buffer): { bodies: Buffer[]; end: 'oversized' | 'partial' | 'clean' } {
  const bodies: Buffer[] = [];
  let pos = 0;
  while (stream.length - pos >= 4) {
    const n = stream.readUInt32BE(pos);
    if (n > MAX_REQUEST_BYTES) return { bodies, end: 'oversized' };
    if (stream.length - pos - 4 < n) return { bodies, end: 'partial' };
    bodies.push(stream.subarray(pos + 4, pos + 4 + n));
    pos += 4 + n;
  }
  return { bodies, end: pos === stream.length ? 'clean' : 'partial' };
}

// ---- the test ----------------------------------------------------------------------------------

describe('ward-helper under random frames (fast-check)', () => {
  const env = new TestEnv('helper-fuzz');
  const users: TestUser[] = ['a', 'b', 'a', 'b'];
  const uids = { a: account(USERS.a).uid, b: account(USERS.b).uid, out: account(USERS.out).uid, admin: account(USERS.admin).uid };
  let conns: RawClient[] = [];
  let helperPid = 0;
  let baselineFds = 0;
  let baselineState: string[] = [];
  let sent = 0;
  let hellos = 0;
  let auditBefore = 0;

  const auditCount = () => fs.readFileSync(path.join(env.state, 'audit.log'), 'utf8').split('\n').filter(Boolean).length;

  before(async () => {
    await env.start();
    helperPid = env.helperPid!;
    await helloWorks(env);
    await sleep(300);
    baselineFds = helperFds(helperPid).size;
    baselineState = stateEntries(env);
    conns = users.map((u) => RawClient.connect(env.socket, u));
    auditBefore = auditCount();
  });

  after(async () => {
    for (const c of conns) c.close();
    await env.stop();
  });

  /** Sends a batch spread over the connections (each connection in order, all at once). */
  async function sendBatch(bodies: Buffer[], what: string): Promise<void> {
    await Promise.all(conns.map(async (c, i) => {
      for (let j = i; j < bodies.length; j += conns.length) {
        const body = bodies[j]!;
        sent++;
        check(body, await c.request(body), uids[users[i]!], `${what} #${sent}`);
      }
    }));
  }

  async function alive(): Promise<void> {
    hellos++;
    await helloWorks(env, hellos % 2 ? 'a' : 'b', 5000);
  }

  const params = { endOnFailure: true } as const;

  test('(a) random byte strings as frame bodies', async () => {
    await fc.assert(fc.asyncProperty(fc.array(randomBytes, { minLength: 8, maxLength: 8 }), async (bodies) => {
      await sendBatch(bodies, 'random bytes');
    }), { ...params, numRuns: 300 });
    await alive();
  });

  test('(b) random JSON values and request-shaped objects', async () => {
    await fc.assert(fc.asyncProperty(fc.array(jsonBody, { minLength: 8, maxLength: 8 }), async (bodies) => {
      await sendBatch(bodies, 'random JSON');
    }), { ...params, numRuns: 250 });
    await alive();
  });

  test('(c) valid requests mutated: fields deleted, added, retyped; duplicated keys, cut, flipped, nested text', async () => {
    let helloAnswers = 0;
    await fc.assert(fc.asyncProperty(fc.array(mutatedBody, { minLength: 8, maxLength: 8 }), async (bodies) => {
      helloAnswers += bodies.filter((b) => expected(b) === 'hello').length;
      await sendBatch(bodies, 'mutated request');
      await alive();
    }), { ...params, numRuns: 300 });
    assert.ok(helloAnswers > 0, 'some mutations leave a valid hello, and those are served');
  });

  test('every frame was answered on the connection it came on, and audited once', async (t) => {
    t.diagnostic(`${sent} frames over ${conns.length} connections; answers: ${[...tally].map(([k, n]) => `${k} ${n}`).join(', ')}`);
    assert.ok(sent >= 3000, `${sent} frames sent`);
    for (const [i, c] of conns.entries()) assertHello(await c.request(HELLO), uids[users[i]!], `connection ${i} still open`);
    // One record per frame and per liveness hello, plus the four above.
    const deadline = Date.now() + 3000;
    while (auditCount() - auditBefore < sent + hellos + conns.length && Date.now() < deadline) await sleep(20);
    assert.equal(auditCount() - auditBefore, sent + hellos + conns.length);
  });

  test('(d) random byte streams: frames, oversized headers, stray bytes, zero lengths; answered frame by frame', async (t) => {
    let streams = 0;
    await fc.assert(fc.asyncProperty(fc.array(streamChunk, { minLength: 1, maxLength: 6 }), fc.constantFrom<TestUser>('a', 'b'), async (chunks, user) => {
      const stream = Buffer.concat(chunks);
      const { bodies, end } = framesOf(stream);
      const c = RawClient.connect(env.socket, user);
      streams++;
      try {
        c.write(stream);
        for (const [i, body] of bodies.entries()) check(body, await c.recv(), uids[user], `stream ${streams} frame ${i + 1} of ${bodies.length} (${end})`);
        if (end === 'oversized') {
          assertErrorFrame(await c.recv(), 'EFRAME', `stream ${streams}: oversized header`);
          assertClosed(await c.recv(), `stream ${streams}: closed after an oversized header`);
        }
      } finally {
        c.close();
      }
    }), { ...params, numRuns: 400 });
    t.diagnostic(`${streams} streams on fresh connections`);
    await alive();
  });

  test('afterwards: the helper serves, created nothing, holds no extra fds, and its audit chain is intact', async () => {
    for (const c of conns) c.close();
    conns = [];
    await helloWorks(env, 'a');
    await helloWorks(env, 'b');
    assert.deepEqual(stateEntries(env), baselineState);
    const fds = await settleFds(helperPid, baselineFds);
    assert.ok(fds.size <= baselineFds, `the helper holds ${fds.size} fds, ${baselineFds} before: ${[...fds.values()].join(' ')}`);
    const v = verifyAuditLog(fs.readFileSync(path.join(env.state, 'audit.log'), 'utf8'));
    assert.ok(v.ok, JSON.stringify(v));
    assert.ok(!/ward-helper: .*(TypeError|RangeError|Error:)/.test(env.helperLog), `the helper logged a failure:\n${env.helperLog}`);
  });
});
