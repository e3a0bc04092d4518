// The event log format: canonical JSON (what is hashed), JSON-SEQ framing, digests and replay.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import { canonicalJson } from '../../src/schema/canonical-json';
import { encodeRecord, eventDigests, LogRecord, replay, splitJsonSeq, type EventContent } from '../../src/schema/tpm-log';

const head: EventContent = { event_type: 'audit-head', time: '2026-01-01T00:00:00.000Z', reason: 'start', records: 3, head: 'sha256:' + 'a'.repeat(64) };

test('canonical JSON sorts keys at every level and refuses what JSON cannot say exactly', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [2, { y: 1, x: null }], c: 'é' } }), '{"a":{"c":"é","d":[2,{"x":null,"y":1}]},"b":1}');
  assert.equal(canonicalJson({ a: undefined, b: true }), '{"b":true}');
  assert.throws(() => canonicalJson({ a: NaN }), /non-finite/);
  assert.throws(() => canonicalJson([undefined]), /undefined/);
  assert.throws(() => canonicalJson({ a: new Date(0) }), /object/);
});

test('an event\'s digests do not depend on the order its fields were written in', () => {
  const reordered = JSON.parse(JSON.stringify({ head: head.head, records: 3, reason: 'start', time: head.time, event_type: 'audit-head' })) as EventContent;
  assert.deepEqual(eventDigests(head, ['sha256', 'sha1']), eventDigests(reordered, ['sha256', 'sha1']));
  const [d] = eventDigests(head, ['sha256']);
  assert.equal(d!.digest, crypto.createHash('sha256').update(canonicalJson(head)).digest('hex'));
});

test('JSON-SEQ: records round-trip, a cut-short last record is set apart, a cut in the middle is refused', () => {
  const rec = (n: number): LogRecord => ({ recnum: n, nv_index: 0x01800ace, digests: eventDigests(head, ['sha256']), content_type: 'ward', content: head });
  const text = encodeRecord(rec(0)) + encodeRecord(rec(1));
  const split = splitJsonSeq(text);
  assert.equal(split.truncated, null);
  assert.deepEqual(split.records.map((r) => LogRecord.parse(JSON.parse(r))), [rec(0), rec(1)]);
  assert.deepEqual(splitJsonSeq(''), { records: [], truncated: null });
  const cut = text + encodeRecord(rec(2)).slice(0, 40);
  assert.equal(splitJsonSeq(cut).records.length, 2);
  assert.ok(splitJsonSeq(cut).truncated);
  assert.throws(() => splitJsonSeq(encodeRecord(rec(0)).slice(0, 30) + encodeRecord(rec(1))), /record 0 is cut short/);
  assert.throws(() => splitJsonSeq('{"recnum":0}\n'), /record separator/);
});

test('a record names exactly one register, and only ward\'s event types', () => {
  const digests = eventDigests(head, ['sha256']);
  assert.equal(LogRecord.safeParse({ recnum: 0, pcr: 11, nv_index: 0x01800ace, digests, content_type: 'ward', content: head }).success, false);
  assert.equal(LogRecord.safeParse({ recnum: 0, digests, content_type: 'ward', content: head }).success, false);
  assert.equal(LogRecord.safeParse({ recnum: 0, pcr: 11, digests, content_type: 'ward', content: { ...head, event_type: 'other' } }).success, false);
  assert.equal(LogRecord.safeParse({ recnum: 0, pcr: 11, digests, content_type: 'ward', content: { ...head, extra: 1 } }).success, false);
});

test('replay is H(value || digest) from zeros, in order', () => {
  const a = crypto.randomBytes(32);
  const b = crypto.randomBytes(32);
  const d = (x: Buffer) => [{ hashAlg: 'sha256' as const, digest: x.toString('hex') }];
  const one = crypto.createHash('sha256').update(Buffer.alloc(32)).update(a).digest();
  const two = crypto.createHash('sha256').update(one).update(b).digest();
  assert.deepEqual(replay('sha256', [d(a), d(b)]), two);
  assert.notDeepEqual(replay('sha256', [d(b), d(a)]), two);
  assert.throws(() => replay('sha1', [d(a)]), /no sha1 digest/);
});
