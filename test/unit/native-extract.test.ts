// writeNewFile (addon/src/extract.cc), the extractor's one-call regular file write: exclusive
// create never through a symlink, owner, mode and time exactly as asked, nothing touched when
// something is already there, bad arguments refused. Ownership needs root; skipped otherwise.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { addon, type Addon } from '../../src/native/addon';

const EEXIST = 17;
const isRoot = process.getuid?.() === 0;

describe('writeNewFile', { skip: isRoot ? false : 'needs root' }, () => {
  let native: Addon;
  let dir: string;
  let n = 0;
  const p = () => path.join(dir, `f${n++}`);

  before(() => {
    native = addon();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-native-extract-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('creates the file with its bytes, owner, mode (setuid kept for owned files) and mtime', () => {
    const f = p();
    const data = Buffer.alloc(5 * 1024 * 1024 + 3, 0xab);
    assert.equal(native.writeNewFile(f, data, 0o4750, 1234, 5678, 1_700_000_123), 0);
    const st = fs.lstatSync(f);
    assert.ok(st.isFile());
    assert.equal(st.mode & 0o7777, 0o4750);
    assert.equal(st.uid, 1234);
    assert.equal(st.gid, 5678);
    assert.equal(Math.floor(st.mtimeMs / 1000), 1_700_000_123);
    assert.ok(fs.readFileSync(f).equals(data));
  });

  test('an empty body; a mode the umask would narrow is kept as asked', () => {
    const f = p();
    const old = process.umask(0o077);
    try {
      assert.equal(native.writeNewFile(f, Buffer.alloc(0), 0o666, 0, 0, 0), 0);
    } finally {
      process.umask(old);
    }
    const st = fs.lstatSync(f);
    assert.equal(st.size, 0);
    assert.equal(st.mode & 0o7777, 0o666);
  });

  test('without owners (uid -1) the creator keeps the file and setuid and setgid are dropped', () => {
    const f = p();
    assert.equal(native.writeNewFile(f, Buffer.from('x'), 0o6755, -1, -1, 0), 0);
    const st = fs.lstatSync(f);
    assert.equal(st.mode & 0o7777, 0o755);
    assert.equal(st.uid, process.getuid!());
  });

  test('EEXIST, and nothing touched, when a file, a symlink or a dangling symlink is already there', () => {
    const f = p();
    fs.writeFileSync(f, 'keep', { mode: 0o600 });
    assert.equal(native.writeNewFile(f, Buffer.from('new'), 0o644, 0, 0, 0), EEXIST);
    assert.equal(fs.readFileSync(f, 'utf8'), 'keep');
    assert.equal(fs.lstatSync(f).mode & 0o777, 0o600);

    const victim = p();
    fs.writeFileSync(victim, 'victim', { mode: 0o600 });
    const link = p();
    fs.symlinkSync(victim, link);
    assert.equal(native.writeNewFile(link, Buffer.from('through'), 0o777, 0, 0, 0), EEXIST);
    assert.equal(fs.readFileSync(victim, 'utf8'), 'victim', 'never written through a symlink');
    assert.equal(fs.lstatSync(victim).mode & 0o777, 0o600);

    const missing = path.join(dir, 'not-there');
    const dangling = p();
    fs.symlinkSync(missing, dangling);
    assert.equal(native.writeNewFile(dangling, Buffer.from('x'), 0o644, 0, 0, 0), EEXIST);
    assert.equal(fs.existsSync(missing), false, 'nothing created at a dangling symlink\'s target');
  });

  test('errors are thrown with their errno code and one line', () => {
    assert.throws(() => native.writeNewFile(path.join(dir, 'no', 'parent'), Buffer.from('x'), 0o644, 0, 0, 0), (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, 'ENOENT');
      assert.equal(e.syscall, 'open');
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    const f = p();
    fs.writeFileSync(f, '');
    assert.throws(() => native.writeNewFile(path.join(f, 'child'), Buffer.from('x'), 0o644, 0, 0, 0), { code: 'ENOTDIR' });
  });

  test('bad arguments are refused before anything is made', () => {
    const f = p();
    const bad: unknown[][] = [
      [f, 'not a buffer', 0o644, 0, 0, 0],
      [f, Buffer.from('x'), 0o10000, 0, 0, 0],
      [f, Buffer.from('x'), -1, 0, 0, 0],
      [f, Buffer.from('x'), 0o644, 65536, 0, 0],
      [f, Buffer.from('x'), 0o644, 0, 65536, 0],
      [f, Buffer.from('x'), 0o644, -1, 0, 0],
      [`${f}\0evil`, Buffer.from('x'), 0o644, 0, 0, 0],
      ['', Buffer.from('x'), 0o644, 0, 0, 0],
      [f, Buffer.from('x'), 0o644, 0, 0],
    ];
    for (const args of bad) {
      assert.throws(() => (native.writeNewFile as (...a: unknown[]) => number)(...args), TypeError, JSON.stringify(args.map(String)));
    }
    assert.equal(fs.existsSync(f), false);
  });

  test('FileWriter: files made in order on its own thread, all on disk after fence(), also through a tiny queue', () => {
    for (const [bytes, files] of [[8 << 20, 64], [1, 1]] as const) {
      const w = native.fileWriter(bytes, files);
      const made: string[] = [];
      try {
        for (let i = 0; i < 200; i++) {
          const f = p();
          made.push(f);
          const body = Buffer.alloc(i * 37, i & 0xff);
          w.write(f, body, i % 2 ? 0o640 : 0o4755, i, 1000 + i, 1_600_000_000 + i);
          body.fill(0xee); // the writer copied it: the caller may reuse its buffer at once
        }
        w.fence();
        made.forEach((f, i) => {
          const st = fs.lstatSync(f);
          assert.equal(st.mode & 0o7777, i % 2 ? 0o640 : 0o4755);
          assert.equal(st.uid, i);
          assert.equal(st.gid, 1000 + i);
          assert.equal(Math.floor(st.mtimeMs / 1000), 1_600_000_000 + i);
          assert.ok(fs.readFileSync(f).equals(Buffer.alloc(i * 37, i & 0xff)), `content of file ${i}`);
        });
      } finally {
        w.close();
      }
    }
  });

  test('FileWriter: the first failure is thrown by fence() and every later call; what followed it is dropped', () => {
    const w = native.fileWriter(1 << 20, 16);
    try {
      const first = p();
      const after = p();
      w.write(first, Buffer.from('1'), 0o644, 0, 0, 0);
      w.write(first, Buffer.from('again'), 0o644, 0, 0, 0); // a path given twice: never overwritten
      try {
        w.write(after, Buffer.from('x'), 0o644, 0, 0, 0); // queued behind the failure, or refused if it is known already
      } catch (e) {
        assert.equal((e as NodeJS.ErrnoException).code, 'EEXIST');
      }
      assert.throws(() => w.fence(), (e: NodeJS.ErrnoException) => e.code === 'EEXIST' && e.syscall === 'open' && e.message.includes(first));
      assert.equal(fs.readFileSync(first, 'utf8'), '1');
      assert.throws(() => w.write(after, Buffer.from('x'), 0o644, 0, 0, 0), { code: 'EEXIST' });
      assert.throws(() => w.fence(), { code: 'EEXIST' });
      assert.equal(fs.existsSync(after), false);
    } finally {
      w.close();
    }
    const link = p();
    fs.symlinkSync(path.join(dir, 'target-of-link'), link);
    const w2 = native.fileWriter(1 << 20, 16);
    try {
      w2.write(link, Buffer.from('x'), 0o644, 0, 0, 0);
      assert.throws(() => w2.fence(), { code: 'EEXIST' });
      assert.equal(fs.existsSync(path.join(dir, 'target-of-link')), false, 'never written through a symlink');
    } finally {
      w2.close();
    }
  });

  test('FileWriter: close() finishes what is queued; a closed writer refuses; bad arguments are refused', () => {
    const w = native.fileWriter(1 << 20, 16);
    const f = p();
    w.write(f, Buffer.from('queued'), 0o644, 0, 0, 0);
    w.close();
    w.close();
    assert.equal(fs.readFileSync(f, 'utf8'), 'queued');
    assert.throws(() => w.write(p(), Buffer.from('x'), 0o644, 0, 0, 0), /closed/);
    const w2 = native.fileWriter(1 << 20, 16);
    try {
      assert.throws(() => (w2.write as (...a: unknown[]) => void)(p(), 'str', 0o644, 0, 0, 0), TypeError);
      assert.throws(() => w2.write(p(), Buffer.from('x'), 0o20000, 0, 0, 0), TypeError);
    } finally {
      w2.close();
    }
    for (const args of [[0, 1], [1, 0], [2 ** 31, 1], [1, 65537], ['1', 1]]) {
      assert.throws(() => (native.fileWriter as (...a: unknown[]) => unknown)(...args), TypeError, JSON.stringify(args));
    }
  });
});
