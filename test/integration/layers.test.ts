// Layered extraction as the unprivileged user, with ward's own extractor: whiteouts, opaque
// directories, every compression, digest and size checks, bombs, ownership through the range.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compress, tarOf, writeLayer, type Entry } from '../lib/layers';
import { account, REPO, TestEnv, USERS } from '../lib/env';

const CLI = path.join(REPO, 'dist', 'test', 'lib', 'render-cli.js');

describe('layered extraction', () => {
  const env = new TestEnv('layers');
  let n = 0;
  before(() => fs.chmodSync(env.fixtures, 0o755));
  after(() => env.stop());

  async function layer(entries: Entry[], how: Parameters<typeof compress>[1] = 'gzip') {
    return writeLayer(env.fixture(`layer-${n++}.tar`), compress(await tarOf(entries), how));
  }

  const configHome = path.join(env.dir, 'users', USERS.a, 'config');

  function render(layers: { file: string; digest: string; size: number | null }[]): { dir?: string; error?: string } {
    const spec = layers.map((l, i) => ({ ...l, kind: 'oci', name: `layer ${i + 1}` }));
    const store = env.storeDir('a');
    const r = spawnSync('setpriv', ['--reuid', USERS.a, '--regid', USERS.a, '--init-groups', '--', process.execPath, CLI, store, JSON.stringify(spec)], {
      encoding: 'utf8',
      env: { ...process.env, XDG_CONFIG_HOME: configHome },
    });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { dir?: string; error?: string };
  }

  const rootfs = (dir: string) => path.join(dir, 'rootfs');

  test('layers apply in order; whiteouts remove and opaque directories hide lower content', async () => {
    const l1 = await layer([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/a', body: 'a1' },
      { name: 'etc/b', body: 'b1' },
      { name: 'opq/', type: 'directory' },
      { name: 'opq/old', body: 'old' },
      { name: 'opq/sub/', type: 'directory' },
      { name: 'opq/sub/deep', body: 'deep' },
      { name: 'bin/', type: 'directory' },
      { name: 'bin/tool', body: '#!/bin/sh\n', mode: 0o4755, uid: 0 },
      { name: 'home/', type: 'directory' },
      { name: 'home/user/', type: 'directory', uid: 1000, gid: 1000, mode: 0o700 },
    ]);
    const l2 = await layer([
      { name: 'etc/a', body: 'a2' },
      { name: 'etc/.wh.b' },
      { name: 'opq/.wh..wh..opq' },
      { name: 'opq/new', body: 'new' },
    ], 'zstd');
    const r = render([l1, l2]);
    assert.equal(r.error, undefined);
    const root = rootfs(r.dir!);
    assert.equal(fs.readFileSync(path.join(root, 'etc/a'), 'utf8'), 'a2');
    assert.equal(fs.existsSync(path.join(root, 'etc/b')), false);
    assert.deepEqual(fs.readdirSync(path.join(root, 'opq')).sort(), ['new']);
    const acct = account(USERS.a);
    const tool = fs.statSync(path.join(root, 'bin/tool'));
    assert.equal(tool.uid, acct.subuid);
    assert.equal(tool.mode & 0o7777, 0o4755, 'setuid kept: the owner is inside the mapped range');
    const home = fs.statSync(path.join(root, 'home/user'));
    assert.equal(home.uid, acct.subuid + 1000);
    assert.equal(home.mode & 0o7777, 0o700);
  });

  test('a directory a later layer names again takes that layer\'s mode, owner and time', async () => {
    const l1 = await layer([{ name: 'srv/', type: 'directory', mode: 0o755, mtime: new Date(1_000_000_000) }, { name: 'srv/x', body: 'x' }]);
    const l2 = await layer([{ name: 'srv/', type: 'directory', mode: 0o750, uid: 7, gid: 8, mtime: new Date(2_000_000_000) }]);
    const r = render([l1, l2]);
    assert.equal(r.error, undefined);
    const st = fs.statSync(path.join(rootfs(r.dir!), 'srv'));
    const acct = account(USERS.a);
    assert.equal(st.mode & 0o7777, 0o750, 'the later layer\'s mode');
    assert.deepEqual([st.uid, st.gid], [acct.subuid + 7, acct.subgid + 8], 'the later layer\'s owner');
    assert.equal(Math.round(st.mtimeMs / 1000), 2_000_000, 'the later layer\'s time');
    assert.equal(fs.readFileSync(path.join(rootfs(r.dir!), 'srv/x'), 'utf8'), 'x', 'a directory named again keeps what lower layers put in it');
  });

  for (const how of ['none', 'gzip', 'zstd', 'xz', 'bzip2'] as const) {
    test(`a ${how} layer is detected by its magic and extracted`, async () => {
      const l = await layer([{ name: 'hello', body: `hello ${how}` }], how);
      const r = render([l]);
      assert.equal(r.error, undefined);
      assert.equal(fs.readFileSync(path.join(rootfs(r.dir!), 'hello'), 'utf8'), `hello ${how}`);
    });
  }

  test('a digest mismatch is refused and nothing is kept', async () => {
    const l = await layer([{ name: 'x', body: 'x' }]);
    const r = render([{ ...l, digest: 'sha256:' + '0'.repeat(64) }]);
    assert.match(r.error ?? '', /has digest sha256:[0-9a-f]{64}, not sha256:0{64}/);
    assert.deepEqual(fs.readdirSync(path.join(env.storeDir('a'), 'tmp')), []);
  });

  test('a size mismatch with the descriptor is refused', async () => {
    const l = await layer([{ name: 'x', body: 'x' }]);
    assert.match(render([{ ...l, size: l.size - 1 }]).error ?? '', /longer than the \d+ bytes its descriptor says/);
    assert.match(render([{ ...l, size: l.size + 1 }]).error ?? '', /has \d+ bytes, its descriptor says/);
  });

  test('a decompression bomb is refused', async () => {
    const l = await layer([{ name: 'zeros', body: Buffer.alloc(200 * 1024 * 1024) }], 'zstd');
    const r = render([l]);
    assert.match(r.error ?? '', /decompression bomb/);
    assert.deepEqual(fs.readdirSync(path.join(env.storeDir('a'), 'tmp')), []);
  });

  test('whiteouts aimed outside the tree are refused', async () => {
    const canary = env.fixture('canary');
    fs.writeFileSync(canary, 'untouched', { mode: 0o666 });
    for (const name of ['../.wh.canary', 'a/../../.wh.x', '/.wh.etc']) {
      const l = await layer([{ name }]);
      assert.match(render([l]).error ?? '', /contains '\.\.'|absolute path/, name);
    }
    const viaLink = await layer([{ name: 'esc', type: 'symlink', linkname: env.fixtures }, { name: 'esc/.wh.canary' }]);
    assert.match(render([viaLink]).error ?? '', /goes through the symlink/);
    assert.equal(fs.readFileSync(canary, 'utf8'), 'untouched');
  });

  test('a file then file/child is refused', async () => {
    const l = await layer([{ name: 'f', body: 'x' }, { name: 'f/child', body: 'y' }]);
    assert.match(render([l]).error ?? '', /not a directory/);
  });

  test('the same layers render once; the tree is reused', async () => {
    const l = await layer([{ name: 'once', body: '1' }]);
    const a = render([l]);
    const b = render([l]);
    assert.equal(a.dir, b.dir);
    assert.equal((b as { answer?: unknown }).answer, null);
  });

  test('hardlinks to a symlink or a directory are refused; to an earlier file they work', async () => {
    const toLink = await layer([{ name: 'l', type: 'symlink', linkname: '/etc/passwd' }, { name: 'h', type: 'link', linkname: 'l' }]);
    assert.match(render([toLink]).error ?? '', /must point to a regular file/);
    const toDir = await layer([{ name: 'd/', type: 'directory' }, { name: 'h', type: 'link', linkname: 'd' }]);
    assert.match(render([toDir]).error ?? '', /must point to a regular file/);
    const ok = await layer([{ name: 'f', body: 'same' }, { name: 'h', type: 'link', linkname: 'f' }]);
    const r = render([ok]);
    assert.equal(r.error, undefined);
    assert.equal(fs.statSync(path.join(rootfs(r.dir!), 'h')).ino, fs.statSync(path.join(rootfs(r.dir!), 'f')).ino);
  });

  test('case and Unicode twins stay distinct files', async () => {
    const l = await layer([
      { name: 'Readme', body: 'upper' },
      { name: 'readme', body: 'lower' },
      { name: 'caf\u00e9', body: 'nfc' },
      { name: 'cafe\u0301', body: 'nfd' },
    ]);
    const r = render([l]);
    assert.equal(r.error, undefined);
    const root = rootfs(r.dir!);
    assert.equal(fs.readFileSync(path.join(root, 'Readme'), 'utf8'), 'upper');
    assert.equal(fs.readFileSync(path.join(root, 'readme'), 'utf8'), 'lower');
    assert.equal(fs.readFileSync(path.join(root, 'caf\u00e9'), 'utf8'), 'nfc');
    assert.equal(fs.readFileSync(path.join(root, 'cafe\u0301'), 'utf8'), 'nfd');
  });

  test('security.* and other xattrs from the image are dropped', async () => {
    const l = await layer([{ name: 'ping', body: 'x', mode: 0o755, pax: { 'SCHILY.xattr.security.capability': '\u0001\u0000\u0000\u0002', 'SCHILY.xattr.security.selinux': 'system_u:object_r:shadow_t:s0', 'SCHILY.xattr.user.note': 'hi' } }]);
    const r = render([l]);
    assert.equal(r.error, undefined);
    const attrs = spawnSync('getfattr', ['-d', '-m', '-', path.join(rootfs(r.dir!), 'ping')], { encoding: 'utf8' }).stdout.trim();
    assert.equal(attrs, '');
  });

  test('fifos and sparse or unknown entry types are refused with their name', async () => {
    const fifo = await layer([{ name: 'p', type: 'fifo' as 'file' }]);
    assert.match(render([fifo]).error ?? '', /'p' is a fifo/);
  });

  test('a header claiming more bytes than the layer holds is refused', async () => {
    const t = await tarOf([{ name: 'big', body: Buffer.alloc(4096, 1) }]);
    // Rewrite the size field (octal, offset 124) to claim 8 GiB, fixing the checksum.
    t.write('100000000000', 124, 12, 'latin1');
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : t[i]!;
    t.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
    const l = writeLayer(env.fixture(`layer-${n++}.tar`), t);
    const r = render([l]);
    assert.ok(r.error, 'refused');
    assert.deepEqual(fs.readdirSync(path.join(env.storeDir('a'), 'tmp')), []);
  });

  test('limits from the user\'s config apply and the error names the key that raises them', async () => {
    fs.mkdirSync(path.join(configHome, 'ward'), { recursive: true, mode: 0o755 });
    fs.writeFileSync(path.join(configHome, 'ward', 'config.json'), JSON.stringify({ limits: { maxEntries: 50 } }), { mode: 0o644 });
    try {
      const many = await layer(Array.from({ length: 80 }, (_, i) => ({ name: `f${i}`, body: '' })));
      const r = render([many]);
      assert.match(r.error ?? '', /^layer 1: more than 50 entries \(raise limits\.maxEntries in ~\/\.config\/ward\/config\.json\)$/);
      fs.writeFileSync(path.join(configHome, 'ward', 'config.json'), JSON.stringify({ limits: { maxEntrys: 50 } }), { mode: 0o644 });
      assert.match(render([many]).error ?? '', /config\.json: limits: Unrecognized key/);
    } finally {
      fs.rmSync(path.join(configHome, 'ward'), { recursive: true });
    }
  });
});
