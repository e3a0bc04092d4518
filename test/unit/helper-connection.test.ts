// Unit tests for src/helper/connection.ts: ward-helper's event-driven frame reader and writer.
// The helper's end is a paused libuv socket, as in the server; the caller's end a blocking fd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Connection, SEND_STALL_MS } from '../../src/helper/connection';
import type { Peer } from '../../src/helper/peer';
import { addon } from '../../src/native/addon';
import { MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES } from '../../src/schema/protocol-limits';
import { openFdCount, PausedServer } from '../lib/paused-socket';

const native = addon();
const peer: Peer = Object.freeze({ uid: 1000, gid: 1000, pid: 42, pidfd: -1, user: 'u', groups: ['ward'] });

const paused = new PausedServer(native);

before(() => paused.start());
after(() => paused.stop());

interface Pair {
  conn: Connection;
  /** The caller's end: blocking, as ward's frontend has it. */
  cfd: number;
  closeCaller(): void;
  done(): void;
}

async function pair(): Promise<Pair> {
  const accepted = paused.accepted();
  const cfd = native.connectUnix(paused.socketPath);
  const conn = new Connection(await accepted, peer);
  let open = true;
  const closeCaller = () => {
    if (open) native.close(cfd);
    open = false;
  };
  return { conn, cfd, closeCaller, done: () => (conn.close(), closeCaller()) };
}

function frame(body: Buffer | string): Buffer {
  const b = Buffer.from(body);
  const h = Buffer.alloc(4);
  h.writeUInt32BE(b.length, 0);
  return Buffer.concat([h, b]);
}


const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The caller reads one answer (blocking recvFrame on the pool, as the frontend does). */
async function answer(p: Pair, timeoutMs = 2000): Promise<unknown> {
  const f = await native.recvFrame(p.cfd, MAX_RESPONSE_BYTES, 0, timeoutMs);
  return f === null ? null : JSON.parse(f.data.toString());
}

test('pipelined frames come one per receive, in order, each with its own fds', async () => {
  const p = await pair();
  const f = fs.openSync(__filename, 'r');
  try {
    fs.writeSync(p.cfd, Buffer.concat([frame('one'), frame(''), frame('three')]));
    native.sendFrame(p.cfd, Buffer.from('four'), [f], 1000);
    native.sendFrame(p.cfd, Buffer.from('five'), [], 1000);
    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await p.conn.receive();
      assert.ok(r);
      got.push(`${r.data.toString()}:${r.fds.length}`);
      for (const fd of r.fds) {
        assert.equal(native.fdInfo(fd).ino, fs.fstatSync(f).ino);
        native.close(fd);
      }
    }
    assert.deepEqual(got, ['one:0', ':0', 'three:0', 'four:1', 'five:0']);
    p.closeCaller();
    assert.equal(await p.conn.receive(), null);
  } finally {
    p.done();
    fs.closeSync(f);
  }
});

test('a frame dribbled byte by byte is assembled; the event loop runs meanwhile', async () => {
  const p = await pair();
  try {
    const pending = p.conn.receive();
    const bytes = frame('{"verb":"hello","version":1}');
    for (const b of bytes) {
      fs.writeSync(p.cfd, Buffer.from([b]));
      await sleep(1);
    }
    const r = await pending;
    assert.equal(r?.data.toString(), '{"verb":"hello","version":1}');
  } finally {
    p.done();
  }
});

test('a frame of exactly MAX_REQUEST_BYTES is read; one byte more is EFRAMETOOBIG', async () => {
  const p = await pair();
  try {
    const body = Buffer.alloc(MAX_REQUEST_BYTES, 0x20);
    const writer = (async () => {
      const all = frame(body);
      for (let off = 0; off < all.length; off += 16 * 1024) {
        fs.writeSync(p.cfd, all.subarray(off, off + 16 * 1024));
        await sleep(1);
      }
    })();
    const r = await p.conn.receive();
    await writer;
    assert.equal(r?.data.length, MAX_REQUEST_BYTES);
    fs.writeSync(p.cfd, frame(Buffer.alloc(MAX_REQUEST_BYTES + 1)).subarray(0, 4));
    await assert.rejects(p.conn.receive(), { code: 'EFRAMETOOBIG' });
  } finally {
    p.done();
  }
});

