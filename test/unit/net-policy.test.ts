// The helper's network policy: grants of networks, host networking and port forwarding (absent:
// nothing), the default network only where granted, every refusal before anything is made.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { grantsFor } from '../../src/helper/policy';
import type { Peer } from '../../src/helper/peer';
import { netWaits, planPodNetwork, type NetSetup } from '../../src/helper/verbs/run-net';
import { HelperPolicy } from '../../src/schema/policy';

const base = {
  version: 1,
  socketGroup: 'ward',
  groups: { ward: { verbs: ['run'] }, netters: { verbs: ['run'], networks: ['default'], ports: 'unprivileged' }, admins: { verbs: ['run'], networks: '*', hostNetwork: true, ports: 'any' } },
  limits: { treeEntries: 1, treeBytes: 1, treeDepth: 1, podsPerUser: 1 },
  seccompProfile: 'default',
};
const peer = (user: string, groups: string[]): Peer => Object.freeze({ uid: 1000, gid: 1000, pid: 1, pidfd: -1, user, groups: Object.freeze(groups) });
const policy = HelperPolicy.parse({ ...base, users: { carol: { networks: [], ports: 'any' } } });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-net-policy-'));
const setup: NetSetup = { netDir: path.join(dir, 'net.d'), cniPath: '/usr/lib/cni', ipamDir: path.join(dir, 'ipam'), podsDir: path.join(dir, 'net'), defaultNet: 'default' };

test('grants: absent is nothing; groups add up; a user entry replaces', () => {
  const none = grantsFor(policy, peer('alice', ['ward']));
  assert.deepEqual([none.networks, none.hostNetwork, none.ports], [new Set(), false, 'none']);
  const both = grantsFor(policy, peer('bob', ['netters', 'admins']));
  assert.deepEqual([both.networks, both.hostNetwork, both.ports], ['*', true, 'any']);
  const carol = grantsFor(policy, peer('carol', ['netters']));
  assert.deepEqual([carol.networks, carol.ports], [new Set(), 'any']);
  assert.throws(() => HelperPolicy.parse({ ...base, groups: { ward: { verbs: [], ports: 'some' } } }));
});

test('without --net: the default network where granted, else none; none and no dns needs no wait', () => {
  const plan = planPodNetwork(setup, grantsFor(policy, peer('alice', ['ward'])), {});
  assert.deepEqual(plan, { net: { mode: 'none' }, ports: [] });
  assert.equal(netWaits(plan), false);
  assert.equal(netWaits(planPodNetwork(setup, grantsFor(policy, peer('alice', ['ward'])), { dns: ['192.0.2.1'] })), true);
  const granted = planPodNetwork(setup, grantsFor(policy, peer('dave', ['netters'])), {});
  assert.deepEqual(granted.net, { mode: 'cni', networks: ['default'] });
  assert.equal(netWaits(granted), true);
  assert.deepEqual(planPodNetwork({ ...setup, defaultNet: 'none' }, grantsFor(policy, peer('dave', ['netters'])), {}).net, { mode: 'none' });
});

test('refusals: networks, host and ports beyond the grant, ports without a network, twice the same port', () => {
  const ward = grantsFor(policy, peer('alice', ['ward']));
  const netters = grantsFor(policy, peer('dave', ['netters']));
  const port = (hostPort: number) => ({ hostPort, containerPort: 80, protocol: 'tcp' as const, hostIP: '' });
  assert.throws(() => planPodNetwork(setup, ward, { net: { mode: 'cni', networks: ['default'] } }), /does not allow you the network 'default'/);
  assert.throws(() => planPodNetwork(setup, netters, { net: { mode: 'host' } }), /does not allow you --net=host/);
  assert.throws(() => planPodNetwork(setup, netters, { net: { mode: 'cni', networks: ['other'] } }), /no network named 'other'/);
  assert.throws(() => planPodNetwork(setup, ward, { net: { mode: 'none' }, ports: [port(8080)] }), /--port needs a CNI network/);
  assert.throws(() => planPodNetwork(setup, netters, { ports: [port(80)] }), /from 1024 up only, not 80/);
  assert.throws(() => planPodNetwork(setup, netters, { ports: [port(8080), port(8080)] }), /forwarded twice/);
  assert.deepEqual(planPodNetwork(setup, netters, { ports: [port(8080)] }).ports, [port(8080)]);
  const admin = grantsFor(policy, peer('root', ['admins']));
  assert.deepEqual(planPodNetwork(setup, admin, { net: { mode: 'host' } }).net, { mode: 'host' });
  assert.deepEqual(planPodNetwork(setup, admin, { ports: [port(80)] }).ports, [port(80)]);
  const noPorts = grantsFor(HelperPolicy.parse({ ...base, groups: { g: { verbs: [], networks: ['default'] } } }), peer('x', ['g']));
  assert.throws(() => planPodNetwork(setup, noPorts, { ports: [port(8080)] }), /does not allow you to forward ports/);
});
