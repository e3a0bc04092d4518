// Hostile ACIs handed to `ward run`: each is refused with a one-line error naming the cause,
// exit status 251, nothing written outside the tree, and nothing half-made left in the store.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxAci, type AciOptions } from '../lib/aci-builder';
import { TestEnv } from '../lib/env';

describe('hostile ACIs are refused by the unprivileged extractor', () => {
  const env = new TestEnv('hostile');
  // A directory the test user could write to, to catch any write that escapes the tree.
  const canaryDir = env.fixture('canary');
  const canary = path.join(canaryDir, 'canary');

  before(async () => {
    await env.start();
    fs.mkdirSync(canaryDir, { mode: 0o777 });
    fs.chmodSync(canaryDir, 0o777);
    fs.writeFileSync(canary, 'untouched');
    fs.chmodSync(canary, 0o666);
  });
  after(() => env.stop());

  const cases: [string, AciOptions['entries'], RegExp][] = [
    ['a ../ entry', [{ name: `rootfs/../../../../../../..${canaryDir}/evil`, type: 'file', body: 'x' }], /contains '\.\.'/],
    ['an absolute entry', [{ name: `${canaryDir}/evil`, type: 'file', body: 'x' }], /absolute path|outside rootfs/],
    ['a file written through a symlinked parent', [
      { name: 'rootfs/escape', type: 'symlink', linkname: canaryDir },
      { name: 'rootfs/escape/canary', type: 'file', body: 'overwritten' },
    ], /goes through the symlink/],
    ['a directory replaced by a symlink, then written through (CVE-2021-37701)', [
      { name: 'rootfs/d', type: 'directory' },
      { name: 'rootfs/d', type: 'symlink', linkname: canaryDir },
      { name: 'rootfs/d/canary', type: 'file', body: 'overwritten' },
    ], /goes through the symlink/],
    ['a hardlink to a file outside the tree', [{ name: 'rootfs/hl', type: 'link', linkname: canary }], /hardlink .* points outside rootfs|absolute path/],
    ['a hardlink through ../', [{ name: 'rootfs/hl', type: 'link', linkname: 'rootfs/../../etc/passwd' }], /contains '\.\.'/],
    ['a device node', [{ name: 'rootfs/dev/sda', type: 'character-device', devmajor: 8, devminor: 0 }], /device node/],
    ['an owner outside the ids a pod maps', [{ name: 'rootfs/x', type: 'file', body: 'x', uid: 70000 }], /outside the ids a pod maps/],
    ['an entry outside rootfs/', [{ name: 'other/x', type: 'file', body: 'x' }], /outside rootfs/],
  ];

  for (const [what, entries, message] of cases) {
    test(`${what} is refused`, async () => {
      const aci = env.fixture(`hostile-${what.replace(/[^a-z]+/g, '-')}.aci`);
      await buildBusyboxAci(aci, { entries });
      const r = await env.ward('a', ['run', '--insecure-options=image', aci, '--', '-c', 'true']);
      assert.equal(r.code, 251, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
      assert.equal(fs.readFileSync(canary, 'utf8'), 'untouched');
      assert.deepEqual(fs.readdirSync(canaryDir), ['canary']);
      assert.deepEqual(fs.readdirSync(path.join(env.storeDir('a'), 'tmp')), [], 'no staging dir left');
      assert.deepEqual(fs.readdirSync(path.join(env.storeDir('a'), 'images')), [], 'no image recorded');
    });
  }

  test('an invalid manifest is refused with the field named', async () => {
    const aci = env.fixture('bad-manifest.aci');
    await buildBusyboxAci(aci, { manifest: { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'Not A Name!' } });
    const r = await env.ward('a', ['run', '--insecure-options=image', aci]);
    assert.equal(r.code, 251);
    assert.match(r.stderr, /invalid manifest: name: /);
    assert.deepEqual(fs.readdirSync(path.join(env.storeDir('a'), 'tmp')), []);
  });

  test('a file that is not an ACI is refused', async () => {
    const junk = env.fixture('junk.aci');
    fs.writeFileSync(junk, 'this is not a tar file at all'.repeat(40), { mode: 0o644 });
    const r = await env.ward('a', ['run', '--insecure-options=image', junk]);
    assert.equal(r.code, 251);
    assert.match(r.stderr, /not an ACI/);
  });

  test('a truncated ACI is refused', async () => {
    const good = env.fixture('good.aci');
    await buildBusyboxAci(good, { gzip: false });
    const cut = env.fixture('truncated.aci');
    fs.writeFileSync(cut, fs.readFileSync(good).subarray(0, 600_000), { mode: 0o644 });
    const r = await env.ward('a', ['run', '--insecure-options=image', cut]);
    assert.equal(r.code, 251, r.stderr);
    assert.deepEqual(fs.readdirSync(path.join(env.storeDir('a'), 'tmp')), []);
  });
});
