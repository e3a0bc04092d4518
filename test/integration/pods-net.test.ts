// Pods on CNI networks through a real helper, as an unprivileged user: --net=default gives an
// address and a default route and reaches the host's end; default-restricted reaches nothing
// beyond the host; none has only lo; host is refused without a grant; a forwarded port reaches
// the app from the host on 127.0.0.1; --dns, --dns-search, --hostname land in resolv.conf and
// hosts, never through a symlink of the image; nothing is left after stop and gc, nor after a
// kill -9 of the frontend, of ward-stage1 or of the helper at each step. The env's networks are
// on subnets of its own (test/lib/env.ts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxAci, manifestFor } from '../lib/aci-builder';
import { REPO, TestEnv } from '../lib/env';
import { hostLeftovers, stopAllAndCollect, waitFor } from '../lib/pods';
import { netLeftovers, NOTHING_LEFT } from '../lib/pods-net';

const EXTRA_APPLETS = ['ip', 'nc', 'seq'];

function greet(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    let got = '';
    s.setTimeout(3000, () => {
      s.destroy();
      resolve(`timeout ${got}`);
    });
    s.on('data', (d) => (got += d.toString()));
    s.on('end', () => resolve(got.trim()));
    s.on('error', (e) => resolve(`error ${e.message}`));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

describe('pods on CNI networks', () => {
  const env = new TestEnv('pods-net');
  let aci = '';
  let plain = '';
  let symlinked = '';
  let hostFile = '';
  let policy = '';
  const ward = (args: string[], opts: Parameters<TestEnv['ward']>[2] = {}) => env.ward('a', args, opts);
  const run = (args: string[], script: string, image = aci) => ward(['run', '--insecure-options=image', ...args, image, '--', '-c', script]);
  const detach = async (args: string[], script: string) => {
    const r = await ward(['run', '--insecure-options=image', '--detach', ...args, aci, '--', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  const statusOf = async (uuid: string, wait = false) => {
    const r = await ward(['status', '--format=json', ...(wait ? ['--wait'] : []), uuid]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { state: string; pid: number | null; networks?: { network: string; address: string }[] };
  };
  const start = (fault?: string) => {
    if (fault) process.env.WARD_FAULT = fault;
    try {
      return env.start(['--policy', policy], { network: true });
    } finally {
      delete process.env.WARD_FAULT;
    }
  };
  /** Stops whatever runs, then gc: no veth, rule, pin, cgroup, mount, process or pod state may remain. */
  const gcLeavesNothing = async () => {
    const uuids = await stopAllAndCollect(env);
    assert.deepEqual(hostLeftovers(env), { mounts: [], processes: [] }, 'no mounts (netns pins included), no processes');
    assert.deepEqual(netLeftovers(env, uuids), NOTHING_LEFT, 'no veths, nat rules, pins or cgroups');
  };

  before(async () => {
    const base = JSON.parse(fs.readFileSync(path.join(REPO, 'policies', 'helper.json'), 'utf8')) as Record<string, unknown>;
    policy = path.join(env.dir, 'policy.json');
    // User b alone may use the host's network namespace.
    fs.writeFileSync(policy, JSON.stringify({ ...base, users: { 'ward-test-b': { hostNetwork: true } } }), { mode: 0o600 });
    const entries = EXTRA_APPLETS.map((a) => ({ name: `rootfs/bin/${a}`, type: 'symlink' as const, linkname: 'busybox' }));
    const manifest = manifestFor({}) as { app: Record<string, unknown> };
    manifest.app.ports = [{ name: 'greet', protocol: 'tcp', port: 8080 }];
    aci = env.fixture('busybox-net.aci');
    await buildBusyboxAci(aci, { manifest, entries });
    // An image that declares no port, to run beside the one that does.
    plain = env.fixture('plain.aci');
    await buildBusyboxAci(plain, { name: 'example.com/plain', entries });
    // An image whose /etc/resolv.conf is a symlink to a host file: writing it must not follow it.
    hostFile = env.fixture('host-resolv.conf');
    fs.writeFileSync(hostFile, 'nameserver 192.0.2.99\n', { mode: 0o644 });
    symlinked = env.fixture('busybox-symlink.aci');
    await buildBusyboxAci(symlinked, { name: 'example.com/symlinked', entries: [...entries, { name: 'rootfs/etc/resolv.conf', type: 'symlink', linkname: hostFile }, { name: 'rootfs/etc/hosts', type: 'symlink', linkname: hostFile }] });
    await start();
  });
  after(() => env.stop());

  test('--net=default: an address on the network, a default route, and the host\'s end reachable over TCP', async () => {
    const gw = env.netSubnets.default.replace(/\.0\/24$/, '.1');
    // Bound to every address: the host's end (gw) exists only while a pod is on the network.
    const server = net.createServer((s) => s.end('hello from the host\n')).listen(0, '0.0.0.0');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const r = await run(['--net=default'], `ip -o -4 addr show; ip route; nc ${gw} ${port} </dev/null`);
      assert.equal(r.code, 0, r.stderr);
      const prefix = env.netSubnets.default.split('.').slice(0, 3).join('.');
      assert.match(r.stdout, new RegExp(`eth0\\s+inet ${prefix.replace(/\./g, '\\.')}\\.\\d+/24`), r.stdout);
      assert.match(r.stdout, new RegExp(`^default via ${gw.replace(/\./g, '\\.')} dev eth0`, 'm'));
      assert.match(r.stdout, /hello from the host/);
    } finally {
      server.close();
    }
    assert.deepEqual(netLeftovers(env), NOTHING_LEFT, 'a foreground pod\'s network goes when it exits');
  });

  test('without --net the helper\'s default network is used where policy grants it; status shows the address', async () => {
    const uuid = await detach([], 'sleep 60');
    const s = await statusOf(uuid);
    assert.equal(s.networks?.[0]?.network, 'default');
    assert.ok(s.networks?.[0]?.address.startsWith(env.netSubnets.default.split('.').slice(0, 3).join('.')), JSON.stringify(s.networks));
    await gcLeavesNothing();
  });

  test('--net=default-restricted: no default route, nothing beyond the host\'s end', async () => {
    const r = await run(['--net=default-restricted'], 'ip route; ip route get 192.0.2.1 || echo unreachable');
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /^default/m);
    assert.match(r.stdout, /unreachable/);
    assert.match(r.stdout, new RegExp(env.netSubnets.restricted.replace(/\./g, '\\.').replace('/', '\\/')));
  });

  test('--net=none: only the loopback interface', async () => {
    const r = await run(['--net=none'], 'ip -o link show');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.split(':')[1]!.trim()), ['lo']);
  });

  test('--net=host is refused without a grant; unknown networks and ports are refused', async () => {
    const before = env.podDirs();
    const host = await run(['--net=host'], 'true');
    assert.equal(host.code, 252, host.stderr);
    assert.match(host.stderr, /^ward: helper policy does not allow you --net=host/);
    const unknown = await run(['--net=nope'], 'true');
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /^ward: no network named 'nope'/);
    const badPort = await run(['--net=default', '--port', 'web:8081'], 'true');
    assert.equal(badPort.code, 253, badPort.stderr);
    assert.match(badPort.stderr, /^ward: --port web:8081: image example.com\/busybox has no port named 'web' \(it has: greet\)/);
    const low = await run(['--net=default', '--port', 'greet:80'], 'true');
    assert.equal(low.code, 252, low.stderr);
    assert.match(low.stderr, /from 1024 up only/);
    const noNet = await run(['--net=none', '--port', 'greet:8081'], 'true');
    assert.match(noNet.stderr, /^ward: --port needs a CNI network/);
    assert.deepEqual(env.podDirs(), before, 'nothing half-made');
  });

  test('--net=host with a grant: the host\'s interfaces, and a read-only /sys', async () => {
    const r = await env.ward('b', ['run', '--insecure-options=image', '--net=host', aci, '--', '-c', 'ip -o link show; touch /sys/x 2>&1 || echo read-only']);
    assert.equal(r.code, 0, r.stderr);
    // The host's links come and go with other pods: its default route's device must be there.
    const dev = /dev (\S+)/.exec(execFileSync('ip', ['route', 'show', 'default'], { encoding: 'utf8' }))?.[1] ?? 'lo';
    const podLinks = r.stdout.split('\n').filter((l) => /^\d+: /.test(l)).map((l) => l.split(':')[1]!.trim().split('@')[0]!);
    assert.ok(podLinks.includes(dev) && podLinks.includes('lo'), `${dev} in ${podLinks.join(' ')}`);
    assert.match(r.stdout, /read-only/);
    assert.equal((await env.ward('b', ['gc', '--grace-period=0s'])).code, 0);
  });

  test('--port: a forwarded port reaches the app\'s server from the host on 127.0.0.1', async () => {
    const hostPort = await freePort();
    const uuid = await detach(['--net=default', '--port', `greet:127.0.0.1:${hostPort}`], 'while :; do echo hello from the pod | nc -l -p 8080; done');
    let got = '';
    for (let i = 0; i < 100 && got !== 'hello from the pod'; i++) {
      got = await greet('127.0.0.1', hostPort);
      if (got !== 'hello from the pod') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(got, 'hello from the pod');
    assert.ok(netLeftovers(env, [uuid]).rules.length > 0, 'the pod has nat rules while it runs');
    await gcLeavesNothing();
  });

  test('--port NAME finds the port in the second app\'s image; a name no image has is refused naming every image', async () => {
    const hostPort = await freePort();
    const r = await ward(['run', '--insecure-options=image', '--detach', '--net=default', '--port', `greet:127.0.0.1:${hostPort}`,
      plain, '--name', 'front', '--', '-c', 'sleep 60', '---', aci, '--name', 'back', '--', '-c', 'while :; do echo hello from the second app | nc -l -p 8080; done']);
    assert.equal(r.code, 0, r.stderr);
    let got = '';
    for (let i = 0; i < 100 && got !== 'hello from the second app'; i++) {
      got = await greet('127.0.0.1', hostPort);
      if (got !== 'hello from the second app') await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(got, 'hello from the second app');
    const bad = await ward(['run', '--insecure-options=image', '--net=default', '--port', 'web:8081', plain, '--', '-c', 'true', '---', aci, '--', '-c', 'true']);
    assert.equal(bad.code, 253, bad.stderr);
    assert.match(bad.stderr, /^ward: --port web:8081: no image of the pod has a port named 'web' \(example\.com\/plain: none; example\.com\/busybox: greet\)\n$/);
    await gcLeavesNothing();
  });

  test('--dns, --dns-search, --dns-opt land in /etc/resolv.conf; /etc/hosts names the hostname', async () => {
    const r = await run(['--net=default', '--hostname', 'web', '--dns', '192.0.2.53', '--dns-search', 'example.org', '--dns-opt', 'ndots:2'], 'cat /etc/resolv.conf; cat /etc/hosts; stat -c "%u %a" /etc/resolv.conf /etc/hosts');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^nameserver 192\.0\.2\.53\nsearch example\.org\noptions ndots:2\n/);
    assert.match(r.stdout, /^127\.0\.0\.1\tlocalhost$/m);
    assert.match(r.stdout, new RegExp(`^${env.netSubnets.default.split('.').slice(0, 3).join('\\.')}\\.\\d+\\tweb$`, 'm'));
    assert.match(r.stdout, /^0 644\n0 644\n$/m, 'owned by the pod\'s root, as the image\'s /etc');
  });

  test('an image whose /etc/resolv.conf and /etc/hosts are symlinks to a host file: replaced in the pod, the host file untouched', async () => {
    const r = await run(['--net=default', '--dns', '192.0.2.53'], 'cat /etc/resolv.conf; readlink /etc/resolv.conf || echo not-a-link', symlinked);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^nameserver 192\.0\.2\.53\n/);
    assert.match(r.stdout, /not-a-link/);
    assert.equal(fs.readFileSync(hostFile, 'utf8'), 'nameserver 192.0.2.99\n');
  });

  test('stop and gc leave no veth, rule, pin or cgroup', async () => {
    const uuid = await detach(['--net=default'], 'sleep 60');
    assert.notDeepEqual(netLeftovers(env, [uuid]).links, [], 'the pod\'s host side exists while it runs');
    assert.notDeepEqual(netLeftovers(env, [uuid]).cgroups, [], 'a pod without any limit has its cgroups too (the helper runs without --pids-max here)');
    assert.equal((await ward(['stop', uuid])).code, 0);
    await statusOf(uuid, true);
    await gcLeavesNothing();
  });

  // --memory in what follows: the pod's cgroups carry a limit, and must go as well.
  test('kill -9 of ward-stage1: gc leaves nothing', async () => {
    const uuid = await detach(['--net=default', '--memory=64M'], 'sleep 60');
    assert.notDeepEqual(netLeftovers(env, [uuid]).cgroups, [], 'the pod has cgroups');
    const s = await statusOf(uuid);
    process.kill(s.pid!, 'SIGKILL');
    await statusOf(uuid, true);
    await gcLeavesNothing();
  });

  test('kill -9 of the frontend of a foreground pod: gc leaves nothing', async () => {
    const r = await ward(['run', '--insecure-options=image', '--net=default', '--memory=64M', aci, '--', '-c', 'echo ready; sleep 60'], {
      onSpawn: (c) => c.stdout!.once('data', () => c.kill('SIGKILL')),
    });
    assert.equal(r.signal, 'SIGKILL');
    await waitFor(() => hostLeftovers(env).processes.length === 0);
    await gcLeavesNothing();
  });

  test('kill -9 of the helper while a networked pod runs: after a restart, stop and gc leave nothing', async () => {
    await detach(['--net=default', '--memory=64M'], 'sleep 60');
    await env.killHelper();
    await start();
    await gcLeavesNothing();
  });

  for (const step of ['run-renamed', 'cgroups-made', 'launched', 'net-attached', 'started']) {
    test(`kill -9 of the helper at step ${step} of ward run --net=default --memory=64M: after a restart gc leaves nothing`, async () => {
      await env.killHelper();
      await start(`crash-at-${step}`);
      const helper = env.helperPid!;
      const running = ward(['run', '--insecure-options=image', '--net=default', '--memory=64M', aci, '--', '-c', 'sleep 60']);
      const dead = () => {
        try {
          return fs.readFileSync(`/proc/${helper}/stat`, 'utf8').includes(') Z ');
        } catch {
          return true;
        }
      };
      await waitFor(dead);
      assert.ok(dead(), `the helper killed itself at ${step}`);
      await env.killHelper();
      await start();
      await gcLeavesNothing();
      const r = await running;
      assert.notEqual(r.code, 0, 'the helper died under the run');
    });
  }
});
