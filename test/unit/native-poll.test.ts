// Unit tests for the event-loop primitives in addon/src/sock.cc: watchFd (uv_poll readiness,
// no thread), and the non-blocking recvSome and sendSome.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Addon, FdWatcher } from '../../src/native/addon';
import { fdFlags, openFdCount, PausedServer, type SocketConn } from '../lib/paused-socket';

const addonPath =
  process.env.WARD_ADDON ?? path.join(__dirname, '..', '..', '..', 'addon', 'build', 'Release', 'ward_addon.node');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const native = require(addonPath) as Addon;

const O_CLOEXEC = 0o2000000;
const O_NONBLOCK = fs.constants.O_NONBLOCK;

const paused = new PausedServer(native);

type Conn = SocketConn;

before(() => paused.start());
after(() => paused.stop());

const connect = (): Promise<Conn> => paused.connect();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Events a watcher reported, and a way to wait for the next one. */
function recorder(): { events: string[]; next(timeoutMs?: number): Promise<string>; onEvent(r: boolean, w: boolean, e: boolean): void } {
  const events: string[] = [];
  let wake: (() => void) | null = null;
  return {
    events,
    onEvent(r, w, e) {
      events.push(`${r ? 'r' : '-'}${w ? 'w' : '-'}${e ? 'e' : '-'}`);
      wake?.();
    },
    async next(timeoutMs = 2000) {
      const seen = events.length;
      const deadline = Date.now() + timeoutMs;
      while (events.length === seen) {
        if (Date.now() > deadline) throw new Error('no event');
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 10);
        });
      }
      return events[seen]!;
    },
  };
}

// ---- recvSome ----------------------------------------------------------------------------------

test('recvSome: nothing yet, some bytes (at most maxBytes, the rest left), then EOF', async () => {
  const c = await connect();
  try {
    const none = native.recvSome(c.sfd, 100, 0);
    assert.equal(none.data.length, 0);
    assert.deepEqual(none.fds, []);
    assert.equal(none.eof, false);
    fs.writeSync(c.cfd, Buffer.from('abcdefgh'));
    const first = native.recvSome(c.sfd, 3, 0);
    assert.equal(first.data.toString(), 'abc');
    assert.equal(first.eof, false);
    const rest = native.recvSome(c.sfd, 100, 0);
    assert.equal(rest.data.toString(), 'defgh');
    c.closeClient();
    const end = native.recvSome(c.sfd, 100, 0);
    assert.equal(end.data.length, 0);
    assert.equal(end.eof, true);
    // The same works on a blocking fd: recvSome never waits.
    const d = await connect();
    try {
      assert.equal(fdFlags(d.cfd) & O_NONBLOCK, 0);
      const t = Date.now();
      assert.equal(native.recvSome(d.cfd, 10, 0).data.length, 0);
      assert.ok(Date.now() - t < 100);
    } finally {
      d.close();
    }
  } finally {
    c.close();
  }
});

test('recvSome returns the fds that came with the bytes, close-on-exec', async () => {
  const c = await connect();
  const f = fs.openSync(__filename, 'r');
  try {
    assert.equal(native.sendSome(c.cfd, Buffer.from('xy'), [f, f]), 2);
    const base = openFdCount();
    const got = native.recvSome(c.sfd, 100, 2);
    assert.equal(got.data.toString(), 'xy');
    assert.equal(got.fds.length, 2);
    assert.equal(openFdCount(), base + 2);
    for (const fd of got.fds) {
      assert.ok(fdFlags(fd) & O_CLOEXEC);
      assert.equal(native.fdInfo(fd).ino, fs.fstatSync(f).ino);
      native.close(fd);
    }
  } finally {
    c.close();
    fs.closeSync(f);
  }
});

test('recvSome: more fds than maxFds throws ETOOMANYFDS and closes every one', async () => {
  const f = fs.openSync(__filename, 'r');
  try {
    for (const [count, maxFds] of [
      [4, 3],
      [1, 0],
      [16, 15],
    ] as const) {
      const c = await connect();
      try {
        native.sendSome(c.cfd, Buffer.from('x'), new Array<number>(count).fill(f));
        const base = openFdCount();
        assert.throws(() => native.recvSome(c.sfd, 100, maxFds), { code: 'ETOOMANYFDS' });
        assert.equal(openFdCount(), base, `${count} fds against maxFds ${maxFds}`);
      } finally {
        c.close();
      }
    }
  } finally {
    fs.closeSync(f);
  }
});

