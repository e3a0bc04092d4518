// sealTree (addon/src/seal.cc): copies a hostile tree into a root-owned store without following
// symlinks, refuses what must not be copied, and digests the copy in the documented format.
// Needs root (it builds trees owned by a fake subordinate range); skipped otherwise.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { addon, type Addon, type SealLimits, type SealResult } from '../../src/native/addon';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const BASE = 300000;
const OTHER_BASE = 400000;
const COUNT = 65536;
const O_PATH = 0o10000000; // Linux; fs.constants does not export it

function loadAddon(): Addon {
  const file = process.env.WARD_ADDON;
  return file ? (require(path.resolve(file)) as Addon) : addon();
}

function hasTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function limits(base = BASE, over: Partial<SealLimits> = {}): SealLimits {
  return {
    uidBase: base,
    uidCount: COUNT,
    gidBase: base,
    gidCount: COUNT,
    maxEntries: 100000,
    maxBytes: 1024 * 1024 * 1024,
    maxDepth: 64,
    ...over,
  };
}

// ----- building trees ------------------------------------------------------------------------

type Spec =
  | { type: 'dir'; path: string; mode: number; uid?: number; gid?: number }
  | { type: 'file'; path: string | Buffer; mode: number; data: string | Buffer; uid?: number; gid?: number }
  | { type: 'link'; path: string; target: string; uid?: number; gid?: number }
  | { type: 'fifo'; path: string; mode: number; uid?: number; gid?: number }
  | { type: 'hardlink'; path: string; to: string };

function abs(root: string, p: string | Buffer): string | Buffer {
  return typeof p === 'string' ? path.join(root, p) : Buffer.concat([Buffer.from(root + '/'), p]);
}

/** Builds root (0755, relative owner 0) and the entries in order; ids are relative to base. */
function build(root: string, specs: Spec[], base: number, rootMode = 0o755): void {
  fs.mkdirSync(root);
  fs.chownSync(root, base, base);
  const dirModes: Array<[string, number]> = [[root, rootMode]];
  for (const s of specs) {
    const p = abs(root, s.path);
    switch (s.type) {
      case 'dir':
        fs.mkdirSync(p);
        fs.chownSync(p, base + (s.uid ?? 0), base + (s.gid ?? 0));
        dirModes.push([p as string, s.mode]);
        break;
      case 'file':
        fs.writeFileSync(p, s.data);
        fs.chownSync(p, base + (s.uid ?? 0), base + (s.gid ?? 0));
        fs.chmodSync(p, s.mode); // after chown, which clears set-id bits
        break;
      case 'link':
        fs.symlinkSync(s.target, p);
        fs.lchownSync(p, base + (s.uid ?? 0), base + (s.gid ?? 0));
        break;
      case 'fifo':
        execFileSync('mkfifo', [p as string]);
        fs.chownSync(p, base + (s.uid ?? 0), base + (s.gid ?? 0));
        fs.chmodSync(p, s.mode);
        break;
      case 'hardlink':
        fs.linkSync(path.join(root, s.to), p);
        break;
    }
  }
  // Directory modes last, deepest first, so a 0555 directory could still be filled.
  for (const [p, mode] of dirModes.reverse()) fs.chmodSync(p, mode);
}

const BIG = crypto.createHash('sha512').update('ward').digest(); // 64 bytes, repeated below
function bigData(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += BIG.length) BIG.copy(b, i);
  b.writeUInt32BE(0xdeadbeef, bytes - 4);
  return b;
}

