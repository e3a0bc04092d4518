import assert from 'node:assert/strict';
import { test } from 'node:test';
import { entryComponents, rootfsComponents, UnsafeEntryError } from '../../src/image/tar-paths';

test('ordinary names normalise', () => {
  assert.deepEqual(rootfsComponents('rootfs/bin/sh'), ['bin', 'sh']);
  assert.deepEqual(rootfsComponents('./rootfs//etc/./passwd'), ['etc', 'passwd']);
  assert.deepEqual(rootfsComponents('rootfs/'), []);
  assert.equal(rootfsComponents('manifest'), null);
});

test('names that could leave the tree are refused', () => {
  for (const bad of ['/etc/passwd', 'rootfs/../../etc/passwd', 'rootfs/a/../../b', '../rootfs/x', 'rootfs/x\u0000y']) {
    assert.throws(() => entryComponents(bad), UnsafeEntryError, bad);
  }
});
