// User and group names are looked up in the image's own tree, never on the host: a symlinked
// /etc/passwd resolves inside the tree (openat2 RESOLVE_IN_ROOT) or is refused.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { WardError } from '../../src/schema/errors';
import { appFromManifest } from '../../src/pod/app';
import { parseApps } from '../../src/pod/app-args';
import { resolveGroup, resolveUser } from '../../src/pod/app-users';
import type { ImageManifest } from '../../src/schema/aci';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-users-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function tree(name: string, files: Record<string, string | { link: string }>): string {
  const rootfs = path.join(dir, name, 'rootfs');
  fs.mkdirSync(path.join(rootfs, 'etc'), { recursive: true });
  for (const [p, body] of Object.entries(files)) {
    const f = path.join(rootfs, p);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    if (typeof body === 'string') fs.writeFileSync(f, body);
    else fs.symlinkSync(body.link, f);
  }
  return rootfs;
}
const image = 'example.com/users';
const eimage = (re: RegExp) => (e: unknown) => e instanceof WardError && e.code === 'EIMAGE' && re.test(e.message);

test('names from the tree\'s /etc/passwd and /etc/group; numbers as they are', () => {
  const rootfs = tree('plain', { 'etc/passwd': 'root:x:0:0::/root:/bin/sh\n# comment\nweb:x:1234:2345::/:/bin/false\n', 'etc/group': 'root:x:0:\nwebgrp:x:4321:web\n' });
  assert.equal(resolveUser('web', { rootfs, image }), 1234);
  assert.equal(resolveGroup('webgrp', { rootfs, image }), 4321);
  assert.equal(resolveUser('77', { rootfs, image }), 77);
  assert.throws(() => resolveUser('nobody', { rootfs, image }), eimage(/user 'nobody' is not in \/etc\/passwd of image example.com\/users/));
  assert.throws(() => resolveUser('70000', { rootfs, image }), /out of range/);
});

test('a host user is never found through a symlink that leaves the tree', () => {
  // root exists in the host's /etc/passwd; the tree's passwd points there.
  const hostUser = fs.readFileSync('/etc/passwd', 'utf8').split('\n')[0]!.split(':')[0]!;
  for (const link of ['/../../../../../../../../etc/passwd', '../../../../../../../../../etc/passwd', `/proc/self/root/etc/passwd`]) {
    const rootfs = tree(`out-${Buffer.from(link).toString('hex').slice(0, 12)}`, { 'etc/passwd': { link } });
    assert.throws(() => resolveUser(hostUser, { rootfs, image }), eimage(/cannot look up|is not in/), link);
  }
});

test('a symlink inside the tree is followed inside the tree', () => {
  const rootfs = tree('inside', { 'etc/passwd': { link: '/lib/passwd.real' }, 'lib/passwd.real': 'alice:x:1500:1500::/:/bin/sh\n', 'etc/group': { link: '../../../../../lib/group' }, 'lib/group': 'staff:x:50:\n' });
  assert.equal(resolveUser('alice', { rootfs, image }), 1500);
  assert.equal(resolveGroup('staff', { rootfs, image }), 50);
});

test('not a regular file, too large, malformed ids', () => {
  const rootfs = tree('odd', { 'etc/group': 'g:x:notanumber:\n' });
  fs.mkdirSync(path.join(rootfs, 'etc', 'passwd'));
  assert.throws(() => resolveUser('x', { rootfs, image }), eimage(/not a regular file/));
  assert.throws(() => resolveGroup('g', { rootfs, image }), eimage(/has id 'notanumber'/));
  const big = tree('big', {});
  fs.writeFileSync(path.join(big, 'etc', 'passwd'), Buffer.alloc((4 << 20) + 1, 0x61));
  assert.throws(() => resolveUser('x', { rootfs: big, image }), eimage(/larger than/));
});

test('the image manifest\'s own user and group names resolve the same way; flags override them', () => {
  const rootfs = tree('manifest', { 'etc/passwd': 'svc:x:900:900::/:/bin/sh\n', 'etc/group': 'svc:x:901:\n' });
  const m = { acKind: 'ImageManifest', acVersion: '0.8.11', name: image, app: { exec: ['/bin/sh'], user: 'svc', group: 'svc' } } as unknown as ImageManifest;
  const a = appFromManifest(m, [], 'users', { rootfs });
  assert.equal(a.user, 900);
  assert.equal(a.group, 901);
  const [flags] = parseApps(['img', '--user=0', '--group=svc', '--exec=/bin/echo', '--working-dir=/tmp', '--name=svc-app']);
  const b = appFromManifest(m, ['hi'], 'users', { rootfs, flags: flags!.flags });
  assert.deepEqual([b.user, b.group, b.exec, b.workingDirectory, b.name], [0, 901, ['/bin/echo', 'hi'], '/tmp', 'svc-app']);
  assert.equal(b.environment.find((e) => e.name === 'AC_APP_NAME')?.value, 'svc-app');
  // --exec replaces exec[0] and keeps the image's arguments.
  const m2 = { ...m, app: { ...m.app!, exec: ['/bin/sh', '-c', 'true'] } } as ImageManifest;
  assert.deepEqual(appFromManifest(m2, [], 'users', { rootfs, flags: flags!.flags }).exec, ['/bin/echo', '-c', 'true']);
});
