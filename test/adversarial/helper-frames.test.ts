// ward-helper against hostile callers (DESIGN.md §3, invariants 2 and 3): broken framing, bad
// JSON, unknown and duplicate fields, wrong types, bad ids and paths, trees that are not the
// caller's, fds of the wrong kind and number, stalling and greedy clients. Each case gets an
// error frame with the right code and a one-line message (or, for framing that cannot be
// answered, a closed connection); afterwards the helper still serves, nothing is created in its
// state dir, and it holds no copy of any fd it was given.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { verifyAuditLog } from '../../src/helper/audit';
import { MAX_CONNECTIONS_PER_USER } from '../../src/helper/server';
import type { AuditRecord } from '../../src/schema/audit';
import { MAX_REQUEST_BYTES } from '../../src/schema/protocol-limits';
import { buildBusyboxAci } from '../lib/aci-builder';
import { account, TestEnv, USERS } from '../lib/env';
import {
  assertClosed, assertErrorFrame, assertHello, header, HELLO, helloWorks, helperFds, O_NOFOLLOW, O_PATH,
  RawClient, rawFrameAs, settleFds, stateEntries, toBytes, type Reply,
} from '../lib/raw-client';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NO_SUCH_TREE = `sha256:${'0123456789abcdef'.repeat(4)}`;
const IMAGE = { name: 'example.com/busybox', id: `sha512-${'ab'.repeat(64)}`, signer: 'unverified' };
const APP = { exec: ['/bin/sh', '-c', 'true'], user: 0, group: 0, workingDirectory: '/', environment: [] as { name: string; value: string }[] };

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

/** A run request of one app; over's tree, image and app go to that app, its other keys to the request. */
function runReq(over: Record<string, Json> = {}, app: Record<string, Json> = {}): Record<string, Json> {
  const { tree = NO_SUCH_TREE, image = IMAGE, app: appOver, ...rest } = over;
  return { verb: 'run', apps: [{ tree, image, app: appOver ?? { ...APP, ...app } }], insecureOptions: ['image'], ...rest };
}

function sealReq(image: Record<string, Json> = {}): Record<string, Json> {
  return { verb: 'seal', image: { ...IMAGE, ...image } };
}

