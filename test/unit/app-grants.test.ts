// The grants behind --caps-retain and --seccomp mode=retain: none unless the helper policy names
// them; groups add up, a user entry replaces; names are checked strictly when the policy loads.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Peer } from '../../src/helper/peer';
import { grantsFor } from '../../src/helper/policy';
import { HelperPolicy } from '../../src/schema/policy';

const base = {
  version: 1,
  socketGroup: 'ward',
  groups: { ward: { verbs: ['hello', 'run'] }, net: { verbs: [], caps: ['CAP_NET_ADMIN'], seccompAllow: ['keyctl'] }, trace: { verbs: [], caps: ['CAP_SYS_PTRACE'], seccompAllow: ['ptrace'] } },
  limits: { treeEntries: 1, treeBytes: 1, treeDepth: 1, podsPerUser: 1 },
  seccompProfile: 'default',
};
const peer = (user: string, groups: string[]): Peer => Object.freeze({ uid: 1000, gid: 1000, pid: 1, pidfd: -1, user, groups: Object.freeze(groups) });

test('absent grants are none', () => {
  const g = grantsFor(HelperPolicy.parse(base), peer('alice', ['ward']));
  assert.deepEqual([...g.caps], []);
  assert.deepEqual([...g.seccompAllow], []);
});

test('groups add up; a user entry replaces what they grant', () => {
  const policy = HelperPolicy.parse({ ...base, users: { bob: { caps: [] }, carol: { seccompAllow: ['bpf'] } } });
  const both = grantsFor(policy, peer('alice', ['ward', 'net', 'trace']));
  assert.deepEqual([...both.caps].sort(), ['CAP_NET_ADMIN', 'CAP_SYS_PTRACE']);
  assert.deepEqual([...both.seccompAllow].sort(), ['keyctl', 'ptrace']);
  const bob = grantsFor(policy, peer('bob', ['ward', 'net']));
  assert.deepEqual([...bob.caps], []);
  assert.deepEqual([...bob.seccompAllow], ['keyctl']);
  assert.deepEqual([...grantsFor(policy, peer('carol', ['net'])).seccompAllow], ['bpf']);
});

test('unknown capability and malformed syscall names reject the policy', () => {
  assert.equal(HelperPolicy.safeParse({ ...base, groups: { ward: { verbs: [], caps: ['CAP_FLY'] } } }).success, false);
  assert.equal(HelperPolicy.safeParse({ ...base, groups: { ward: { verbs: [], seccompAllow: ['Bad Name'] } } }).success, false);
  assert.equal(HelperPolicy.safeParse({ ...base, users: { x: { caps: ['NET_ADMIN'] } } }).success, false);
});
