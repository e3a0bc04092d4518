// The keystore's layout rules without any PGP: prefixes by whole path segments, the overlay of
// system < local < user, masks, and rm that removes its own copies and masks lower ones.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { checkPrefix, covers, Keystore } from '../../src/trust/keystore';

const top = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-keystore-'));
after(() => fs.rmSync(top, { recursive: true, force: true }));
const dirs = { system: path.join(top, 'system'), local: path.join(top, 'local'), user: path.join(top, 'user') };
const A = 'A'.repeat(40);
const B = 'B'.repeat(40);
const C = 'C'.repeat(40);

function put(dir: string, rel: string, fpr: string, body = 'key'): string {
  const d = path.join(dir, 'trustedkeys', rel);
  fs.mkdirSync(d, { recursive: true });
  const f = path.join(d, fpr.toLowerCase());
  fs.writeFileSync(f, body);
  return f;
}

test('a prefix covers itself and what is below it, never a longer name that merely starts with it', () => {
  assert.ok(covers('example.com/foo', 'example.com/foo'));
  assert.ok(covers('example.com/foo', 'example.com/foo/bar'));
  assert.ok(!covers('example.com/foo', 'example.com/foobar'));
  assert.ok(!covers('example.com/foo', 'example.com/fo'));
  assert.ok(!covers('example.com/foo/bar', 'example.com/foo'));
  assert.ok(covers('root', 'anything.example/at/all'));
  for (const bad of ['../etc', 'example.com/../x', '/abs', 'Example.com', 'a//b', '']) assert.throws(() => checkPrefix(bad), /not an appc image name prefix/);
});

test('keys for a name: root.d and every covering prefix, across the overlaid dirs', () => {
  put(dirs.system, 'root.d', A);
  put(dirs.local, 'prefix.d/example.com/foo', B);
  put(dirs.user, 'prefix.d/example.com/foobar', C);
  const ks = new Keystore(dirs);
  const of = (name: string) => ks.list(name).map((k) => `${k.fingerprint.slice(0, 1)}:${k.scope}:${k.layer}`).sort();
  assert.deepEqual(of('example.com/foo/app'), ['A:root:system', 'B:example.com/foo:local']);
  assert.deepEqual(of('example.com/foobar'), ['A:root:system', 'C:example.com/foobar:user']);
  assert.deepEqual(of('other.org/x'), ['A:root:system']);
});

test('an empty file masks the key in the dirs below; rm removes own copies and masks lower ones', () => {
  const ks = new Keystore(dirs);
  const mask = put(dirs.local, 'root.d', A, '');
  assert.ok(!ks.list().some((k) => k.fingerprint === A));
  fs.rmSync(mask);
  assert.ok(ks.list().some((k) => k.fingerprint === A));
  // The user's own copy shadows the local one; rm takes the user's and masks the local one.
  const own = put(dirs.user, 'prefix.d/example.com/foo', B);
  const done = ks.remove(dirs.user, B.toLowerCase());
  assert.equal(done.length, 2, done.join('\n'));
  // Its place now holds the mask: an empty file.
  assert.equal(fs.statSync(own).size, 0);
  assert.ok(fs.existsSync(path.join(dirs.local, 'trustedkeys', 'prefix.d', 'example.com', 'foo', B.toLowerCase())), 'the local file is not the user\'s to remove');
  assert.ok(!ks.list().some((k) => k.fingerprint === B));
  assert.throws(() => ks.remove(dirs.user, B), /no trusted key has fingerprint/);
  assert.throws(() => ks.remove(dirs.user, 'xyz'), /not a key fingerprint/);
});