test('EOF inside the header or the body is ETRUNCATED, and fds that came are closed', async () => {
  const f = fs.openSync(__filename, 'r');
  try {
    const a = await pair();
    try {
      fs.writeSync(a.cfd, Buffer.from([0, 0]));
      a.closeCaller();
      await assert.rejects(a.conn.receive(), (e: any) => e.code === 'ETRUNCATED' && /2 of 4 header bytes/.test(e.message));
    } finally {
      a.done();
    }
    const b = await pair();
    try {
      const base = openFdCount();
      fs.writeSync(b.cfd, frame('x'.repeat(100)).subarray(0, 4));
      native.sendFrame(b.cfd, Buffer.alloc(6), [f, f], 1000);
      b.closeCaller();
      await assert.rejects(b.conn.receive(), (e: any) => e.code === 'ETRUNCATED' && /10 of 100 payload bytes/.test(e.message));
      assert.equal(openFdCount(), base - 1); // only the caller's end went away
    } finally {
      b.done();
    }
  } finally {
    fs.closeSync(f);
  }
});

test('more fds than a request takes is ETOOMANYFDS, counted over the whole frame, and none stay open', async () => {
  const f = fs.openSync(__filename, 'r');
  try {
    for (const pieces of [[4], [2, 2], [16]]) {
      const p = await pair();
      try {
        const base = openFdCount();
        const total = pieces.reduce((a, b) => a + b, 0);
        fs.writeSync(p.cfd, frame('x'.repeat(pieces.length)).subarray(0, 4));
        for (const n of pieces) assert.equal(native.sendSome(p.cfd, Buffer.from('x'), new Array<number>(n).fill(f)), 1);
        await assert.rejects(p.conn.receive(), { code: 'ETOOMANYFDS' }, `${total} fds in ${pieces.join('+')}`);
        assert.equal(openFdCount(), base);
      } finally {
        p.done();
      }
    }
  } finally {
    fs.closeSync(f);
  }
});

test('receive waits at most its idle timeout for a request to begin (ETIMEDOUT), the connection still answers', async () => {
  const p = await pair();
  try {
    const t = Date.now();
    await assert.rejects(p.conn.receive(100), { code: 'ETIMEDOUT' });
    assert.ok(Date.now() - t >= 95);
    p.conn.sendError('EFRAME', 'frame not completed in time');
    assert.deepEqual(await answer(p), { ok: false, code: 'EFRAME', message: 'frame not completed in time' });
  } finally {
    p.done();
  }
});

test('answers are written without blocking; close() writes what is queued, then the caller sees EOF', async () => {
  const p = await pair();
  try {
    // Far more than the socket holds: most of it waits in the queue.
    const big = 'x'.repeat(MAX_RESPONSE_BYTES - 100);
    const t = Date.now();
    p.conn.send({ big });
    p.conn.send({ n: 2 });
    p.conn.close();
    assert.ok(Date.now() - t < 200, `send and close took ${Date.now() - t} ms`);
    assert.equal(p.conn.isClosed, true);
    assert.deepEqual(await answer(p), { big });
    assert.deepEqual(await answer(p), { n: 2 });
    assert.equal(await answer(p), null);
    p.conn.send({ late: true }); // ignored once closed
  } finally {
    p.done();
  }
});

test('the next request is read only once the answers to the last are taken; drain() says when', async () => {
  const p = await pair();
  try {
    fs.writeSync(p.cfd, Buffer.concat([frame('first'), frame('second')]));
    assert.equal((await p.conn.receive())?.data.toString(), 'first');
    const big = 'y'.repeat(MAX_RESPONSE_BYTES - 100);
    p.conn.send({ big });
    let second: string | undefined;
    const next = p.conn.receive().then((r) => (second = r?.data.toString()));
    let drained = false;
    const d = p.conn.drain().then(() => (drained = true));
    await sleep(100);
    assert.equal(second, undefined, 'a request was read while answers waited');
    assert.equal(drained, false);
    assert.deepEqual(await answer(p), { big });
    await d;
    await next;
    assert.equal(second, 'second');
  } finally {
    p.done();
  }
});