describe('ward-helper answers hostile callers with error frames and keeps serving', () => {
  const env = new TestEnv('hostile-frames');
  const uidA = account(USERS.a).uid;
  let helperPid = 0;
  let baselineFds = 0;
  let baselineState: string[] = [];
  let treeA = '';
  let treeAImage = IMAGE;
  // Files whose fds the tests pass; after each case, no helper fd may point at any of them.
  const inFile = env.fixture('stdin.txt');
  const outFile = env.fixture('stdout.txt');
  const rootDir = env.fixture('root-owned-dir');
  const linkFile = env.fixture('a-symlink');
  let passed: { fd: number; use: 'read' | 'write' | 'stat' }[] = [];

  /** Opens fds for a case; they are checked (still ours, still usable) and closed afterwards. */
  function stdin(): number {
    const fd = fs.openSync(inFile, 'r');
    passed.push({ fd, use: 'read' });
    return fd;
  }
  function stdout(): number {
    const fd = fs.openSync(outFile, 'a');
    passed.push({ fd, use: 'write' });
    return fd;
  }
  function extraFd(file: string, flags: number): number {
    const fd = fs.openSync(file, flags);
    passed.push({ fd, use: 'stat' });
    return fd;
  }
  const stdio = () => [stdin(), stdout(), stdout()];

  before(async () => {
    await env.start();
    helperPid = env.helperPid!;
    fs.writeFileSync(inFile, 'input\n', { mode: 0o644 });
    fs.writeFileSync(outFile, '', { mode: 0o644 });
    fs.mkdirSync(rootDir, { mode: 0o755 });
    fs.symlinkSync(inFile, linkFile);
    // A tree sealed by ward-test-a, the way ward seals it.
    const aci = env.fixture('busybox.aci');
    await buildBusyboxAci(aci);
    const r = await env.ward('a', ['run', '--insecure-options=image', aci, '--', '-c', 'true']);
    assert.equal(r.code, 0, r.stderr + env.helperLog);
    const images = path.join(env.storeDir('a'), 'images');
    const rec = JSON.parse(fs.readFileSync(path.join(images, fs.readdirSync(images)[0]!), 'utf8')) as { sealed?: string; name: string; id: string };
    assert.match(rec.sealed ?? '', /^sha256:[0-9a-f]{64}$/);
    treeA = rec.sealed!;
    treeAImage = { name: rec.name, id: rec.id, signer: 'unverified' };
    assert.ok(fs.existsSync(path.join(env.state, 'trees', String(uidA), treeA.slice('sha256:'.length))), 'the sealed tree is in the helper store');
    await helloWorks(env);
    baselineState = stateEntries(env);
    // The count once the hello connection above is gone (the helper closes it asynchronously).
    await sleep(300);
    baselineFds = helperFds(helperPid).size;
  });

  after(async () => {
    await env.stop();
  });

  /** What must hold after every case. */
  async function aftermath(what: string): Promise<void> {
    await helloWorks(env);
    // A failure is reported once, against this case; later cases compare with what is there now.
    const entries = stateEntries(env);
    const expectedEntries = baselineState;
    baselineState = entries;
    assert.deepEqual(entries, expectedEntries, `${what}: the helper created something in its state dir`);
    const fds = await settleFds(helperPid, baselineFds);
    const expectedFds = baselineFds;
    baselineFds = Math.max(baselineFds, fds.size);
    assert.ok(fds.size <= expectedFds, `${what}: the helper holds ${fds.size} fds, ${expectedFds} before: ${[...fds.values()].join(' ')}`);
    const ours = new Set([inFile, outFile, rootDir, linkFile, env.fixture('seal-dirs')]);
    for (const [n, target] of fds) {
      assert.ok(![...ours].some((p) => target === p || target.startsWith(`${p}/`)), `${what}: the helper kept fd ${n} -> ${target}`);
    }
    for (const { fd, use } of passed) {
      assert.ok(fs.fstatSync(fd).ino > 0, `${what}: fd ${fd} we passed is no longer usable`);
      if (use === 'read') {
        const b = Buffer.alloc(6);
        assert.equal(fs.readSync(fd, b, 0, 6, 0), 6, `${what}: fd ${fd} we passed cannot be read`);
        assert.equal(b.toString(), 'input\n');
      } else if (use === 'write') {
        assert.equal(fs.writeSync(fd, '.'), 1, `${what}: fd ${fd} we passed cannot be written`);
      }
    }
    for (const { fd } of passed) fs.closeSync(fd);
    passed = [];
  }

  /** One request on a fresh connection as ward-test-a: the error, then the same connection still serves. */
  async function expectError(what: string, body: Buffer | string | object, code: string | string[], fds: number[] = []): Promise<void> {
    const c = RawClient.connect(env.socket, 'a');
    try {
      assertErrorFrame(await c.request(body, fds), code, what);
      assertHello(await c.request(HELLO), uidA, `${what}: the same connection afterwards`);
    } finally {
      c.close();
    }
    await aftermath(what);
  }

  /** Framing the helper cannot answer in-band: at most an EFRAME frame, then the end of the connection. */
  async function expectDropped(what: string, c: RawClient, mayAnswer: boolean): Promise<void> {
    try {
      let r = await c.recv();
      if (r.kind === 'frame') {
        assert.ok(mayAnswer, `${what}: unexpected answer ${r.raw.toString('utf8').slice(0, 200)}`);
        assertErrorFrame(r, 'EFRAME', what);
        r = await c.recv();
      }
      assertClosed(r, what);
    } finally {
      c.close();
    }
    await aftermath(what);
  }

  function auditRecords(): AuditRecord[] {
    return fs.readFileSync(path.join(env.state, 'audit.log'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord);
  }

  async function audited(what: string, pred: (r: AuditRecord) => boolean, since: number): Promise<void> {
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      if (auditRecords().slice(since).some(pred)) return;
      await sleep(20);
    }
    assert.fail(`${what}: no audit record for it`);
  }

  describe('framing', () => {
    test('a zero-length frame', () => expectError('zero-length frame', Buffer.alloc(0), 'EFRAME'));

    test('a truncated header (2 of 4 bytes, then close) is dropped and audited', async () => {
      const since = auditRecords().length;
      const c = RawClient.connect(env.socket, 'a');
      c.write(Buffer.from([0, 0]));
      c.close();
      await audited('truncated header', (r) => r.verb === '(frame)' && r.argsDigest === 'ETRUNCATED' && r.uid === uidA && r.decision === 'deny', since);
      await aftermath('truncated header');
    });

    test('a truncated body (header says 100, 10 sent, then close) is dropped and audited', async () => {
      const since = auditRecords().length;
      const c = RawClient.connect(env.socket, 'a');
      c.write(Buffer.concat([header(100), Buffer.from('{"verb":"h')]));
      c.close();
      await audited('truncated body', (r) => r.verb === '(frame)' && r.argsDigest === 'ETRUNCATED' && r.uid === uidA, since);
      await aftermath('truncated body');
    });

    test('an oversized header (1 GiB): EFRAME, then the connection is closed', async () => {
      const c = RawClient.connect(env.socket, 'a');
      c.write(header(1 << 30));
      await expectDropped('1 GiB header', c, true);
    });

    test('a header of 0xffffffff: EFRAME, then the connection is closed', async () => {
      const c = RawClient.connect(env.socket, 'a');
      c.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7b]));
      await expectDropped('4 GiB header', c, true);
    });

    test(`a frame of MAX_REQUEST_BYTES+1 (${MAX_REQUEST_BYTES + 1}): EFRAME, then the connection is closed`, async () => {
      const body = Buffer.alloc(MAX_REQUEST_BYTES + 1, 0x20);
      toBytes(HELLO).copy(body);
      const c = RawClient.connect(env.socket, 'a');
      c.write(Buffer.concat([header(body.length), body]));
      await expectDropped('MAX+1 frame', c, true);
    });

    test(`a hello padded to exactly MAX_REQUEST_BYTES (${MAX_REQUEST_BYTES}) is served`, async () => {
      const body = Buffer.alloc(MAX_REQUEST_BYTES, 0x20);
      toBytes(HELLO).copy(body);
      const c = RawClient.connect(env.socket, 'a');
      try {
        assertHello(await c.request(body), uidA, 'MAX frame');
      } finally {
        c.close();
      }
      await aftermath('MAX frame');
    });

    test('frames pipelined in one write, and a frame dribbled byte by byte, are each answered in order', async () => {
      const c = RawClient.connect(env.socket, 'a');
      try {
        const frames = [HELLO, '{"verb":"nope"}', 'null', HELLO].map((b) => Buffer.concat([header(toBytes(b).length), toBytes(b)]));
        assert.ok(c.write(Buffer.concat(frames)));
        assertHello(await c.recv(), uidA, 'pipelined 1');
        assertErrorFrame(await c.recv(), 'EVERB', 'pipelined 2');
        assertErrorFrame(await c.recv(), 'EFRAME', 'pipelined 3');
        assertHello(await c.recv(), uidA, 'pipelined 4');
        const one = frames[1]!;
        for (let i = 0; i < one.length; i++) {
          c.write(one.subarray(i, i + 1));
          await sleep(2);
        }
        assertErrorFrame(await c.recv(), 'EVERB', 'dribbled');
      } finally {
        c.close();
      }
      await aftermath('pipelined');
    });
  });

  describe('JSON', () => {
    const cases: [string, Buffer | string, string][] = [
      ['invalid JSON: cut off', '{"verb":"hello",', 'EFRAME'],
      ['invalid JSON: bare words', 'hello version 1', 'EFRAME'],
      ['invalid JSON: unquoted keys', '{verb:"hello",version:1}', 'EFRAME'],
      ['invalid JSON: single quotes', "{'verb':'hello','version':1}", 'EFRAME'],
      ['invalid JSON: trailing comma', '{"verb":"hello","version":1,}', 'EFRAME'],
      ['invalid JSON: an extra closing brace', '{"verb":"hello","version":1}}', 'EFRAME'],
      ['invalid JSON: two documents in one frame', '{"verb":"hello","version":1}{"verb":"hello","version":1}', 'EFRAME'],
      ['invalid JSON: a lone backslash escape', '{"verb":"hel\\lo","version":1}', 'EFRAME'],
      ['invalid JSON: a raw newline in a string', '{"verb":"hel\nlo","version":1}', 'EFRAME'],
      ['not an object: an empty array', '[]', 'EFRAME'],
      ['not an object: the request inside an array', '[{"verb":"hello","version":1}]', 'EFRAME'],
      ['not an object: a number', '1', 'EFRAME'],
      ['not an object: a string', '"hello"', 'EFRAME'],
      ['not an object: null', 'null', 'EFRAME'],
      ['not an object: true', 'true', 'EFRAME'],
      ['unknown verb', '{"verb":"exec","argv":["/bin/sh"]}', 'EVERB'],
      ['unknown verb in the wrong case', '{"verb":"HELLO","version":1}', 'EVERB'],
      ['unknown verb: an empty string', '{"verb":"","version":1}', 'EVERB'],
      ['unknown verb: a prototype name', '{"verb":"constructor","version":1}', 'EVERB'],
      ['unknown verb: __proto__', '{"verb":"__proto__","version":1}', 'EVERB'],
      ['unknown verb with control characters (the message stays one line)', '{"verb":"x\\ny\\r\\u001b[2Jz","version":1}', 'EVERB'],
      ['unknown verb, 60 KiB long', JSON.stringify({ verb: 'v'.repeat(60_000) }), 'EVERB'],
      ['missing verb', '{"version":1}', 'EFRAME'],
      ['an empty object', '{}', 'EFRAME'],
      ['verb of the wrong type: number', '{"verb":1,"version":1}', 'EFRAME'],
      ['verb of the wrong type: array', '{"verb":["hello"],"version":1}', 'EFRAME'],
      ['verb of the wrong type: null', '{"verb":null,"version":1}', 'EFRAME'],
      ['verb of the wrong type: object', '{"verb":{"hello":1},"version":1}', 'EFRAME'],
      ['unknown field', '{"verb":"hello","version":1,"extra":true}', 'EFRAME'],
      ['unknown field __proto__', '{"__proto__":{"admin":true},"verb":"hello","version":1}', 'EFRAME'],
      ['unknown field constructor', '{"verb":"hello","version":1,"constructor":{"prototype":{}}}', 'EFRAME'],
      ['unknown field with control characters (the message stays one line)', '{"verb":"hello","version":1,"a\\nb\\u0007":1}', 'EFRAME'],
      ['unknown field in seal.image', JSON.stringify(sealReq({ path: '/etc' })), 'EFRAME'],
      ['unknown field in run: privileged', JSON.stringify(runReq({ privileged: true })), 'EFRAME'],
      ['unknown field in run: hostNetwork', JSON.stringify(runReq({ hostNetwork: true })), 'EFRAME'],
      ['unknown field in run.app: mounts', JSON.stringify(runReq({}, { mounts: [{ source: '/', target: '/host' }] })), 'EFRAME'],
      ['unknown field in run.app.environment[]', JSON.stringify(runReq({}, { environment: [{ name: 'A', value: 'b', export: true }] })), 'EFRAME'],
      ['duplicate field verb', '{"verb":"hello","verb":"hello","version":1}', 'EFRAME'],
      ['duplicate field with different values', '{"verb":"run","verb":"hello","version":1}', 'EFRAME'],
      ['duplicate field version', '{"verb":"hello","version":1,"version":1}', 'EFRAME'],
      ['duplicate field spelled with an escape', '{"verb":"hello","v\\u0065rsion":1,"version":1}', 'EFRAME'],
      ['duplicate field with control characters (the message stays one line)', '{"verb":"hello","x\\ny":1,"x\\ny":1}', 'EFRAME'],
      ['duplicate field nested in seal.image', `{"verb":"seal","image":{"name":"a","name":"b","id":"${IMAGE.id}","signer":"unverified"}}`, 'EFRAME'],
      ['wrong type: version as a string', '{"verb":"hello","version":"1"}', 'EFRAME'],
      ['wrong type: version as a boolean', '{"verb":"hello","version":true}', 'EFRAME'],
      ['wrong type: version as null', '{"verb":"hello","version":null}', 'EFRAME'],
      ['wrong type: version as an array', '{"verb":"hello","version":[1]}', 'EFRAME'],
      ['wrong type: seal.image as a string', '{"verb":"seal","image":"example.com/busybox"}', 'EFRAME'],
      ['wrong type: run.app as an array', JSON.stringify(runReq({ app: [] })), 'EFRAME'],
      ['wrong type: run.app.exec as a string', JSON.stringify(runReq({}, { exec: '/bin/sh' })), 'EFRAME'],
      ['wrong type: run.app.environment as an object', JSON.stringify(runReq({}, { environment: { A: 'b' } })), 'EFRAME'],
      ['wrong type: run.insecureOptions as a string', JSON.stringify(runReq({ insecureOptions: 'image' })), 'EFRAME'],
      ['wrong type: run.hostname as a number', JSON.stringify(runReq({ hostname: 7 })), 'EFRAME'],
      ['wrong type: run.hostname as null', JSON.stringify(runReq({ hostname: null })), 'EFRAME'],
      ['version 2', '{"verb":"hello","version":2}', 'EFRAME'],
      ['version 0', '{"verb":"hello","version":0}', 'EFRAME'],
      ['version -1', '{"verb":"hello","version":-1}', 'EFRAME'],
      ['version 1.5', '{"verb":"hello","version":1.5}', 'EFRAME'],
      ['version 2^53+1', '{"verb":"hello","version":9007199254740993}', 'EFRAME'],
      ['version 1e308', '{"verb":"hello","version":1e308}', 'EFRAME'],
      ['version 1e400 (Infinity)', '{"verb":"hello","version":1e400}', 'EFRAME'],
      ['version -1e400', '{"verb":"hello","version":-1e400}', 'EFRAME'],
      ['version with 10000 digits', `{"verb":"hello","version":1${'0'.repeat(10_000)}}`, 'EFRAME'],
      ['NUL escaped inside the verb', '{"verb":"hello\\u0000","version":1}', 'EFRAME'],
      ['NUL escaped inside a key', '{"verb":"hello","version\\u0000":1}', 'EFRAME'],
      ['a raw NUL byte inside a string', Buffer.from('{"verb":"hel\u0000lo","version":1}', 'latin1'), 'EFRAME'],
      ['a raw NUL byte after the document', Buffer.from('{"verb":"hello","version":1}\u0000', 'latin1'), 'EFRAME'],
      ['NUL in run.app.exec', JSON.stringify(runReq({}, { exec: ['/bin/sh\u0000/../../x'] })), 'EFRAME'],
      ['NUL in run.app.environment value', JSON.stringify(runReq({}, { environment: [{ name: 'A', value: 'x\u0000y' }] })), 'EFRAME'],
      ['NUL in seal.image.name', JSON.stringify(sealReq({ name: 'a\u0000b' })), 'EFRAME'],
      ['invalid UTF-8: 0xff in a string', Buffer.from([...Buffer.from('{"verb":"'), 0xff, ...Buffer.from('","version":1}')]), 'EFRAME'],
      ['invalid UTF-8: overlong NUL (c0 80)', Buffer.from([...Buffer.from('{"verb":"hello'), 0xc0, 0x80, ...Buffer.from('","version":1}')]), 'EFRAME'],
      ['invalid UTF-8: an encoded surrogate (ed a0 80)', Buffer.from([...Buffer.from('{"verb":"'), 0xed, 0xa0, 0x80, ...Buffer.from('","version":1}')]), 'EFRAME'],
      ['invalid UTF-8: a cut multi-byte sequence at the end', Buffer.from([...Buffer.from('{"verb":"hello","version":1}'), 0xe2, 0x82]), 'EFRAME'],
      ['invalid UTF-8: a bare continuation byte outside strings', Buffer.from([0x80, ...Buffer.from('{"verb":"hello","version":1}')]), 'EFRAME'],
      ['invalid UTF-8: UTF-16 (fe ff)', Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from('{"verb":"hello","version":1}', 'utf16le')]), 'EFRAME'],
      ['deeply nested arrays (depth 10000)', '['.repeat(10_000) + ']'.repeat(10_000), 'EFRAME'],
      ['deeply nested objects (depth 10000)', '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000), 'EFRAME'],
      ['deep nesting that never closes (60000 brackets)', '['.repeat(60_000), 'EFRAME'],
      ['deep nesting inside a valid request', JSON.stringify(runReq({}, { exec: ['/bin/sh'] })).replace('"exec":', '"exec":' + '['.repeat(40)).replace(']', ']'.repeat(41)), 'EFRAME'],
    ];
    for (const [what, body, code] of cases) test(what, () => expectError(what, body, code));
  });

  describe('run arguments (with three good stdio fds)', () => {
    const cases: [string, Record<string, Json>, string][] = [
      ['exec path with ..', runReq({}, { exec: ['/bin/../../../usr/bin/id'] }), 'EFRAME'],
      ['exec path ../bin/sh', runReq({}, { exec: ['../bin/sh'] }), 'EFRAME'],
      ['exec path relative', runReq({}, { exec: ['bin/sh'] }), 'EFRAME'],
      ['exec path with a . component', runReq({}, { exec: ['/bin/./sh'] }), 'EFRAME'],
      ['exec path with an empty component', runReq({}, { exec: ['//bin/sh'] }), 'EFRAME'],
      ['exec empty', runReq({}, { exec: [] }), 'EFRAME'],
      ['exec of 1025 arguments', runReq({}, { exec: ['/bin/sh', ...Array<string>(1024).fill('x')] }), 'EFRAME'],
      ['workingDirectory ../..', runReq({}, { workingDirectory: '../..' }), 'EFRAME'],
      ['workingDirectory /tmp/../..', runReq({}, { workingDirectory: '/tmp/../..' }), 'EFRAME'],
      ['workingDirectory relative', runReq({}, { workingDirectory: 'tmp' }), 'EFRAME'],
      ['workingDirectory empty', runReq({}, { workingDirectory: '' }), 'EFRAME'],
      ['hostname with an underscore', runReq({ hostname: 'bad_host' }), 'EFRAME'],
      ['hostname starting with -', runReq({ hostname: '-x' }), 'EFRAME'],
      ['hostname with a dot', runReq({ hostname: 'a.b' }), 'EFRAME'],
      ['hostname of 64 characters', runReq({ hostname: 'a'.repeat(64) }), 'EFRAME'],
      ['hostname empty', runReq({ hostname: '' }), 'EFRAME'],
      ['hostname with a newline', runReq({ hostname: 'a\nb' }), 'EFRAME'],
      ['user 65536', runReq({}, { user: 65536 }), 'EFRAME'],
      ['user -1', runReq({}, { user: -1 }), 'EFRAME'],
      ['user 4294967295', runReq({}, { user: 4294967295 }), 'EFRAME'],
      ['user 1.5', runReq({}, { user: 1.5 }), 'EFRAME'],
      ['user "0"', runReq({}, { user: '0' }), 'EFRAME'],
      ['group 65536', runReq({}, { group: 65536 }), 'EFRAME'],
      ['group -1', runReq({}, { group: -1 }), 'EFRAME'],
      ['environment name with =', runReq({}, { environment: [{ name: 'LD_PRELOAD=/x', value: 'y' }] }), 'EFRAME'],
      ['environment name starting with a digit', runReq({}, { environment: [{ name: '1A', value: 'y' }] }), 'EFRAME'],
      ['tree with ..', runReq({ tree: 'sha256:../../../../etc' }), 'EFRAME'],
      ['tree as a path', runReq({ tree: '/var/lib/ward/trees/0/x' }), 'EFRAME'],
      ['tree with upper-case hex', runReq({ tree: `sha256:${'A'.repeat(64)}` }), 'EFRAME'],
      ['tree with 63 hex digits', runReq({ tree: `sha256:${'a'.repeat(63)}` }), 'EFRAME'],
      ['tree as sha512', runReq({ tree: `sha512-${'a'.repeat(128)}` }), 'EFRAME'],
      ['image id that is no digest', runReq({ image: { ...IMAGE, id: '../x' } }), 'EFRAME'],
      ['image signer that is no fingerprint', runReq({ image: { ...IMAGE, signer: 'root' } }), 'EFRAME'],
      ['image name with an escape sequence', runReq({ image: { ...IMAGE, name: 'x\u001b[31m' } }), 'EFRAME'],
      ['insecure option the protocol does not know', runReq({ insecureOptions: ['image', 'seccomp'] }), 'EFRAME'],
      ['nine insecure options', runReq({ insecureOptions: Array<string>(9).fill('image') }), 'EFRAME'],
      ['an unverified image without --insecure-options=image', runReq({ insecureOptions: [] }), 'EDENIED'],
      ['a tree digest that does not exist', runReq(), 'ENOTREE'],
    ];
    for (const [what, req, code] of cases) test(what, () => expectError(what, req, code, stdio()));
  });

  describe('fds of the wrong number or kind', () => {
    test('run with 0 fds', () => expectError('run, 0 fds', runReq(), 'EFRAME', []));
    test('run with 2 fds', () => expectError('run, 2 fds', runReq(), 'EFRAME', [stdin(), stdout()]));
    test('hello with an fd', () => expectError('hello, 1 fd', HELLO, 'EFRAME', [stdin()]));
    test('an fd riding on invalid JSON', () => expectError('fd with bad JSON', '{"verb":', 'EFRAME', [stdin(), stdout()]));
    test('fds riding on an unknown verb', () => expectError('fds with unknown verb', '{"verb":"nope"}', 'EVERB', stdio()));
    test('run with an O_PATH fd as stdin', () => expectError('O_PATH stdin', runReq(), 'EFRAME', [extraFd(inFile, O_PATH), stdout(), stdout()]));
    test('run with a directory fd as stdin', () => expectError('dir stdin', runReq(), 'EFRAME', [extraFd(rootDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY), stdout(), stdout()]));
    test('run with an O_PATH symlink as stdin', () => expectError('symlink stdin', runReq(), 'EFRAME', [extraFd(linkFile, O_PATH | O_NOFOLLOW), stdout(), stdout()]));
    test('run with a write-only stdin', () => expectError('write-only stdin', runReq(), 'EFRAME', [stdout(), stdout(), stdout()]));
    test('run with a read-only stdout', () => expectError('read-only stdout', runReq(), 'EFRAME', [stdin(), stdin(), stdout()]));
    test('run with a directory as stderr', () => expectError('dir stderr', runReq(), 'EFRAME', [stdin(), stdout(), extraFd(rootDir, fs.constants.O_RDONLY)]));
    test('seal with 0 fds', () => expectError('seal, 0 fds', sealReq(), 'EFRAME', []));
    test('seal with 2 fds', () => expectError('seal, 2 fds', sealReq(), 'EFRAME', [extraFd(rootDir, fs.constants.O_RDONLY), extraFd(rootDir, fs.constants.O_RDONLY)]));
    test('seal with a regular file', () => expectError('seal a file', sealReq(), 'ESEAL', [stdin()]));
    test('seal with an O_PATH symlink', () => expectError('seal a symlink', sealReq(), 'ESEAL', [extraFd(linkFile, O_PATH | O_NOFOLLOW)]));
    test('seal with a directory owned by root (outside the caller\'s subordinate range)', () =>
      expectError('seal a root dir', sealReq(), 'ESEAL', [extraFd(rootDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY)]));
    test('seal with an O_PATH fd of a directory owned by root', () => expectError('seal an O_PATH root dir', sealReq(), 'ESEAL', [extraFd(rootDir, O_PATH)]));
    test('seal of /', () => expectError('seal /', sealReq(), 'ESEAL', [extraFd('/', fs.constants.O_RDONLY | fs.constants.O_DIRECTORY)]));

    test('seal of a directory owned by another user\'s subordinate range', async () => {
      const dir = path.join(env.fixture('seal-dirs'), 'of-b');
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
      const b = account(USERS.b);
      fs.chownSync(dir, b.subuid, b.subgid);
      await expectError('seal b\'s tree as a', sealReq(), 'ESEAL', [extraFd(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY)]);
    });

    for (const user of ['a', 'b'] as const) {
      test(`seal (as ${USERS[user]}) of a tree of the caller's range holding a root-owned file leaves nothing behind`, async () => {
        const dir = path.join(env.fixture('seal-dirs'), `bad-inside-${user}`);
        fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
        const acct = account(USERS[user]);
        fs.chownSync(dir, acct.subuid, acct.subgid);
        fs.writeFileSync(path.join(dir, 'setuid-root'), 'x', { mode: 0o4755 });
        const fd = extraFd(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
        const c = RawClient.connect(env.socket, user);
        try {
          assertErrorFrame(await c.request(sealReq(), [fd]), 'ESEAL', 'root-owned file inside');
        } finally {
          c.close();
        }
        await aftermath(`seal with a root-owned file, as ${USERS[user]}`);
      });
    }

    test('signal outside a run', () => expectError('signal outside a run', { verb: 'signal', signal: 'SIGKILL' }, 'EVERB'));
    test('signal with a signal the protocol does not know', () => expectError('signal SIGSTOP', { verb: 'signal', signal: 'SIGSTOP' }, 'EFRAME'));

    for (const n of [4, 16]) {
      test(`${n} fds in one frame: EFRAME, the connection is closed, the fds are closed in the helper`, async () => {
        const fds = Array.from({ length: n }, (_, i) => (i % 2 ? stdout() : stdin()));
        const c = RawClient.connect(env.socket, 'a');
        c.send(HELLO, fds);
        await expectDropped(`${n} fds`, c, true);
      });
    }
  });

  describe('identity: trees and verbs that are not the caller\'s', () => {
    test('a tree sealed by ward-test-a, asked for by ward-test-b: ENOTREE', async () => {
      const req = runReq({ tree: treeA, image: treeAImage });
      const r = await rawFrameAs(env, 'b', req, ['/dev/null:r', '/dev/null:w', '/dev/null:w']);
      assert.notEqual(r.reply.kind, 'error', `raw-frame-cli failed: ${JSON.stringify(r.reply)} ${r.stderr}`);
      assertErrorFrame(r.reply as Reply, 'ENOTREE', 'b runs a\'s tree');
      assert.ok(fs.existsSync(path.join(env.state, 'trees', String(uidA), treeA.slice('sha256:'.length))), 'a\'s tree is still there');
      await aftermath('b runs a\'s tree');
    });

    test('a caller outside group ward cannot reach the socket, and the helper refuses it anyway if it could', async () => {
      const blocked = await rawFrameAs(env, 'out', HELLO);
      assert.deepEqual([blocked.reply.kind, (blocked.reply as { code?: string }).code], ['error', 'EACCES'], `connect as ward-test-out: ${JSON.stringify(blocked.reply)}`);
      // A socket left world-writable by mistake: the helper's own policy check still refuses.
      fs.chmodSync(env.socket, 0o666);
      try {
        const cases: [string, Record<string, Json>, string[]][] = [
          ['hello', { ...HELLO }, []],
          ['seal', sealReq(), [`${rootDir}:dir`]],
          ['run', runReq({ tree: treeA, image: treeAImage }), ['/dev/null:r', '/dev/null:w', '/dev/null:w']],
          ['signal', { verb: 'signal', signal: 'SIGKILL' }, []],
        ];
        for (const [verb, req, fds] of cases) {
          const r = await rawFrameAs(env, 'out', req, fds);
          assert.notEqual(r.reply.kind, 'error', `raw-frame-cli failed: ${JSON.stringify(r.reply)} ${r.stderr}`);
          assertErrorFrame(r.reply as Reply, 'EDENIED', `ward-test-out ${verb}`);
        }
      } finally {
        fs.chmodSync(env.socket, 0o660);
      }
      await aftermath('caller outside group ward');
    });
  });

  describe('callers that stall or do not read', () => {
    test('a slowloris client (2 header bytes, then nothing) does not stop others being served', async () => {
      const slow = RawClient.connect(env.socket, 'a');
      const slow2 = RawClient.connect(env.socket, 'b');
      try {
        slow.write(Buffer.from([0, 0]));
        slow2.write(Buffer.concat([header(100), Buffer.from('{"verb":"h')]));
        for (let i = 0; i < 10; i++) {
          const t = Date.now();
          await helloWorks(env, i % 2 ? 'a' : 'b', 2000);
          assert.ok(Date.now() - t < 2000);
        }
      } finally {
        slow.close();
        slow2.close();
      }
      await aftermath('slowloris');
    });

    // A connection waiting for a frame must hold no shared resource (it once held one of the
    // helper's libuv pool threads for up to REQUEST_TIMEOUT_MS): one user must not take them all.
    test('80 connections of one user that send nothing do not stop another user being served', async () => {
      const idle: RawClient[] = [];
      try {
        for (let i = 0; i < 80; i++) idle.push(RawClient.connect(env.socket, 'a'));
        await sleep(300);
        const t = Date.now();
        await helloWorks(env, 'b', 5000);
        assert.ok(Date.now() - t < 5000);
      } finally {
        for (const c of idle) c.close();
      }
      await aftermath('80 idle connections');
    });

    // The helper's answers once were written synchronously (sendFrame, up to 10 s): a caller whose
    // socket buffer is full must not hold up everyone else's requests meanwhile.
    test('a user that sends many requests and never reads the answers does not stall the helper for another user', async () => {
      const greedy = RawClient.connect(env.socket, 'a');
      try {
        const one = Buffer.concat([header(toBytes(HELLO).length), toBytes(HELLO)]);
        greedy.write(Buffer.concat(Array<Buffer>(3000).fill(one)));
        // Time for the helper to answer until the greedy caller's socket buffer is full.
        await sleep(2000);
        const t = Date.now();
        await helloWorks(env, 'b', 3000);
        assert.ok(Date.now() - t < 3000, `hello took ${Date.now() - t} ms`);
      } finally {
        greedy.close();
      }
      await aftermath('greedy caller');
    });

    test(`a user's connections beyond MAX_CONNECTIONS_PER_USER (${MAX_CONNECTIONS_PER_USER}) are refused with EDENIED; another user is served`, async () => {
      const since = auditRecords().length;
      const held: RawClient[] = [];
      try {
        for (let i = 0; i < MAX_CONNECTIONS_PER_USER; i++) held.push(RawClient.connect(env.socket, 'a'));
        // The helper takes connections in order: the first MAX are in when this one arrives.
        const extra = RawClient.connect(env.socket, 'a');
        try {
          const e = assertErrorFrame(await extra.recv(5000), 'EDENIED', 'connection over the limit');
          assert.match(e.message, new RegExp(`${MAX_CONNECTIONS_PER_USER} connections`));
          assertClosed(await extra.recv(5000), 'connection over the limit');
        } finally {
          extra.close();
        }
        await helloWorks(env, 'b', 5000);
        // The connections held are served as usual.
        assertHello(await held[0]!.request(HELLO, [], 5000), uidA, 'a connection within the limit');
        await audited('connection limit', (r) => r.verb === '(connect)' && r.uid === uidA && r.decision === 'deny' && r.result === 'EDENIED', since);
      } finally {
        for (const c of held) c.close();
      }
      // Closed connections no longer count: aftermath's hello as ward-test-a is served.
      await aftermath('connection limit');
    });
  });

  describe('a run that fails to launch', () => {
    test('an exec path missing from the tree: ELAUNCH, and other callers\' connections are untouched', async (t) => {
      const counts: number[] = [];
      for (let round = 0; round < 3; round++) {
        const c = RawClient.connect(env.socket, 'a');
        const bystanders: RawClient[] = [];
        try {
          c.send(runReq({ tree: treeA, image: treeAImage }, { exec: ['/no/such/program'] }), stdio());
          let answered = false;
          const reply = c.recv(30_000).finally(() => (answered = true));
          // Callers connecting while the pod is set up get whatever fd numbers the helper frees.
          while (!answered && bystanders.length < 100) {
            bystanders.push(RawClient.connect(env.socket, 'b'));
            await sleep(2);
          }
          const e = assertErrorFrame(await reply, 'ELAUNCH', 'exec missing');
          counts.push(bystanders.length);
          assert.match(e.message, /\/no\/such\/program/);
          for (const [i, b] of bystanders.entries()) {
            assertHello(await b.request(HELLO, [], 5000), account(USERS.b).uid, `round ${round}: bystander ${i + 1} of ${bystanders.length}`);
          }
          assertHello(await c.request(HELLO), uidA, 'the run connection afterwards');
        } finally {
          c.close();
          for (const b of bystanders) b.close();
        }
        await aftermath('ELAUNCH');
      }
      t.diagnostic(`callers connected while each launch failed: ${counts.join(', ')}`);
    });
  });

  test('the audit log holds one intact chain over all of it', () => {
    const text = fs.readFileSync(path.join(env.state, 'audit.log'), 'utf8');
    const v = verifyAuditLog(text);
    assert.ok(v.ok, JSON.stringify(v));
    assert.ok(v.records > 200, `${v.records} records`);
  });
});