/** A tree with everything an image may legitimately hold. */
function normalTree(): Spec[] {
  return [
    { type: 'dir', path: 'bin', mode: 0o755 },
    { type: 'file', path: 'bin/su', mode: 0o4755, data: '#!/bin/sh\necho su\n' },
    { type: 'file', path: 'bin/sg', mode: 0o2755, data: '#!/bin/sh\necho sg\n', gid: 5 },
    { type: 'file', path: 'bin/big', mode: 0o755, data: bigData(2.5 * 1024 * 1024 + 7) },
    { type: 'dir', path: 'etc', mode: 0o755 },
    { type: 'file', path: 'etc/passwd', mode: 0o644, data: 'root:x:0:0::/root:/bin/sh\n' },
    { type: 'hardlink', path: 'etc/passwd-', to: 'etc/passwd' },
    { type: 'link', path: 'etc/abs', target: '/etc/shadow' },
    { type: 'link', path: 'etc/rel', target: '../bin/su' },
    { type: 'link', path: 'up', target: '../..' },
    { type: 'link', path: 'rootlink', target: '/' },
    { type: 'file', path: 'empty', mode: 0o644, data: '' },
    { type: 'dir', path: 'run', mode: 0o755 },
    { type: 'fifo', path: 'run/fifo', mode: 0o620 },
    { type: 'dir', path: 'ro', mode: 0o555 },
    { type: 'file', path: 'ro/file', mode: 0o444, data: 'read only\n' },
    { type: 'dir', path: 'ro/sub', mode: 0o555 },
    { type: 'file', path: 'ro/sub/deeper', mode: 0o400, data: 'deeper\n' },
    { type: 'dir', path: 'home', mode: 0o755 },
    { type: 'dir', path: 'home/user', mode: 0o700, uid: 1000, gid: 1000 },
    { type: 'file', path: 'home/user/.profile', mode: 0o600, data: 'PATH=/bin\n', uid: 1000, gid: 1000 },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'file', path: 'name with\nnewline', mode: 0o644, data: 'nl\n' },
    { type: 'file', path: 'caf\u00e9', mode: 0o644, data: 'utf-8\n' },
    { type: 'file', path: Buffer.from([0xff, 0x41]), mode: 0o644, data: 'not utf-8\n' },
    { type: 'file', path: 'Zupper', mode: 0o644, data: 'Z\n' },
  ];
}

// ----- reading trees back --------------------------------------------------------------------

function join(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, Buffer.from('/'), name]);
}

function sortedNames(dir: Buffer): Buffer[] {
  return (fs.readdirSync(dir, { encoding: 'buffer' }) as Buffer[]).sort(Buffer.compare);
}

/** Re-derives the digest of a tree from disk, following the format documented in seal.cc. */
function treeDigest(root: string, base: number): string {
  const h = crypto.createHash('sha256');
  h.update('ward-tree-v1\n');
  const NUL = Buffer.from([0]);
  const walk = (p: Buffer, rel: Buffer): void => {
    const st = fs.lstatSync(p);
    const head = (type: string): Buffer[] => [
      Buffer.from(type),
      rel,
      Buffer.from(String(st.mode & 0o7777)),
      Buffer.from(String(st.uid - base)),
      Buffer.from(String(st.gid - base)),
    ];
    let fields: Buffer[];
    if (st.isDirectory()) fields = head('d');
    else if (st.isFile()) {
      const data = fs.readFileSync(p);
      fields = [...head('f'), Buffer.from(String(data.length)), Buffer.from(crypto.createHash('sha256').update(data).digest('hex'))];
    } else if (st.isSymbolicLink()) fields = [...head('l'), fs.readlinkSync(p, { encoding: 'buffer' })];
    else if (st.isFIFO()) fields = head('p');
    else throw new Error(`unexpected type at ${rel.toString()}`);
    for (const f of fields) h.update(f).update(NUL);
    h.update('\n');
    if (st.isDirectory()) for (const n of sortedNames(p)) walk(join(p, n), join(rel, n));
  };
  walk(Buffer.from(root), Buffer.from('.'));
  return 'sha256:' + h.digest('hex');
}

interface Seen {
  rel: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
  content?: string; // hex sha256 of a file, or a link target
}

function describeTree(root: string): Seen[] {
  const out: Seen[] = [];
  const walk = (p: Buffer, rel: Buffer): void => {
    const st = fs.lstatSync(p);
    const type = st.isDirectory() ? 'd' : st.isFile() ? 'f' : st.isSymbolicLink() ? 'l' : st.isFIFO() ? 'p' : '?';
    const e: Seen = { rel: rel.toString('hex'), type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs };
    if (type === 'f') e.content = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    if (type === 'l') e.content = fs.readlinkSync(p, { encoding: 'buffer' }).toString('hex');
    out.push(e);
    if (st.isDirectory()) for (const n of sortedNames(p)) walk(join(p, n), join(rel, n));
  };
  walk(Buffer.from(root), Buffer.from('.'));
  return out;
}

