// The addon's sha256Hex, used for the store's keys on ward run's hot path, must be node:crypto's
// sha256 exactly (stores written before keep their keys), and refuse what it is not for.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { addon } from '../../src/native/addon';

const node = (d: string | Buffer) => crypto.createHash('sha256').update(d).digest('hex');

test('sha256Hex equals node:crypto on strings (UTF-8, NUL, astral characters) and buffers', () => {
  for (const s of ['', 'abc', 'ward-render-v1\nsha256:00', '/a/b\0 1\0 2\0 3', 'é漢字😀', 'x'.repeat(200_000)]) assert.equal(addon().sha256Hex(s), node(s), JSON.stringify(s.slice(0, 20)));
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => addon().sha256Hex(s) === node(s)), { numRuns: 300 });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 5000 }), (b) => addon().sha256Hex(Buffer.from(b)) === node(Buffer.from(b))), { numRuns: 200 });
});

test('sha256Hex refuses other types and inputs over 1 MiB', () => {
  assert.throws(() => (addon().sha256Hex as (x: unknown) => string)(42), TypeError);
  assert.throws(() => (addon().sha256Hex as (...x: unknown[]) => string)('a', 'b'), TypeError);
  assert.throws(() => addon().sha256Hex(Buffer.alloc((1 << 20) + 1)), RangeError);
  assert.equal(addon().sha256Hex(Buffer.alloc(1 << 20)), node(Buffer.alloc(1 << 20)));
});