test('recvSome: more fds than one message can hold (MSG_CTRUNC) throws ETOOMANYFDS and closes what came', async (t) => {
  // sendSome takes at most 16 fds; python sends 40 in one SCM_RIGHTS message.
  if (spawnSync('python3', ['-c', 'import socket; socket.send_fds']).status !== 0) {
    t.skip('python3 with socket.send_fds is not available');
    return;
  }
  const f = fs.openSync(__filename, 'r');
  const next = paused.accepted();
  const py = spawn('python3', ['-c', `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
fd = os.open(sys.argv[2], os.O_RDONLY)
socket.send_fds(s, [b"hello"], [fd] * 40)
sys.stdin.read()
`, paused.socketPath, __filename], { stdio: ['pipe', 'inherit', 'inherit'] });
  const sock = await next;
  try {
    const sfd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
    const deadline = Date.now() + 5000;
    const base = openFdCount();
    let threw = false;
    while (!threw && Date.now() < deadline) {
      try {
        const got = native.recvSome(sfd, 100, 16);
        assert.equal(got.data.length, 0, 'the bytes must not come without an error');
        await sleep(10);
      } catch (e) {
        assert.equal((e as { code?: string }).code, 'ETOOMANYFDS');
        assert.match((e as Error).message, /more fds than fit/);
        threw = true;
      }
    }
    assert.ok(threw, 'no ETOOMANYFDS');
    assert.equal(openFdCount(), base);
  } finally {
    py.stdin!.end();
    await new Promise((r) => py.on('close', r));
    sock.destroy();
    fs.closeSync(f);
  }
});

test('recvSome reports socket errors by errno name and rejects bad arguments', async () => {
  const closed = fs.openSync(__filename, 'r');
  fs.closeSync(closed);
  assert.throws(() => native.recvSome(closed, 10, 0), { code: 'EBADF' });
  const file = fs.openSync(__filename, 'r');
  try {
    assert.throws(() => native.recvSome(file, 10, 0), { code: 'ENOTSOCK' });
  } finally {
    fs.closeSync(file);
  }
  for (const args of [
    [0, 0, 0],
    [0, 16 * 1024 * 1024 + 1, 0],
    [0, 10, 17],
    [-1, 10, 0],
    [0, 1.5, 0],
    ['0', 10, 0],
  ] as const) {
    assert.throws(() => native.recvSome(args[0] as number, args[1], args[2]), (e: any) => e?.code === 'ERR_INVALID_ARG_VALUE' && e instanceof TypeError, JSON.stringify(args));
  }
});

// ---- sendSome ----------------------------------------------------------------------------------

test('sendSome writes what the socket takes and returns 0 when it is full, never waiting', async () => {
  const c = await connect();
  try {
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    let total = 0;
    let zero = false;
    const t = Date.now();
    for (let i = 0; i < 1000 && !zero; i++) {
      const n = native.sendSome(c.sfd, chunk, []);
      assert.ok(n >= 0 && n <= chunk.length);
      if (n === 0) zero = true;
      total += n;
    }
    assert.ok(zero, 'the socket never filled up');
    assert.ok(total > 0);
    assert.ok(Date.now() - t < 1000, `took ${Date.now() - t} ms`);
    // On the client's blocking fd as well.
    let blockingTotal = 0;
    for (let n = 1; n > 0; ) {
      n = native.sendSome(c.cfd, chunk, []);
      blockingTotal += n;
    }
    assert.ok(blockingTotal > 0);
    // What was written arrives intact, in order.
    let read = 0;
    const buf = Buffer.alloc(1024 * 1024);
    while (read < total) {
      const n = fs.readSync(c.cfd, buf, 0, buf.length, null);
      assert.ok(n > 0);
      assert.ok(buf.subarray(0, n).every((b) => b === 0x61));
      read += n;
    }
    assert.equal(read, total);
  } finally {
    c.close();
  }
});

