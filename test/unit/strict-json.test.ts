import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseStrictJson, StrictJsonError } from '../../src/schema/strict-json';

const enc = (s: string) => new TextEncoder().encode(s);

test('plain JSON parses', () => {
  assert.deepEqual(parseStrictJson(enc('{"a":[1,{"b":"c"}],"d":null}')), { a: [1, { b: 'c' }], d: null });
});

test('duplicate keys are refused, also when nested or escaped differently', () => {
  assert.throws(() => parseStrictJson(enc('{"verb":"hello","verb":"run"}')), /duplicate field "verb"/);
  assert.throws(() => parseStrictJson(enc('{"a":{"x":1,"x":2}}')), /duplicate field "x"/);
  assert.throws(() => parseStrictJson(enc('{"verb":1,"v\\u0065rb":2}')), /duplicate field "verb"/);
});

test('the same key in sibling objects is fine', () => {
  assert.deepEqual(parseStrictJson(enc('[{"a":1},{"a":2}]')), [{ a: 1 }, { a: 2 }]);
  assert.deepEqual(parseStrictJson(enc('{"a":{"a":{"a":1}}}')), { a: { a: { a: 1 } } });
});

test('a string value equal to a key does not count as a key', () => {
  assert.deepEqual(parseStrictJson(enc('{"a":"b","b":"a"}')), { a: 'b', b: 'a' });
});

test('NUL in strings, invalid UTF-8 and deep nesting are refused', () => {
  assert.throws(() => parseStrictJson(enc('{"a":"x\\u0000y"}')), /NUL/);
  assert.throws(() => parseStrictJson(Uint8Array.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), /UTF-8/);
  assert.throws(() => parseStrictJson(enc('['.repeat(100) + ']'.repeat(100))), /nests deeper/);
});

test('malformed JSON is a StrictJsonError', () => {
  for (const bad of ['', '{', '{"a":}', 'nul', '{"a":1,}', '"unterminated']) {
    assert.throws(() => parseStrictJson(enc(bad)), StrictJsonError, bad);
  }
});