test('a caller that sends many requests and never reads stops being read: one answer waits, nothing blocks; reading resumes it', async () => {
  const p = await pair();
  try {
    const N = 3000;
    fs.writeSync(p.cfd, Buffer.concat(Array.from({ length: N }, (_, i) => frame(String(i)))));
    let handled = 0;
    let maxQueued = 0;
    const serve = (async () => {
      for (;;) {
        const r = await p.conn.receive();
        if (r === null) return;
        assert.equal(r.data.toString(), String(handled));
        handled++;
        const t = Date.now();
        p.conn.send({ n: handled, pad: 'p'.repeat(1000) });
        assert.ok(Date.now() - t < 50);
        maxQueued = Math.max(maxQueued, p.conn.queuedBytes);
      }
    })();
    await sleep(300);
    const stuck = handled;
    assert.ok(stuck > 0 && stuck < N, `${stuck} requests handled`);
    await sleep(300);
    assert.equal(handled, stuck, 'requests were read while their answers waited');
    assert.ok(p.conn.queuedBytes > 0 && maxQueued <= 1100, `${p.conn.queuedBytes} bytes queued, ${maxQueued} at most`);
    // The caller reads: every answer comes, in order, and the rest of the requests are served.
    for (let i = 1; i <= N; i++) assert.equal((await answer(p, 5000) as { n: number }).n, i);
    assert.equal(handled, N);
    p.closeCaller();
    await serve;
  } finally {
    p.done();
  }
});

test('an answer of many frames, far more than the socket holds, reaches a caller that reads; drain() paces it', async () => {
  const p = await pair();
  try {
    const piece = 'L'.repeat(128 * 1024);
    // All at once, as a verb sending a long log in one go does: nothing is dropped.
    for (let i = 0; i < 40; i++) p.conn.send({ i, piece });
    assert.ok(p.conn.queuedBytes > 4 * 1024 * 1024);
    for (let i = 0; i < 40; i++) assert.equal((await answer(p, 5000) as { i: number }).i, i);
    // Paced: what waits stays about one frame.
    let most = 0;
    const reader = (async () => {
      for (let i = 0; i < 40; i++) assert.equal((await answer(p, 5000) as { i: number }).i, i);
    })();
    for (let i = 0; i < 40; i++) {
      p.conn.send({ i, piece });
      most = Math.max(most, p.conn.queuedBytes);
      await p.conn.drain();
    }
    await reader;
    assert.ok(most < 256 * 1024, `${most} bytes waited`);
  } finally {
    p.done();
  }
});

test(`queued answers the caller takes none of for SEND_STALL_MS (${SEND_STALL_MS} ms) cost the connection`, async () => {
  const p = await pair();
  try {
    const pending = p.conn.receive();
    p.conn.send({ big: 's'.repeat(MAX_RESPONSE_BYTES - 100) });
    await sleep(SEND_STALL_MS - 1000);
    assert.equal(p.conn.isClosed, false);
    await sleep(2000);
    assert.equal(p.conn.isClosed, true);
    assert.equal(await pending, null);
  } finally {
    p.done();
  }
});

test('a caller gone while answers wait ends the connection (EPIPE/ECONNRESET), and a pending receive gets null', async () => {
  const p = await pair();
  try {
    p.conn.send({ big: 'g'.repeat(MAX_RESPONSE_BYTES - 100) });
    const pending = p.conn.receive();
    p.closeCaller();
    assert.equal(await pending, null);
    assert.equal(p.conn.isClosed, true);
  } finally {
    p.done();
  }
});

test('a second receive while one is pending is refused; receive after close is null', async () => {
  const p = await pair();
  try {
    const first = p.conn.receive();
    await assert.rejects(p.conn.receive(), { code: 'EBUSY' });
    p.conn.close();
    assert.equal(await first, null);
    assert.equal(await p.conn.receive(), null);
  } finally {
    p.done();
  }
});

test('many idle connections hold no thread: a request on another is answered at once', async () => {
  const idle: Pair[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      const q = await pair();
      void q.conn.receive().catch(() => undefined);
      idle.push(q);
    }
    const p = await pair();
    try {
      const t = Date.now();
      fs.writeSync(p.cfd, frame('ping'));
      assert.equal((await p.conn.receive())?.data.toString(), 'ping');
      assert.ok(Date.now() - t < 500);
    } finally {
      p.done();
    }
  } finally {
    for (const q of idle) q.done();
  }
});