test('sendSome sends fds once, with the first byte, and only when asked', async () => {
  const c = await connect();
  const f = fs.openSync(__filename, 'r');
  try {
    assert.equal(native.sendSome(c.sfd, Buffer.from('a'), [f]), 1);
    assert.equal(native.sendSome(c.sfd, Buffer.from('b'), []), 1);
    const one = native.recvSome(c.cfd, 1, 2);
    assert.equal(one.data.toString(), 'a');
    assert.equal(one.fds.length, 1);
    native.close(one.fds[0]!);
    const two = native.recvSome(c.cfd, 1, 2);
    assert.equal(two.data.toString(), 'b');
    assert.deepEqual(two.fds, []);
  } finally {
    c.close();
    fs.closeSync(f);
  }
});

test('sendSome throws EPIPE (no SIGPIPE) once the peer is gone, and rejects bad arguments', async () => {
  const c = await connect();
  try {
    assert.throws(() => native.sendSome(c.cfd, Buffer.alloc(0), []), TypeError);
    assert.throws(() => native.sendSome(c.cfd, 'x' as unknown as Buffer, []), TypeError);
    assert.throws(() => native.sendSome(c.cfd, Buffer.from('x'), new Array<number>(17).fill(0)), TypeError);
    assert.throws(() => native.sendSome(c.cfd, Buffer.from('x'), [-1]), TypeError);
    assert.throws(() => native.sendSome(c.cfd, Buffer.from('x'), 5 as unknown as number[]), TypeError);
    c.sock.destroy();
    await sleep(10);
    assert.throws(() => native.sendSome(c.cfd, Buffer.from('x'), []), { code: 'EPIPE' });
  } finally {
    c.close();
  }
});

// ---- watchFd -----------------------------------------------------------------------------------

test('watchFd reports nothing until asked, then readable while data waits and writable while there is room', async () => {
  const c = await connect();
  const rec = recorder();
  const w = native.watchFd(c.sfd, rec.onEvent);
  try {
    fs.writeSync(c.cfd, Buffer.from('hi'));
    await sleep(50);
    assert.deepEqual(rec.events, [], 'no interest, no events');
    w.setInterest(true, false);
    assert.equal(await rec.next(), 'r--');
    // Level-triggered: again on the next turn, as long as the data is not read.
    assert.equal(await rec.next(), 'r--');
    w.setInterest(false, false);
    assert.equal(native.recvSome(c.sfd, 10, 0).data.toString(), 'hi');
    await sleep(30);
    const seen = rec.events.length;
    await sleep(50);
    assert.equal(rec.events.length, seen, 'no events once interest is withdrawn');
    w.setInterest(false, true);
    assert.equal(await rec.next(), '-w-');
    w.setInterest(true, true);
    assert.equal(await rec.next(), '-w-');
    fs.writeSync(c.cfd, Buffer.from('more'));
    let ev = await rec.next();
    while (ev === '-w-') ev = await rec.next();
    assert.equal(ev, 'rw-');
  } finally {
    w.close();
    c.close();
  }
});

test('watchFd: EOF is readable, and recvSome then reports it', async () => {
  const c = await connect();
  const rec = recorder();
  const w = native.watchFd(c.sfd, rec.onEvent);
  try {
    w.setInterest(true, false);
    await sleep(30);
    assert.deepEqual(rec.events, []);
    c.closeClient();
    assert.equal(await rec.next(), 'r--');
    assert.equal(native.recvSome(c.sfd, 10, 0).eof, true);
  } finally {
    w.close();
    c.close();
  }
});

test('watchFd reports a socket error (POLLERR) once, and setInterest watches again', async () => {
  const c = await connect();
  const rec = recorder();
  const w = native.watchFd(c.sfd, rec.onEvent);
  try {
    // The client closes with our data unread: the kernel gives our end ECONNRESET.
    native.sendSome(c.sfd, Buffer.from('unread'), []);
    c.closeClient();
    w.setInterest(true, false);
    assert.equal(await rec.next(), '--e');
    await sleep(50);
    assert.equal(rec.events.length, 1, 'libuv stops watching after an error');
    assert.throws(() => native.recvSome(c.sfd, 10, 0), { code: 'ECONNRESET' });
    w.setInterest(true, false);
    const ev = await rec.next();
    assert.ok(ev === 'r--' || ev === '--e', ev);
    assert.equal(native.recvSome(c.sfd, 10, 0).eof, true);
  } finally {
    w.close();
    c.close();
  }
});