function regularFiles(root: string): Buffer[] {
  const out: Buffer[] = [];
  const walk = (p: Buffer): void => {
    const st = fs.lstatSync(p);
    if (st.isFile()) out.push(p);
    if (st.isDirectory()) for (const n of sortedNames(p)) walk(join(p, n));
  };
  walk(Buffer.from(root));
  return out;
}

// ----- the suite -----------------------------------------------------------------------------

describe('sealTree', { skip: isRoot ? false : 'needs root' }, () => {
  let native: Addon;
  let work: string;
  let counter = 0;

  before(() => {
    native = loadAddon();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-seal-'));
    fs.chmodSync(work, 0o755); // the race test's attacker runs as a range uid and must get in
  });
  after(() => {
    // rm(1) copes with trees deeper than PATH_MAX; fs.rmSync does not.
    if (work) execFileSync('rm', ['-rf', work]);
  });

  const fresh = (label: string): string => path.join(work, `${label}-${++counter}`);

  /** A new store directory: root-owned 0700, like the helper's. */
  function store(): string {
    const p = fresh('store');
    fs.mkdirSync(p, { mode: 0o700 });
    return p;
  }

  function openDir(p: string): number {
    return fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  }

  async function seal(src: string, dstParent: string, name: string, lim: SealLimits): Promise<SealResult> {
    const s = openDir(src);
    const d = openDir(dstParent);
    try {
      return await native.sealTree(s, d, name, lim);
    } finally {
      fs.closeSync(s);
      fs.closeSync(d);
    }
  }

  async function sealFails(src: string, lim: SealLimits, code: string, pattern: RegExp): Promise<string> {
    const dst = store();
    await assert.rejects(seal(src, dst, 'x', lim), (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, code, e.message);
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes('\n'), 'one-line message');
      return true;
    });
    assert.deepEqual(fs.readdirSync(dst), [], 'the partial copy is removed');
    return dst;
  }

  test('a normal tree is copied exactly and digested in the documented format', async () => {
    const src = fresh('tree');
    build(src, normalTree(), BASE);
    const dst = store();
    const fdBefore = fs.readdirSync('/proc/self/fd').length;
    const r = await seal(src, dst, 'sealed', limits());
    const copy = path.join(dst, 'sealed');

    assert.match(r.digest, /^sha256:[0-9a-f]{64}$/);
    const want = describeTree(src);
    const got = describeTree(copy);
    assert.deepEqual(got, want, 'types, modes (incl. set-id and sticky), owners, contents, targets, mtimes');
    assert.equal(r.entries, want.length);
    const files = normalTree().filter((s) => s.type === 'file') as Array<{ data: string | Buffer }>;
    const expectBytes = files.reduce((n, s) => n + Buffer.byteLength(s.data), 0) + Buffer.byteLength('root:x:0:0::/root:/bin/sh\n');
    assert.equal(r.bytes, expectBytes, 'the hardlink is copied as a file of its own');
    assert.equal(fs.statSync(path.join(copy, 'etc/passwd-')).nlink, 1);
    assert.equal(fs.statSync(path.join(copy, 'bin/su')).mode & 0o7777, 0o4755);
    assert.equal(r.digest, treeDigest(copy, BASE), 'the digest re-derives from the copy');
    assert.equal(r.digest, treeDigest(src, BASE), 'and from the source');
    assert.equal(fs.readdirSync('/proc/self/fd').length, fdBefore, 'no fd leaked');
  });

  test('the caller keeps its fds open', async () => {
    const src = fresh('tree');
    build(src, [{ type: 'file', path: 'a', mode: 0o644, data: 'a' }], BASE);
    const s = openDir(src);
    const d = openDir(store());
    try {
      await native.sealTree(s, d, 'x', limits());
      assert.ok(fs.fstatSync(s).isDirectory());
      assert.ok(fs.fstatSync(d).isDirectory());
    } finally {
      fs.closeSync(s);
      fs.closeSync(d);
    }
  });

  test('xattrs are never copied', { skip: hasTool('setfattr') && hasTool('getfattr') ? false : 'setfattr/getfattr (Debian package attr) not installed' }, async () => {
    const src = fresh('tree');
    build(src, normalTree(), BASE);
    for (const p of ['bin/su', 'etc', '.', 'ro/file']) {
      execFileSync('setfattr', ['-n', 'user.ward', '-v', 'image', path.join(src, p)]);
      execFileSync('setfattr', ['-n', 'security.ward', '-v', 'image', path.join(src, p)]);
    }
    execFileSync('setfattr', ['-h', '-n', 'security.ward', '-v', 'image', path.join(src, 'etc/rel')]);
    // A file capability as an image would carry it (cap_net_raw+ep, VFS_CAP_REVISION_2).
    execFileSync('setfattr', ['-n', 'security.capability', '-v', '0x0000000200200000000000000000000000000000', path.join(src, 'bin/big')]);
    assert.match(execFileSync('getfattr', ['-d', '-m', '-', '--absolute-names', path.join(src, 'bin/su')]).toString(), /user\.ward/);

    const dst = store();
    await seal(src, dst, 'x', limits());
    const copy = path.join(dst, 'x');
    for (const p of [copy, ...['bin/su', 'bin/big', 'etc', 'etc/rel', 'ro/file', 'run/fifo'].map((q) => path.join(copy, q))]) {
      const out = execFileSync('getfattr', ['-h', '-d', '-m', '-', '--absolute-names', p]).toString();
      assert.equal(out.trim(), '', `no xattrs on ${p}`);
    }
  });

  test('the digest is stable and independent of the range base', async () => {
    const a = fresh('tree');
    build(a, normalTree(), BASE);
    const b = fresh('tree');
    build(b, normalTree(), OTHER_BASE);
    const r1 = await seal(a, store(), 'x', limits());
    const r2 = await seal(a, store(), 'x', limits());
    const r3 = await seal(b, store(), 'x', limits(OTHER_BASE));
    assert.equal(r1.digest, r2.digest);
    assert.equal(r1.digest, r3.digest);
  });

  test('the digest changes with one byte, one mode bit, one owner, one link target', async () => {
    const baseTree = fresh('tree');
    build(baseTree, normalTree(), BASE);
    const ref = (await seal(baseTree, store(), 'x', limits())).digest;

    const variants: Array<[string, (s: Spec[]) => void]> = [
      ['one byte', (s) => edit(s, 'etc/passwd', (e) => ((e as { data: string }).data = 'root:x:0:0::/root:/bin/sH\n'))],
      ['one mode bit', (s) => edit(s, 'bin/su', (e) => ((e as { mode: number }).mode = 0o4754))],
      ['the set-uid bit', (s) => edit(s, 'bin/su', (e) => ((e as { mode: number }).mode = 0o755))],
      ['one owner', (s) => edit(s, 'etc/passwd', (e) => ((e as { uid: number }).uid = 1))],
      ['one group', (s) => edit(s, 'etc/passwd', (e) => ((e as { gid: number }).gid = 1))],
      ['one link target', (s) => edit(s, 'etc/rel', (e) => ((e as { target: string }).target = '../bin/sg'))],
      ['a fifo instead of an empty file', (s) => edit(s, 'empty', (e) => Object.assign(e, { type: 'fifo' }))],
      ['a directory mode', (s) => edit(s, 'ro', (e) => ((e as { mode: number }).mode = 0o755))],
    ];
    const seen = new Set([ref]);
    for (const [what, change] of variants) {
      const spec = normalTree();
      change(spec);
      const t = fresh('tree');
      build(t, spec, BASE);
      const dst = store();
      const r = await seal(t, dst, 'x', limits());
      assert.ok(!seen.has(r.digest), `digest changes with ${what}`);
      assert.equal(r.digest, treeDigest(path.join(dst, 'x'), BASE), `format holds for ${what}`);
      seen.add(r.digest);
    }

    function edit(s: Spec[], p: string, f: (e: Spec) => void): void {
      const e = s.find((x) => x.path === p);
      assert.ok(e, p);
      f(e);
    }
  });

  test('symlinks to / and ../.. are copied as links; nothing outside is read', async () => {
    const outside = fresh('outside');
    fs.mkdirSync(outside);
    const canary = 'CANARY ' + crypto.randomBytes(16).toString('hex');
    fs.writeFileSync(path.join(outside, 'secret'), canary);
    // Owned inside the range, so only not following links keeps it out of the copy.
    fs.chownSync(outside, BASE, BASE);
    fs.chownSync(path.join(outside, 'secret'), BASE, BASE);

    const src = fresh('tree');
    build(src, [
      { type: 'link', path: 'root', target: '/' },
      { type: 'link', path: 'up', target: '../..' },
      { type: 'link', path: 'out', target: outside },
      { type: 'dir', path: 'd', mode: 0o755 },
      { type: 'link', path: 'd/secret', target: '../../' + path.basename(outside) + '/secret' },
      { type: 'link', path: 'd/self', target: '.' },
      { type: 'link', path: 'd/loop', target: 'loop' },
    ], BASE);
    const dst = store();
    const r = await seal(src, dst, 'x', limits());
    const copy = path.join(dst, 'x');
    assert.equal(r.entries, 8);
    assert.equal(r.bytes, 0);
    assert.equal(fs.readlinkSync(path.join(copy, 'root')), '/');
    assert.equal(fs.readlinkSync(path.join(copy, 'up')), '../..');
    assert.equal(fs.readlinkSync(path.join(copy, 'out')), outside);
    assert.equal(fs.readlinkSync(path.join(copy, 'd/secret')), '../../' + path.basename(outside) + '/secret');
    for (const p of ['root', 'up', 'out', 'd/secret', 'd/self', 'd/loop']) {
      assert.ok(fs.lstatSync(path.join(copy, p)).isSymbolicLink(), p);
      assert.equal(fs.lstatSync(path.join(copy, p)).uid, BASE, p);
    }
    assert.deepEqual(regularFiles(copy), []);
  });

  test('srcDirFd given as the symlink itself is refused', async () => {
    const src = fresh('tree');
    build(src, [{ type: 'link', path: 'l', target: '/' }], BASE);
    const fd = fs.openSync(path.join(src, 'l'), O_PATH | fs.constants.O_NOFOLLOW);
    const d = openDir(store());
    try {
      await assert.rejects(native.sealTree(fd, d, 'x', limits()), { code: 'ESEALTYPE' });
    } finally {
      fs.closeSync(fd);
      fs.closeSync(d);
    }
  });

  test('a hardlink to a root-owned host file is refused and the copy removed', async () => {
    const outside = fresh('shadow');
    fs.writeFileSync(outside, 'root:$6$secret:19000:0:99999:7:::\n', { mode: 0o600 });
    const src = fresh('tree');
    build(src, [
      { type: 'dir', path: 'a', mode: 0o755 },
      { type: 'file', path: 'a/ok', mode: 0o644, data: 'fine' },
      { type: 'dir', path: 'etc', mode: 0o555 },
    ], BASE);
    fs.chmodSync(path.join(src, 'etc'), 0o755);
    fs.linkSync(outside, path.join(src, 'etc/shadow'));
    fs.chmodSync(path.join(src, 'etc'), 0o555);
    await sealFails(src, limits(), 'ESEALOWNER', /^ESEALOWNER: \.\/etc\/shadow: owner uid 0 is outside/);
  });

  test('owners and groups outside the range are refused, wherever they are', async () => {
    for (const [uid, gid, re] of [
      [BASE + COUNT, BASE, /uid 365536/],
      [BASE - 1, BASE, /uid 299999/],
      [BASE, 12345, /gid 12345/],
    ] as Array<[number, number, RegExp]>) {
      const src = fresh('tree');
      build(src, [{ type: 'dir', path: 'a', mode: 0o755 }, { type: 'file', path: 'a/f', mode: 0o644, data: 'x' }], BASE);
      fs.chownSync(path.join(src, 'a/f'), uid, gid);
      await sealFails(src, limits(), 'ESEALOWNER', re);
    }
    const root = fresh('tree');
    build(root, [], BASE);
    fs.chownSync(root, 0, 0);
    await sealFails(root, limits(), 'ESEALOWNER', /^ESEALOWNER: \.: owner uid 0/);
  });

  test('device nodes and sockets are refused', async () => {
    const chr = fresh('tree');
    build(chr, [
      { type: 'file', path: 'a', mode: 0o644, data: 'copied first' },
      { type: 'dir', path: 'dev', mode: 0o755 },
    ], BASE);
    execFileSync('mknod', [path.join(chr, 'dev/null'), 'c', '1', '3']);
    fs.chownSync(path.join(chr, 'dev/null'), BASE, BASE);
    await sealFails(chr, limits(), 'ESEALTYPE', /^ESEALTYPE: \.\/dev\/null: a character device/);

    const blk = fresh('tree');
    build(blk, [], BASE);
    execFileSync('mknod', [path.join(blk, 'loop'), 'b', '7', '200']);
    fs.chownSync(path.join(blk, 'loop'), BASE, BASE);
    await sealFails(blk, limits(), 'ESEALTYPE', /block device/);

    const sock = fresh('tree');
    build(sock, [], BASE);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(sock, 's'), resolve));
    try {
      fs.chownSync(path.join(sock, 's'), BASE, BASE);
      await sealFails(sock, limits(), 'ESEALTYPE', /^ESEALTYPE: \.\/s: a socket/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('limits on entries, bytes, depth and path length', async () => {
    const many = fresh('tree');
    build(many, Array.from({ length: 10 }, (_, i) => ({ type: 'file' as const, path: `f${i}`, mode: 0o644, data: 'x' })), BASE);
    assert.equal((await seal(many, store(), 'x', limits(BASE, { maxEntries: 11 }))).entries, 11);
    await sealFails(many, limits(BASE, { maxEntries: 10 }), 'ESEALLIMIT', /limit maxEntries 10 exceeded/);

    const heavy = fresh('tree');
    build(heavy, [
      { type: 'file', path: 'a', mode: 0o644, data: Buffer.alloc(1000) },
      { type: 'file', path: 'b', mode: 0o644, data: Buffer.alloc(1000) },
    ], BASE);
    assert.equal((await seal(heavy, store(), 'x', limits(BASE, { maxBytes: 2000 }))).bytes, 2000);
    await sealFails(heavy, limits(BASE, { maxBytes: 1999 }), 'ESEALLIMIT', /^ESEALLIMIT: \.\/b: limit maxBytes 1999 exceeded/);

    const deep = fresh('tree');
    build(deep, [
      { type: 'dir', path: 'a', mode: 0o755 },
      { type: 'dir', path: 'a/b', mode: 0o755 },
      { type: 'dir', path: 'a/b/c', mode: 0o755 },
      { type: 'file', path: 'a/b/c/d', mode: 0o644, data: 'deep' },
    ], BASE);
    await seal(deep, store(), 'x', limits(BASE, { maxDepth: 4 }));
    await sealFails(deep, limits(BASE, { maxDepth: 3 }), 'ESEALLIMIT', /^ESEALLIMIT: \.\/a\/b\/c\/d: limit maxDepth 3 exceeded/);

    // 17 levels of 250-byte names: a relative path over 4096 bytes.
    const long = fresh('tree');
    build(long, [], BASE);
    const n = 'n'.repeat(250);
    execFileSync('sh', ['-c', `cd -P "$1" && for i in $(seq 17); do mkdir ${n} && chown ${BASE}:${BASE} ${n} && cd -P ${n}; done`, 'sh', long]);
    await sealFails(long, limits(), 'ESEALLIMIT', /limit maxPath 4096 exceeded/);
  });

  test('a mount point inside the tree is refused', async (t) => {
    const src = fresh('tree');
    build(src, [{ type: 'dir', path: 'mnt', mode: 0o755 }], BASE);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=1m,uid=${BASE},gid=${BASE}`, 'ward-seal-test', path.join(src, 'mnt')], { stdio: 'ignore' });
    } catch {
      t.skip('mount -t tmpfs is not permitted here');
      return;
    }
    try {
      fs.writeFileSync(path.join(src, 'mnt', 'f'), 'on another filesystem');
      fs.chownSync(path.join(src, 'mnt', 'f'), BASE, BASE);
      await sealFails(src, limits(), 'ESEALXDEV', /^ESEALXDEV: \.\/mnt: a mount point/);
    } finally {
      execFileSync('umount', [path.join(src, 'mnt')]);
    }
  });

  test('a file that changes size while being copied is refused, or its copy is what is digested', async (t) => {
    const src = fresh('tree');
    build(src, [{ type: 'file', path: 'grows', mode: 0o644, data: Buffer.alloc(50 * 1024 * 1024, 1) }], BASE);
    const script = `
      const fs = require('fs');
      const fd = fs.openSync(process.argv[1], 'r+');
      for (let n = 0; ; n++) { fs.writeSync(fd, Buffer.from([2]), 0, 1, 50 * 1024 * 1024 + (n % 4096)); if (n % 4096 === 4095) fs.ftruncateSync(fd, 50 * 1024 * 1024 - 1); }`;
    const writer = spawn(process.execPath, ['-e', script, path.join(src, 'grows')], { uid: BASE, gid: BASE, stdio: 'ignore' });
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const dst = store();
      try {
        const r = await seal(src, dst, 'x', limits());
        assert.equal(r.digest, treeDigest(path.join(dst, 'x'), BASE));
        assert.equal(r.bytes, fs.statSync(path.join(dst, 'x', 'grows')).size);
        t.diagnostic('outcome: sealed');
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code === 'ERR_ASSERTION') throw e;
        assert.equal(err.code, 'ESEALRACE', err.message);
        assert.match(err.message, /^ESEALRACE: \.\/grows: the file (grew|shrank)/);
        assert.deepEqual(fs.readdirSync(dst), []);
        t.diagnostic(`outcome: ${err.message}`);
      }
      assert.equal(writer.exitCode, null, 'the writer was still running throughout');
    } finally {
      writer.kill('SIGKILL');
    }
  });

  test('an existing destination is refused and left alone', async () => {
    const src = fresh('tree');
    build(src, [{ type: 'file', path: 'a', mode: 0o644, data: 'a' }], BASE);
    const dst = store();
    fs.mkdirSync(path.join(dst, 'x'));
    fs.writeFileSync(path.join(dst, 'x', 'keep'), 'mine');
    await assert.rejects(seal(src, dst, 'x', limits()), { code: 'ESEALEXISTS' });
    assert.equal(fs.readFileSync(path.join(dst, 'x', 'keep'), 'utf8'), 'mine');
    fs.symlinkSync('/tmp', path.join(dst, 'y'));
    await assert.rejects(seal(src, dst, 'y', limits()), { code: 'ESEALEXISTS' });
  });

  test('bad fds and arguments are errors, not crashes', async () => {
    const src = fresh('tree');
    build(src, [], BASE);
    const file = fresh('file');
    fs.writeFileSync(file, 'not a directory');
    const dst = store();

    const f = fs.openSync(file, 'r');
    const d = openDir(dst);
    const s = openDir(src);
    try {
      await assert.rejects(native.sealTree(f, d, 'x', limits()), { code: 'ESEALTYPE', message: /srcDirFd is a regular file/ });
      await assert.rejects(native.sealTree(s, f, 'x', limits()), { code: 'ESEALDEST' });
      await assert.rejects(native.sealTree(99999, d, 'x', limits()), { code: 'EBADF' });
      await assert.rejects(native.sealTree(-1, d, 'x', limits()), RangeError);
      for (const name of ['', '.', '..', 'a/b', 'a\0b', 'x'.repeat(256)]) {
        await assert.rejects(native.sealTree(s, d, name, limits()), TypeError, JSON.stringify(name));
      }
      await assert.rejects(native.sealTree(s, d, 'x', limits(0)), RangeError, 'a range containing uid 0');
      await assert.rejects(native.sealTree(s, d, 'x', { ...limits(), uidCount: 0 }), RangeError);
      await assert.rejects(native.sealTree(s, d, 'x', { ...limits(), maxBytes: 1.5 }), RangeError);
      await assert.rejects(native.sealTree(s, d, 'x', { ...limits(), maxDepth: '3' } as unknown as SealLimits), TypeError);
      await assert.rejects(
        native.sealTree(s, d, 'x', Object.defineProperty({ ...limits() }, 'maxEntries', { get: () => { throw new Error('boom'); } })),
        /boom/,
      );
      assert.deepEqual(fs.readdirSync(dst), []);
    } finally {
      fs.closeSync(f);
      fs.closeSync(d);
      fs.closeSync(s);
    }

    // A store others can write to would let them swap the destination.
    const open = fresh('store');
    fs.mkdirSync(open, { mode: 0o700 });
    fs.chmodSync(open, 0o1777);
    await assert.rejects(seal(src, open, 'x', limits()), { code: 'ESEALDEST' });
  });

  test('racing a directory swap to a symlink never copies a file from outside', async (t) => {
    const outside = fresh('outside');
    fs.mkdirSync(outside);
    const canary = 'CANARY ' + crypto.randomBytes(16).toString('hex');
    fs.writeFileSync(path.join(outside, 'secret'), canary);
    fs.chownSync(outside, BASE, BASE);
    fs.chownSync(path.join(outside, 'secret'), BASE, BASE);

    const src = fresh('tree');
    build(src, [
      { type: 'file', path: 'a-big', mode: 0o644, data: Buffer.alloc(50 * 1024 * 1024, 0x5a) },
      { type: 'dir', path: 'sub', mode: 0o755 },
      { type: 'file', path: 'sub/secret', mode: 0o644, data: 'inside' },
      { type: 'dir', path: 'sub/inner', mode: 0o755 },
      { type: 'file', path: 'sub/inner/secret', mode: 0o644, data: 'inside too' },
    ], BASE);

    // The attacker: the tree's owner, swapping sub for a symlink out of the tree and back.
    const script = `
      const fs = require('fs');
      const [t, out] = process.argv.slice(1);
      for (;;) {
        try { fs.renameSync(t + '/sub', t + '/sub.tmp'); } catch {}
        try { fs.symlinkSync(out, t + '/sub'); } catch {}
        try { fs.renameSync(t + '/sub.tmp/inner', t + '/sub.tmp/inner.tmp'); fs.symlinkSync(out, t + '/sub.tmp/inner'); } catch {}
        try { fs.unlinkSync(t + '/sub.tmp/inner'); fs.renameSync(t + '/sub.tmp/inner.tmp', t + '/sub.tmp/inner'); } catch {}
        try { fs.unlinkSync(t + '/sub'); } catch {}
        try { fs.renameSync(t + '/sub.tmp', t + '/sub'); } catch {}
      }`;
    const attacker: ChildProcess = spawn(process.execPath, ['-e', script, src, outside], { uid: BASE, gid: BASE, stdio: 'ignore' });
    const outcomes: string[] = [];
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      for (let i = 0; i < 6; i++) {
        const dst = store();
        try {
          const r = await seal(src, dst, 'x', limits());
          outcomes.push('sealed');
          const copy = path.join(dst, 'x');
          for (const f of regularFiles(copy)) {
            assert.notEqual(fs.readFileSync(f, 'utf8'), canary, `copied the outside file as ${f.toString()}`);
          }
          assert.equal(r.digest, treeDigest(copy, BASE));
        } catch (e) {
          const err = e as NodeJS.ErrnoException;
          if (err.code === 'ERR_ASSERTION') throw e;
          assert.equal(err.code, 'ESEALRACE', err.message);
          assert.deepEqual(fs.readdirSync(dst), [], 'a failed seal leaves nothing');
          outcomes.push(err.message);
        }
      }
      assert.equal(attacker.exitCode, null, 'the attacker was still running throughout');
    } finally {
      attacker.kill('SIGKILL');
    }
    t.diagnostic(`outcomes: ${outcomes.join('; ')}`);
  });
});
