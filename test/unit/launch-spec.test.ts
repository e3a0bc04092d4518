import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeSpec } from '../../src/helper/launch';

test('the launch spec is length-prefixed key NUL value NUL pairs', () => {
  const buf = encodeSpec({
    uuid: 'u', hostname: 'h', lower: '/l', upper: '/up', work: '/w', rootfs: '/r', cwd: '/', uid: 0, gid: 0,
    args: ['/bin/sh', '-c', 'a b'], env: ['PATH=/bin'], caps: [0, 1], masked: ['/proc/kcore'], readonly: ['/proc/sys'], seccompFd: 4,
  });
  const len = buf.readUInt32BE(0);
  assert.equal(len, buf.length - 4);
  const fields = buf.subarray(4).toString('utf8').split('\u0000');
  assert.equal(fields.pop(), '');
  const pairs: [string, string][] = [];
  for (let i = 0; i < fields.length; i += 2) pairs.push([fields[i]!, fields[i + 1]!]);
  assert.deepEqual(pairs.filter(([k]) => k === 'arg').map(([, v]) => v), ['/bin/sh', '-c', 'a b']);
  assert.deepEqual(pairs.find(([k]) => k === 'seccomp'), ['seccomp', '1']);
  assert.deepEqual(pairs.filter(([k]) => k === 'cap').map(([, v]) => v), ['0', '1']);
});