test('watchFd: close() stops events at once, also from inside onEvent, and the fd can then be watched again', async () => {
  const c = await connect();
  try {
    let calls = 0;
    const w: FdWatcher = native.watchFd(c.sfd, () => {
      calls++;
      w.close();
      w.close(); // twice is harmless
      w.setInterest(true, true); // after close: nothing
    });
    w.setInterest(true, true);
    await sleep(50);
    assert.equal(calls, 1);
    // The handle is gone from the loop: the same fd takes a new watcher.
    const rec = recorder();
    const again = native.watchFd(c.sfd, rec.onEvent);
    again.setInterest(false, true);
    assert.equal(await rec.next(), '-w-');
    again.close();
    const seen = rec.events.length;
    await sleep(50);
    assert.equal(rec.events.length, seen);
  } finally {
    c.close();
  }
});

test('watchFd makes the fd non-blocking and refuses a second watcher, a regular file and bad arguments', async () => {
  const c = await connect();
  const w = native.watchFd(c.cfd, () => undefined);
  try {
    assert.ok(fdFlags(c.cfd) & O_NONBLOCK);
    w.setInterest(true, false);
    assert.throws(() => native.watchFd(c.cfd, () => undefined).setInterest(true, false), { code: 'EEXIST' });
    assert.throws(() => w.setInterest(1 as unknown as boolean, false), TypeError);
  } finally {
    w.close();
    c.close();
  }
  const file = fs.openSync(__filename, 'r');
  try {
    assert.throws(() => native.watchFd(file, () => undefined), { code: 'EPERM' });
  } finally {
    fs.closeSync(file);
  }
  assert.throws(() => native.watchFd(-1, () => undefined), TypeError);
  assert.throws(() => native.watchFd(0, 'f' as unknown as () => void), TypeError);
});

test('watchFd: promise reactions queued in onEvent run before the next event', async () => {
  const c = await connect();
  const order: string[] = [];
  let n = 0;
  const w = native.watchFd(c.sfd, () => {
    n++;
    order.push(`event ${n}`);
    void Promise.resolve().then(() => order.push(`then ${n}`));
    if (n === 2) w.setInterest(false, false);
  });
  try {
    w.setInterest(false, true);
    await sleep(50);
    assert.deepEqual(order, ['event 1', 'then 1', 'event 2', 'then 2']);
  } finally {
    w.close();
    c.close();
  }
});

/** Runs a script in a fresh node with the addon as `native`, and a connected pair cfd/sfd of socketpair-like ends. */
function child(script: string, flags: string[] = []): { status: number | null; stdout: string; stderr: string } {
  const prelude = `
const native = require(${JSON.stringify(addonPath)});
const net = require('net');
const p = ${JSON.stringify(path.join(paused.dir, `child-${process.hrtime.bigint()}.sock`))};
const srv = net.createServer({ pauseOnConnect: true }, (s) => { srv.close(); main(s, s._handle.fd); });
srv.listen(p, () => { globalThis.cfd = native.connectUnix(p); });
`;
  const r = spawnSync(process.execPath, [...flags, '-e', prelude + script], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('watchFd: an exception thrown by onEvent is an uncaught exception', () => {
  const r = child(`
function main(sock, sfd) {
  process.on('uncaughtException', (e) => { console.log('caught ' + e.message); process.exit(7); });
  native.watchFd(sfd, () => { throw new Error('from onEvent'); }).setInterest(false, true);
}`);
  assert.equal(r.status, 7, r.stderr);
  assert.match(r.stdout, /caught from onEvent/);
});

test('watchFd: a watcher nobody references keeps watching through garbage collection until closed', () => {
  const r = child(`
function main(sock, sfd) {
  let calls = 0;
  native.watchFd(sfd, function () {
    calls++;
    if (calls === 1) return;
    this.close();
    console.log('events ' + calls);
    setTimeout(() => { console.log('still ' + calls); sock.destroy(); native.close(globalThis.cfd); }, 50);
  }).setInterest(true, false);
  for (let i = 0; i < 5; i++) global.gc();
  setTimeout(() => { global.gc(); require('fs').writeSync(globalThis.cfd, 'x'); }, 20);
}`, ['--expose-gc']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /events 2\nstill 2/);
});
