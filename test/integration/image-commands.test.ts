// The image commands as a user runs them: fetch, list (table and JSON), cat-manifest, verify
// (which notices a changed tree), rm and gc (which leave nothing unreferenced behind).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxAci } from '../lib/aci-builder';
import { account, TestEnv, USERS } from '../lib/env';

describe('ward fetch and ward image', () => {
  const env = new TestEnv('images');
  let aci = '';
  let aci2 = '';
  let id = '';
  before(async () => {
    await env.start();
    aci = env.fixture('one.aci');
    aci2 = env.fixture('two.aci');
    await buildBusyboxAci(aci, { name: 'example.com/one' });
    await buildBusyboxAci(aci2, { name: 'example.com/two', gzip: false });
  });
  after(() => env.stop());

  test('fetch prints the sha512 image id and stores the ACI', async () => {
    const r = await env.ward('a', ['fetch', '--insecure-options=image', aci]);
    assert.equal(r.code, 0, r.stderr);
    id = r.stdout.trim();
    assert.match(id, /^sha512-[0-9a-f]{128}$/);
    const again = await env.ward('a', ['fetch', '--insecure-options=image', aci]);
    assert.equal(again.stdout.trim(), id, 'the same file is the same image');
    assert.equal((await env.ward('a', ['fetch', '--insecure-options=image', aci2])).code, 0);
  });

  test('two fetches of the same image at once both succeed and leave one consistent image', async () => {
    const third = env.fixture('three.aci');
    await buildBusyboxAci(third, { name: 'example.com/three' });
    const [x, y] = await Promise.all([env.ward('a', ['fetch', '--insecure-options=image', third]), env.ward('a', ['fetch', '--insecure-options=image', third])]);
    assert.equal(x.code, 0, x.stderr);
    assert.equal(y.code, 0, y.stderr);
    assert.equal(x.stdout, y.stdout);
    assert.equal((await env.ward('a', ['image', 'verify'])).code, 0);
    assert.equal((await env.ward('a', ['image', 'rm', x.stdout.trim()])).code, 0);
  });

  test('image list: a table with a legend, and stable JSON', async () => {
    const t = await env.ward('a', ['image', 'list']);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout.split('\n')[0]!, /^ID\s+NAME\s+IMPORTTIME\s+LASTUSED\s+SIZE$/);
    assert.match(t.stdout, /example\.com\/one/);
    const j = await env.ward('a', ['image', 'list', '--format=json']);
    const rows = JSON.parse(j.stdout) as Record<string, unknown>[];
    assert.equal(rows.length, 2);
    assert.deepEqual(Object.keys(rows[0]!).sort(), ['id', 'importTime', 'kind', 'lastUsed', 'name', 'sealed', 'signer', 'size', 'source', 'transport']);
    const f = await env.ward('a', ['image', 'list', '--fields=name', '--no-legend']);
    assert.deepEqual(f.stdout.trim().split('\n').sort(), ['example.com/one', 'example.com/two']);
    const bad = await env.ward('a', ['image', 'list', '--fields=nope']);
    assert.equal(bad.code, 253);
    assert.match(bad.stderr, /unknown field 'nope'/);
  });

  test('image cat-manifest prints the appc manifest, by id prefix or by name', async () => {
    const byPrefix = await env.ward('a', ['image', 'cat-manifest', id.slice(0, 20)]);
    assert.equal((JSON.parse(byPrefix.stdout) as { name: string }).name, 'example.com/one');
    const byName = await env.ward('a', ['image', 'cat-manifest', 'example.com/two']);
    assert.equal((JSON.parse(byName.stdout) as { name: string }).name, 'example.com/two');
  });

  test('image export writes the ACI; extract and render write a tree owned by the user', async () => {
    const out = path.join(env.dir, 'users', USERS.a);
    const exported = path.join(out, 'exported.aci');
    const r = await env.ward('a', ['image', 'export', 'example.com/one', exported]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.readFileSync(exported).equals(fs.readFileSync(aci)), 'an ACI exports as the bytes it was fetched as');
    const again = await env.ward('a', ['image', 'export', 'example.com/one', exported]);
    assert.equal(again.code, 253);
    assert.match(again.stderr, /--overwrite/);
    const dir = path.join(out, 'extracted');
    const x = await env.ward('a', ['image', 'extract', 'example.com/one', dir]);
    assert.equal(x.code, 0, x.stderr);
    assert.equal((JSON.parse(fs.readFileSync(path.join(dir, 'manifest'), 'utf8')) as { name: string }).name, 'example.com/one');
    const acct = account(USERS.a);
    const busybox = fs.statSync(path.join(dir, 'rootfs', 'bin', 'busybox'));
    assert.equal(busybox.uid, acct.uid, 'extracted files belong to the user');
    assert.ok(fs.readFileSync(path.join(dir, 'rootfs', 'bin', 'busybox')).equals(fs.readFileSync('/bin/busybox')));
    assert.equal(fs.readlinkSync(path.join(dir, 'rootfs', 'bin', 'sh')), 'busybox');
    const rootfsOnly = path.join(out, 'rootfs-only');
    const y = await env.ward('a', ['image', 'render', '--rootfs-only', 'example.com/two', rootfsOnly]);
    assert.equal(y.code, 0, y.stderr);
    assert.ok(fs.existsSync(path.join(rootfsOnly, 'bin', 'busybox')));
    assert.equal(fs.existsSync(path.join(rootfsOnly, 'manifest')), false);
    const notEmpty = await env.ward('a', ['image', 'extract', 'example.com/two', rootfsOnly]);
    assert.equal(notEmpty.code, 253);
  });

  test('image verify passes, then reports a tree changed behind ward\'s back', async () => {
    const ok = await env.ward('a', ['image', 'verify']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal(ok.stdout.trim().split('\n').filter((l) => l.startsWith('ok ')).length, 2);
    // Tamper as the user could (inside their own namespace), here as root with the range's owner.
    const trees = path.join(env.storeDir('a'), 'trees');
    const victim = fs.readdirSync(trees).map((k) => path.join(trees, k, 'rootfs', 'etc', 'passwd')).find((p) => fs.existsSync(p))!;
    fs.appendFileSync(victim, 'evil:x:0:0::/:/bin/sh\n');
    const bad = await env.ward('a', ['image', 'verify']);
    assert.equal(bad.code, 251);
    assert.match(bad.stdout, /CHANGED .*rendered tree changed/);
    // A run of the changed image is refused: the helper's seal no longer matches what was rendered.
    const r = await env.ward('a', ['run', '--insecure-options=image', 'example.com/one', '--', '-c', 'true']);
    const r2 = await env.ward('a', ['run', '--insecure-options=image', 'example.com/two', '--', '-c', 'true']);
    const refused = [r, r2].filter((x) => x.code === 251);
    assert.equal(refused.length, 1, r.stderr + r2.stderr);
    assert.match(refused[0]!.stderr, /changed after it was rendered/);
  });

  test('image rm removes the image and everything only it used; gc leaves a clean store', async () => {
    const rm = await env.ward('a', ['image', 'rm', 'example.com/one', 'example.com/two']);
    assert.equal(rm.code, 0, rm.stderr);
    const store = env.storeDir('a');
    for (const d of ['images', 'trees', 'blobs/sha512', 'blobs/sha256']) assert.deepEqual(fs.readdirSync(path.join(store, d)), [], d);
    const gc = await env.ward('a', ['image', 'gc', '--grace-period=0s']);
    assert.equal(gc.code, 0, gc.stderr);
    assert.deepEqual(fs.readdirSync(path.join(store, 'tmp')), []);
    const missing = await env.ward('a', ['image', 'rm', 'example.com/one']);
    assert.equal(missing.code, 253);
    // No file of the user's subordinate range is left anywhere in the store.
    const owned = spawnSync('find', [store, '-uid', String(account(USERS.a).subuid)], { encoding: 'utf8' }).stdout.trim();
    assert.equal(owned, '');
  });
});
