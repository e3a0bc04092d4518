// Unit tests for addon/src/sock.cc: peer credentials, framed fd passing, fd inspection, sealed memfds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { Addon } from '../../src/native/addon';
import { fdFlags, openFdCount, PausedServer, type SocketConn } from '../lib/paused-socket';

const addonPath =
  process.env.WARD_ADDON ?? path.join(__dirname, '..', '..', '..', 'addon', 'build', 'Release', 'ward_addon.node');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const native = require(addonPath) as Addon;

const O_CLOEXEC = 0o2000000;
const O_NONBLOCK = fs.constants.O_NONBLOCK;
const O_PATH = 0o10000000;
const MiB = 1024 * 1024;

const paused = new PausedServer(native);

type Conn = SocketConn;

before(() => paused.start());
after(() => paused.stop());

const connect = (): Promise<Conn> => paused.connect();

function header(length: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(length, 0);
  return b;
}

function sha256(data: Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('peerCred reports this process and a close-on-exec pidfd', async () => {
  const c = await connect();
  try {
    for (const fd of [c.sfd, c.cfd]) {
      const cred = native.peerCred(fd);
      assert.equal(cred.uid, process.getuid!());
      assert.equal(cred.gid, process.getgid!());
      assert.equal(cred.pid, process.pid);
      assert.ok(Number.isInteger(cred.pidfd) && cred.pidfd >= 0, `pidfd ${cred.pidfd}`);
      assert.ok(fdFlags(cred.pidfd) & O_CLOEXEC);
      native.close(cred.pidfd);
    }
    const file = fs.openSync(__filename, 'r');
    try {
      assert.throws(() => native.peerCred(file), { code: 'ENOTSOCK' });
    } finally {
      fs.closeSync(file);
    }
  } finally {
    c.close();
  }
});

test('connectUnix returns a blocking close-on-exec socket', async () => {
  const c = await connect();
  try {
    const flags = fdFlags(c.cfd);
    assert.ok(flags & O_CLOEXEC);
    assert.equal(flags & O_NONBLOCK, 0);
    assert.equal(native.fdInfo(c.cfd).type, 'socket');
    // The server end comes from libuv and is non-blocking, which recvFrame must cope with.
    assert.ok(fdFlags(c.sfd) & O_NONBLOCK);
  } finally {
    c.close();
  }
});

test('a frame with a file, a directory and a fifo round-trips in both directions', async () => {
  const dir = path.join(paused.dir, 'd');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(paused.dir, 'f.txt');
  fs.writeFileSync(file, 'content');
  const fifo = path.join(paused.dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const fileFd = fs.openSync(file, 'r');
  const dirFd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  const fifoFd = fs.openSync(fifo, fs.constants.O_RDWR); // O_RDWR does not wait for a peer on Linux
  const c = await connect();
  try {
    const sent = [fileFd, dirFd, fifoFd];
    const payload = Buffer.from('hello, fds');
    for (const [from, to] of [
      [c.cfd, c.sfd],
      [c.sfd, c.cfd],
    ] as const) {
      const base = openFdCount();
      native.sendFrame(from, payload, sent, 1000);
      const frame = await native.recvFrame(to, 1024, 3, 1000);
      assert.ok(frame);
      assert.deepEqual(frame.data, payload);
      assert.equal(frame.fds.length, 3);
      assert.equal(openFdCount(), base + 3);
      const types = frame.fds.map((fd) => native.fdInfo(fd).type);
      assert.deepEqual(types, ['file', 'dir', 'fifo']);
      frame.fds.forEach((fd, i) => {
        assert.ok(!sent.includes(fd));
        assert.equal(native.fdInfo(fd).ino, fs.fstatSync(sent[i]!).ino);
        assert.ok(fdFlags(fd) & O_CLOEXEC, `received fd ${fd} lacks O_CLOEXEC`);
        native.close(fd);
      });
      assert.equal(openFdCount(), base);
    }
  } finally {
    c.close();
    for (const fd of [fileFd, dirFd, fifoFd]) fs.closeSync(fd);
    fs.unlinkSync(fifo);
  }
});

test('fds arriving with several pieces of one frame are all collected', async () => {
  const c = await connect();
  const a = fs.openSync(__filename, 'r');
  const b = fs.openSync(paused.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    // A raw header announcing 16 bytes, then two 8-byte sendFrame calls, each with one fd.
    fs.writeSync(c.cfd, header(16));
    native.sendFrame(c.cfd, Buffer.from('AAAA'), [a], 1000);
    native.sendFrame(c.cfd, Buffer.from('BBBB'), [b], 1000);
    const frame = await native.recvFrame(c.sfd, 16, 2, 1000);
    assert.ok(frame);
    assert.deepEqual(frame.data, Buffer.concat([header(4), Buffer.from('AAAA'), header(4), Buffer.from('BBBB')]));
    assert.deepEqual(
      frame.fds.map((fd) => native.fdInfo(fd).type),
      ['file', 'dir'],
    );
    frame.fds.forEach((fd) => native.close(fd));
  } finally {
    c.close();
    fs.closeSync(a);
    fs.closeSync(b);
  }
});

test('a header split across writes is reassembled', async () => {
  const c = await connect();
  try {
    const pending = native.recvFrame(c.sfd, 100, 0, 2000);
    fs.writeSync(c.cfd, header(5).subarray(0, 1));
    await sleep(20);
    fs.writeSync(c.cfd, header(5).subarray(1, 3));
    await sleep(20);
    fs.writeSync(c.cfd, Buffer.concat([header(5).subarray(3), Buffer.from('ab')]));
    await sleep(20);
    fs.writeSync(c.cfd, Buffer.from('cde'));
    const frame = await pending;
    assert.ok(frame);
    assert.equal(frame.data.toString(), 'abcde');
    assert.deepEqual(frame.fds, []);
  } finally {
    c.close();
  }
});

test('zero-length frames are valid, with and without fds', async () => {
  const c = await connect();
  const f = fs.openSync(__filename, 'r');
  try {
    native.sendFrame(c.cfd, Buffer.alloc(0), [], 1000);
    native.sendFrame(c.cfd, Buffer.alloc(0), [f], 1000);
    const one = await native.recvFrame(c.sfd, 0, 1, 1000);
    assert.ok(one);
    assert.ok(Buffer.isBuffer(one.data));
    assert.equal(one.data.length, 0);
    assert.deepEqual(one.fds, []);
    const two = await native.recvFrame(c.sfd, 0, 1, 1000);
    assert.ok(two);
    assert.equal(two.data.length, 0);
    assert.equal(two.fds.length, 1);
    assert.equal(native.fdInfo(two.fds[0]!).ino, fs.fstatSync(f).ino);
    native.close(two.fds[0]!);
  } finally {
    c.close();
    fs.closeSync(f);
  }
});

test('a 1 MiB frame round-trips in both directions', async () => {
  const c = await connect();
  try {
    const big = crypto.randomBytes(MiB);
    for (const [from, to] of [
      [c.cfd, c.sfd],
      [c.sfd, c.cfd],
    ] as const) {
      // The receiver runs on the thread pool, so the synchronous sender can make progress.
      const pending = native.recvFrame(to, MiB, 0, 5000);
      native.sendFrame(from, big, [], 5000);
      const frame = await pending;
      assert.ok(frame);
      assert.equal(frame.data.length, MiB);
      assert.ok(frame.data.equals(big));
    }
  } finally {
    c.close();
  }
});

test('clean EOF before a header resolves null', async () => {
  const c = await connect();
  try {
    native.sendFrame(c.cfd, Buffer.from('last'), [], 1000);
    c.closeClient();
    const frame = await native.recvFrame(c.sfd, 100, 0, 1000);
    assert.equal(frame?.data.toString(), 'last');
    assert.equal(await native.recvFrame(c.sfd, 100, 0, 1000), null);
  } finally {
    c.close();
  }
});

test('EOF inside the header rejects ETRUNCATED', async () => {
  const c = await connect();
  try {
    fs.writeSync(c.cfd, Buffer.from([0, 0]));
    c.closeClient();
    await assert.rejects(native.recvFrame(c.sfd, 100, 0, 1000), { code: 'ETRUNCATED' });
  } finally {
    c.close();
  }
});

test('EOF inside the payload rejects ETRUNCATED and closes the fds received', async () => {
  const c = await connect();
  const f = fs.openSync(__filename, 'r');
  try {
    const base = openFdCount();
    fs.writeSync(c.cfd, header(100));
    native.sendFrame(c.cfd, Buffer.alloc(10), [f, f], 1000);
    c.closeClient();
    await assert.rejects(native.recvFrame(c.sfd, 100, 2, 1000), (err: any) => {
      assert.equal(err.code, 'ETRUNCATED');
      assert.match(err.message, /14 of 100/);
      return true;
    });
    assert.equal(openFdCount(), base - 1); // only the client end went away
  } finally {
    c.close();
    fs.closeSync(f);
  }
});

test('a header over maxBytes rejects EFRAMETOOBIG without reading the payload', async () => {
  const c = await connect();
  try {
    fs.writeSync(c.cfd, Buffer.concat([header(1001), Buffer.from('payload')]));
    await assert.rejects(native.recvFrame(c.sfd, 1000, 0, 1000), { code: 'EFRAMETOOBIG' });
    // The payload is still in the socket: the next 7 bytes are exactly what followed the header.
    const rest = Buffer.alloc(16);
    const n = await new Promise<number>((resolve, reject) =>
      fs.read(c.sfd, rest, 0, rest.length, null, (err, got) => (err ? reject(err) : resolve(got))),
    );
    assert.equal(rest.subarray(0, n).toString(), 'payload');
    // maxBytes + 1 at the largest permitted limit.
    fs.writeSync(c.cfd, header(16 * MiB + 1));
    await assert.rejects(native.recvFrame(c.sfd, 16 * MiB, 0, 1000), { code: 'EFRAMETOOBIG' });
  } finally {
    c.close();
  }
});

test('more fds than maxFds rejects ETOOMANYFDS and closes every one', async () => {
  const f = fs.openSync(__filename, 'r');
  try {
    // Each rejection leaves the stream mid-frame, so every case gets its own connection.
    for (const [count, maxFds] of [
      [3, 2],
      [1, 0],
      [16, 15],
    ] as const) {
      const c = await connect();
      try {
        const base = openFdCount();
        native.sendFrame(c.cfd, Buffer.from('x'), new Array<number>(count).fill(f), 1000);
        await assert.rejects(native.recvFrame(c.sfd, 100, maxFds, 1000), { code: 'ETOOMANYFDS' });
        assert.equal(openFdCount(), base, `${count} fds against maxFds ${maxFds}`);
      } finally {
        c.close();
      }
    }
    // 16 fds in one message is the most sendFrame allows and recvFrame can take.
    const c = await connect();
    try {
      const base = openFdCount();
      native.sendFrame(c.cfd, Buffer.from('z'), new Array<number>(16).fill(f), 1000);
      const frame = await native.recvFrame(c.sfd, 100, 16, 1000);
      assert.equal(frame?.fds.length, 16);
      assert.equal(openFdCount(), base + 16);
      frame?.fds.forEach((fd) => native.close(fd));
      assert.equal(openFdCount(), base);
    } finally {
      c.close();
    }
  } finally {
    fs.closeSync(f);
  }
});

test('recvFrame times out with ETIMEDOUT without blocking the event loop', async () => {
  const c = await connect();
  try {
    let ticked = false;
    const timer = setTimeout(() => {
      ticked = true;
    }, 10);
    const start = Date.now();
    await assert.rejects(native.recvFrame(c.sfd, 100, 0, 150), { code: 'ETIMEDOUT' });
    clearTimeout(timer);
    assert.ok(ticked, 'a timer should fire while recvFrame waits');
    assert.ok(Date.now() - start >= 140, `returned after ${Date.now() - start} ms`);
    // A header alone, with the payload never coming, times out too.
    fs.writeSync(c.cfd, header(10));
    await assert.rejects(native.recvFrame(c.sfd, 100, 0, 50), { code: 'ETIMEDOUT' });
  } finally {
    c.close();
  }
});

test('recvFrame rejects bad arguments with a TypeError', async () => {
  await assert.rejects(native.recvFrame(0, 16 * MiB + 1, 0, 100), TypeError);
  await assert.rejects(native.recvFrame(0, 100, 17, 100), TypeError);
  await assert.rejects(native.recvFrame(-1, 100, 0, 100), TypeError);
  await assert.rejects(native.recvFrame(0, 100, 0, -1), TypeError);
  await assert.rejects(native.recvFrame(0, 1.5, 0, 100), TypeError);
});

test('sendFrame reports ETIMEDOUT, EPIPE and bad arguments', async () => {
  const c = await connect();
  try {
    // Nobody reads the server end, so 8 MiB cannot fit in the socket buffers.
    assert.throws(() => native.sendFrame(c.cfd, Buffer.alloc(8 * MiB), [], 50), { code: 'ETIMEDOUT' });
    assert.throws(() => native.sendFrame(c.cfd, Buffer.alloc(1), new Array<number>(17).fill(0), 50), TypeError);
    assert.throws(() => native.sendFrame(c.cfd, 'str' as unknown as Buffer, [], 50), TypeError);
    c.sock.destroy();
    await sleep(10);
    assert.throws(() => native.sendFrame(c.cfd, Buffer.from('x'), [], 50), { code: 'EPIPE' });
    const closed = fs.openSync(__filename, 'r');
    fs.closeSync(closed);
    assert.throws(() => native.sendFrame(closed, Buffer.from('x'), [], 50), { code: 'EBADF' });
  } finally {
    c.close();
  }
});

test('connectUnix reports errno codes with the path in the message', () => {
  const missing = path.join(paused.dir, 'missing.sock');
  assert.throws(
    () => native.connectUnix(missing),
    (err: any) => err.code === 'ENOENT' && err.message.includes(missing),
  );
  assert.throws(() => native.connectUnix('/' + 'x'.repeat(200)), { code: 'ENAMETOOLONG' });
  assert.throws(() => native.connectUnix('/tmp/a\0b'), TypeError);
  // A socket file with no listener: a child binds it and dies before anyone connects.
  const stale = path.join(paused.dir, 'stale.sock');
  try {
    execFileSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
  } catch {
    // killed by design
  }
  assert.ok(fs.existsSync(stale));
  assert.throws(
    () => native.connectUnix(stale),
    (err: any) => err.code === 'ECONNREFUSED' && err.message.includes(stale),
  );
});

test('close closes, and throws EBADF on a closed fd', () => {
  const fd = fs.openSync(__filename, 'r');
  native.close(fd);
  assert.throws(() => native.close(fd), { code: 'EBADF' });
  assert.throws(() => native.close(-3), TypeError);
});

test('fdInfo reports type, mode, owner, identity and access mode', () => {
  const file = path.join(paused.dir, 'info.txt');
  fs.writeFileSync(file, 'x');
  fs.chmodSync(file, 0o4751);
  const link = path.join(paused.dir, 'info.link');
  fs.symlinkSync(file, link);
  const opened: number[] = [];
  const open = (p: string, flags: number | string): number => {
    const fd = fs.openSync(p, flags);
    opened.push(fd);
    return fd;
  };
  try {
    const ro = open(file, 'r');
    const st = fs.fstatSync(ro);
    const info = native.fdInfo(ro);
    assert.deepEqual(info, {
      type: 'file',
      mode: 0o4751,
      uid: st.uid,
      gid: st.gid,
      dev: st.dev,
      ino: st.ino,
      accmode: 0,
      opath: false,
    });
    assert.equal(native.fdInfo(open(file, 'a')).accmode, 1);
    assert.equal(native.fdInfo(open(file, 'r+')).accmode, 2);
    const p = native.fdInfo(open(file, O_PATH));
    assert.equal(p.opath, true);
    assert.equal(p.type, 'file');
    assert.equal(native.fdInfo(open(link, O_PATH | fs.constants.O_NOFOLLOW)).type, 'symlink');
    assert.equal(native.fdInfo(open(paused.dir, O_PATH)).type, 'dir');
    assert.equal(native.fdInfo(open('/dev/null', 'r')).type, 'char');
    const closed = fs.openSync(file, 'r');
    fs.closeSync(closed);
    assert.throws(() => native.fdInfo(closed), { code: 'EBADF' });
  } finally {
    opened.forEach((fd) => fs.closeSync(fd));
    fs.unlinkSync(link);
    fs.unlinkSync(file);
  }
});

test('sealedMemfd copies the file, digests it like node:crypto, and is sealed', () => {
  // Sizes around the SHA-256 block and padding boundaries, and one over the copy chunk.
  for (const size of [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 65536, MiB + 123]) {
    const file = path.join(paused.dir, `blob-${size}`);
    const content = crypto.randomBytes(size);
    fs.writeFileSync(file, content);
    const { fd, sha256: digest } = native.sealedMemfd(file, `ward-test-${size}`);
    try {
      assert.equal(digest, sha256(content), `digest of ${size} bytes`);
      assert.match(digest, /^[0-9a-f]{64}$/);
      assert.ok(fdFlags(fd) & O_CLOEXEC);
      assert.equal(native.fdInfo(fd).type, 'file');
      assert.equal(fs.fstatSync(fd).size, size);
      // The offset is back at 0: a positionless read sees the whole content.
      const back = Buffer.alloc(size + 1);
      let got = 0;
      for (;;) {
        const n = fs.readSync(fd, back, got, back.length - got, null);
        if (n === 0) break;
        got += n;
      }
      assert.equal(got, size);
      assert.ok(back.subarray(0, got).equals(content));
      assert.throws(() => fs.writeSync(fd, Buffer.from('x'), 0, 1, 0), { code: 'EPERM' });
      if (size > 0) assert.throws(() => fs.ftruncateSync(fd, 0), { code: 'EPERM' });
      assert.throws(() => fs.ftruncateSync(fd, size + 4096), { code: 'EPERM' });
      // Changing the source afterwards does not change the copy.
      fs.writeFileSync(file, 'changed');
      assert.equal(fs.fstatSync(fd).size, size);
    } finally {
      native.close(fd);
      fs.unlinkSync(file);
    }
  }
});

test('sealedMemfd refuses symlinks, non-regular files and missing paths', () => {
  const target = path.join(paused.dir, 'target');
  fs.writeFileSync(target, 'x');
  const link = path.join(paused.dir, 'link');
  fs.symlinkSync(target, link);
  const fifo = path.join(paused.dir, 'fifo2');
  execFileSync('mkfifo', [fifo]);
  const base = openFdCount();
  try {
    assert.throws(() => native.sealedMemfd(link, 'l'), { code: 'ELOOP' });
    assert.throws(() => native.sealedMemfd(paused.dir, 'd'), { code: 'EINVAL' });
    assert.throws(() => native.sealedMemfd(fifo, 'p'), { code: 'EINVAL' }); // and does not hang
    assert.throws(
      () => native.sealedMemfd(path.join(paused.dir, 'nope'), 'n'),
      (err: any) => err.code === 'ENOENT' && /sealedMemfd/.test(err.message),
    );
    assert.throws(() => native.sealedMemfd(target, 'a\0b'), TypeError);
    assert.equal(openFdCount(), base);
  } finally {
    fs.unlinkSync(link);
    fs.unlinkSync(target);
    fs.unlinkSync(fifo);
  }
});
