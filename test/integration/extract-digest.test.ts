// The tree digest the extractor reports (computed from what it wrote, lstat'ing only what it did
// not make itself) must be byte-for-byte the digest the helper computes when it seals the tree
// (addon/src/seal.cc) and the one a full walk computes, on hostile-shaped layered trees:
// whiteouts, opaque directories, hard links whose source is later replaced, a directory replaced
// by a file or a symlink, setuid and setgid inside the range, odd names, bodies split across
// chunks. A directory replaced by a symlink must not pass its mode on to what the symlink names.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { addon } from '../../src/native/addon';
import { treeDigest } from '../../src/image/tree-digest';
import { compress, tarOf, writeLayer, type Entry } from '../lib/layers';
import { account, REPO, TestEnv, USERS } from '../lib/env';

const CLI = path.join(REPO, 'dist', 'test', 'lib', 'render-cli.js');

describe('tree digest of the extractor = the helper\'s sealed digest', () => {
  const env = new TestEnv('extract-digest');
  let n = 0;
  before(() => fs.chmodSync(env.fixtures, 0o755));
  after(() => env.stop());

  async function layer(entries: Entry[], how: Parameters<typeof compress>[1] = 'gzip') {
    return writeLayer(env.fixture(`layer-${n++}.tar`), compress(await tarOf(entries), how));
  }

  function render(layers: { file: string; digest: string; size: number | null }[]): { dir: string; tree: string } {
    const spec = layers.map((l, i) => ({ ...l, kind: 'oci', name: `layer ${i + 1}` }));
    const r = spawnSync('setpriv', ['--reuid', USERS.a, '--regid', USERS.a, '--init-groups', '--', process.execPath, CLI, env.storeDir('a'), JSON.stringify(spec)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { dir?: string; error?: string; answer?: { tree: string } };
    assert.equal(out.error, undefined);
    return { dir: out.dir!, tree: out.answer!.tree };
  }

  function renderError(l: { file: string; digest: string; size: number | null }): string | undefined {
    const spec = [{ ...l, kind: 'oci', name: 'layer 1' }];
    const r = spawnSync('setpriv', ['--reuid', USERS.a, '--regid', USERS.a, '--init-groups', '--', process.execPath, CLI, env.storeDir('a'), JSON.stringify(spec)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return (JSON.parse(r.stdout) as { error?: string }).error;
  }

  /** Seals rootfs as the helper does (into a root-owned dir) and returns its digest. */
  async function sealed(rootfs: string): Promise<string> {
    const acct = account(USERS.a);
    const dst = fs.mkdtempSync(path.join(env.dir, 'sealed-'));
    const s = fs.openSync(rootfs, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    const d = fs.openSync(dst, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      const r = await addon().sealTree(s, d, 'x', { uidBase: acct.subuid, uidCount: 65536, gidBase: acct.subgid, gidCount: 65536, maxEntries: 100000, maxBytes: 1 << 30, maxDepth: 64 });
      return r.digest;
    } finally {
      fs.closeSync(s);
      fs.closeSync(d);
      fs.rmSync(dst, { recursive: true, force: true });
    }
  }

  async function same(layers: Entry[][], hows: Parameters<typeof compress>[1][] = []): Promise<string> {
    const ls = [];
    for (const [i, entries] of layers.entries()) ls.push(await layer(entries, hows[i] ?? 'gzip'));
    const r = render(ls);
    const rootfs = path.join(r.dir, 'rootfs');
    const acct = account(USERS.a);
    assert.equal(r.tree, await sealed(rootfs), 'the extractor\'s digest is the helper\'s');
    assert.equal(r.tree, treeDigest(rootfs, { uid: acct.subuid, gid: acct.subgid }), 'and a full walk\'s');
    return rootfs;
  }

  test('whiteouts, opaque directories, replaced hard-link sources, types replacing each other', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
    const rootfs = await same([
      [
        { name: 'etc/', type: 'directory' },
        { name: 'etc/a', body: 'a1' },
        { name: 'etc/b', body: 'b1' },
        { name: 'etc/hard', type: 'link', linkname: 'etc/a' },
        { name: 'opq/', type: 'directory', mode: 0o750, uid: 7, gid: 8 },
        { name: 'opq/old', body: 'old' },
        { name: 'opq/sub/', type: 'directory' },
        { name: 'opq/sub/deep', body: 'deep' },
        { name: 'd2f/', type: 'directory' },
        { name: 'd2f/inner', body: 'x' },
        { name: 'f2d', body: 'file first' },
        { name: 'l2f', type: 'symlink', linkname: '/etc/passwd' },
        { name: 'ro/', type: 'directory', mode: 0o555 },
        { name: 'ro/in', body: 'inside a read-only dir', mode: 0o444 },
        { name: 'big', body: big, mode: 0o755 },
        { name: 'suid', body: '#!/bin/sh\n', mode: 0o4755, uid: 0 },
        { name: 'sgid', body: '#!/bin/sh\n', mode: 0o2711, uid: 1000, gid: 65535 },
        { name: 'caf\u00e9', body: 'nfc' },
        { name: 'cafe\u0301', body: 'nfd' },
        { name: 'new\nline', body: 'newline in a name' },
        { name: 'empty', body: '' },
      ],
      [
        { name: 'etc/a', body: 'a2 replaces the source of a hard link' },
        { name: 'etc/.wh.b' },
        { name: 'opq/.wh..wh..opq' },
        { name: 'opq/new', body: 'new' },
        { name: 'd2f', body: 'a file where a directory was' },
        { name: 'f2d/', type: 'directory', mode: 0o711 },
        { name: 'l2f', body: 'a file where a symlink was', uid: 42 },
        { name: 'abs', type: 'symlink', linkname: '/' },
        { name: 'up', type: 'symlink', linkname: '../../..' },
      ],
    ], ['gzip', 'zstd']);
    assert.equal(fs.readFileSync(path.join(rootfs, 'etc/hard'), 'utf8'), 'a1', 'the hard link keeps the old content');
  });

  test('a directory replaced by a symlink does not pass its mode and time to what the symlink names', async () => {
    const rootfs = await same([
      [
        { name: 'victim', body: 'v', mode: 0o600, mtime: new Date(1_600_000_000_000) },
        { name: 'a/', type: 'directory', mode: 0o777, mtime: new Date(1_000_000_000_000) },
      ],
      [{ name: 'a', type: 'symlink', linkname: 'victim' }],
    ]);
    const st = fs.statSync(path.join(rootfs, 'victim'));
    assert.equal(st.mode & 0o7777, 0o600);
    assert.equal(Math.floor(st.mtimeMs / 1000), 1_600_000_000);
  });

  test('an uncompressed layer, a directory given twice, an entry rewritten in the same layer', async () => {
    await same([
      [
        { name: 'd/', type: 'directory', mode: 0o700 },
        { name: 'd/f', body: 'one' },
        { name: 'd/f', body: 'two, same layer' },
        { name: 'd/', type: 'directory', mode: 0o755, uid: 3 },
        { name: 's', type: 'symlink', linkname: 'd/f' },
        { name: 's', type: 'symlink', linkname: 'elsewhere' },
      ],
    ], ['none']);
  });

  test('records never stand in for what they do not describe: a name that is not UTF-8, a type that changed', () => {
    const root = fs.mkdtempSync(path.join(env.dir, 'records-'));
    try {
      fs.writeFileSync(Buffer.from(`${root}/a\xff`, 'latin1'), 'on disk');
      fs.writeFileSync(path.join(root, 'was-a-link'), 'now a file');
      fs.symlinkSync('t', path.join(root, 'was-a-file'));
      const lie = { mode: 0o777, uid: 1, gid: 2 };
      const known = new Map([
        ['./a\uFFFD', { type: 'f' as const, ...lie, size: 7, sha256: '0'.repeat(64) }],
        ['./was-a-link', { type: 'l' as const, ...lie, link: 'x' }],
        ['./was-a-file', { type: 'f' as const, ...lie, size: 1, sha256: '0'.repeat(64) }],
      ]);
      assert.equal(treeDigest(root, { uid: 0, gid: 0 }, known), treeDigest(root, { uid: 0, gid: 0 }));
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test('entries meeting a file still being written in the same chunk: replaced, linked, whited out, gone through', async () => {
    // Small bodies in one small layer: every file is queued to the writer thread, and each later
    // entry here must wait for it (or be refused) exactly as if it had been written at once.
    const rootfs = await same([
      [
        { name: 'f2d', body: 'file' },
        { name: 'f2d/', type: 'directory', mode: 0o750 },
        { name: 'f2d/in', body: 'inside' },
        { name: 'f2l', body: 'file' },
        { name: 'f2l', type: 'symlink', linkname: 'f2d/in' },
        { name: 'src', body: 'linked' },
        { name: 'hard', type: 'link', linkname: 'src' },
        { name: 'gone', body: 'whited out' },
        { name: '.wh.gone' },
        { name: 'twice', body: 'first' },
        { name: 'twice', body: 'second', mode: 0o600 },
      ],
    ]);
    assert.ok(fs.lstatSync(path.join(rootfs, 'f2d')).isDirectory());
    assert.equal(fs.readFileSync(path.join(rootfs, 'f2d/in'), 'utf8'), 'inside');
    assert.equal(fs.readlinkSync(path.join(rootfs, 'f2l')), 'f2d/in');
    assert.equal(fs.readFileSync(path.join(rootfs, 'hard'), 'utf8'), 'linked');
    assert.equal(fs.lstatSync(path.join(rootfs, 'hard')).ino, fs.lstatSync(path.join(rootfs, 'src')).ino);
    assert.equal(fs.existsSync(path.join(rootfs, 'gone')), false);
    assert.equal(fs.readFileSync(path.join(rootfs, 'twice'), 'utf8'), 'second');
    const through = await layer([{ name: 'plain', body: 'a file' }, { name: 'plain/child', body: 'x' }]);
    assert.match(renderError(through) ?? '', /entry 'plain\/child' goes through '\/plain', which is not a directory/);
  });
});
