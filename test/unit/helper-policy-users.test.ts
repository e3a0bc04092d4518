// Per-user overrides in the helper policy: each field a user entry sets replaces what the user's
// groups grant (more or less); entries are strict; the name is the peer's, from the kernel's uid.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { grantsFor } from '../../src/helper/policy';
import type { Peer } from '../../src/helper/peer';
import { HelperPolicy } from '../../src/schema/policy';

const base = {
  version: 1,
  socketGroup: 'ward',
  groups: { ward: { verbs: ['hello', 'seal', 'run', 'signal'], insecureOptions: ['image'], allowUnverified: true } },
  limits: { treeEntries: 1, treeBytes: 1, treeDepth: 1, podsPerUser: 1 },
  seccompProfile: 'default',
};
const peer = (user: string, groups: string[] = ['ward']): Peer => Object.freeze({ uid: 1000, gid: 1000, pid: 1, pidfd: -1, user, groups: Object.freeze(groups) });

test('a user entry forbids unverified images that the group allows, for that user only', () => {
  const policy = HelperPolicy.parse({ ...base, users: { alice: { allowUnverified: false } } });
  assert.equal(grantsFor(policy, peer('alice')).allowUnverified, false);
  assert.equal(grantsFor(policy, peer('bob')).allowUnverified, true);
  // Fields the entry does not set stay as the groups grant them.
  assert.deepEqual([...grantsFor(policy, peer('alice')).verbs].sort(), ['hello', 'run', 'seal', 'signal']);
  assert.deepEqual([...grantsFor(policy, peer('alice')).insecure], ['image']);
});

test('a user entry can also grant: verbs and insecure options replace the union of the groups', () => {
  const policy = HelperPolicy.parse({ ...base, users: { carol: { verbs: ['hello'], insecureOptions: [] }, dave: { verbs: ['hello', 'tpm-quote'] } } });
  assert.deepEqual([...grantsFor(policy, peer('carol')).verbs], ['hello']);
  assert.deepEqual([...grantsFor(policy, peer('carol')).insecure], []);
  assert.deepEqual([...grantsFor(policy, peer('dave', [])).verbs], ['hello', 'tpm-quote']);
  // A peer without a name (no passwd entry) gets no user entry.
  assert.equal(grantsFor(policy, peer('')).verbs.has('run'), true);
});

test('users is optional, and its entries are strict', () => {
  assert.deepEqual(HelperPolicy.parse(base).users, {});
  assert.equal(HelperPolicy.safeParse({ ...base, users: { alice: { allowUnverifed: false } } }).success, false);
  assert.equal(HelperPolicy.safeParse({ ...base, users: { alice: { verbs: ['exec-anything'] } } }).success, false);
  assert.equal(HelperPolicy.safeParse({ ...base, users: { '': {} } }).success, false);
});
