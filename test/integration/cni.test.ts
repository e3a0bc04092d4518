// The helper's CNI layer against Debian's real plugins (ptp, host-local, portmap), in network
// namespaces these tests make and remove themselves, on subnets picked at random in 10.200/13.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { attachNetworks, detachNetworks, readRecord } from '../../src/helper/net/attach';
import { loadNetDir, networkCatalog } from '../../src/helper/net/networks';
import { HelperError } from '../../src/helper/errors';
import { hostsFile, resolveNetworks, resolvConf, setUpPodNetwork, tearDownPodNetwork } from '../../src/helper/net/pod-network';

const CNI_PATH = '/usr/lib/cni';

function natRules(): string {
  return execFileSync('iptables', ['-w', '-t', 'nat', '-S'], { encoding: 'utf8' });
}

function randomSubnet(): string {
  const b = crypto.randomBytes(2);
  return `10.${200 + (b[0]! % 8)}.${b[1]}.0/24`;
}

class Netns {
  readonly name = `ward-cni-${crypto.randomBytes(4).toString('hex')}`;
  readonly path = `/var/run/netns/${this.name}`;
  constructor() {
    execFileSync('ip', ['netns', 'add', this.name]);
  }
  exec(args: string[]): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.name, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  }
  remove(): void {
    execFileSync('ip', ['netns', 'del', this.name]);
  }
}

/** A TCP server inside the namespace that greets and closes. */
async function greeter(ns: Netns, port: number): Promise<ChildProcess> {
  const child = ns.exec([process.execPath, '-e', `require('net').createServer((s) => s.end('hello from the pod\\n')).listen(${port}, () => console.log('up'))`]);
  await new Promise((r) => child.stdout!.once('data', r));
  return child;
}

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

describe('CNI networks', () => {
  let dir: string;
  let netDir: string;
  let ipamDir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-cni-'));
    netDir = path.join(dir, 'net.d');
    ipamDir = path.join(dir, 'ipam');
    fs.mkdirSync(netDir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function writeNet(file: string, doc: unknown, mode = 0o644): void {
    fs.writeFileSync(path.join(netDir, file), JSON.stringify(doc), { mode });
    fs.chmodSync(path.join(netDir, file), mode);
  }

  test('default: a ptp link with masquerade, a forwarded loopback port, and nothing left after detach', async () => {
    const subnet = randomSubnet();
    writeNet('10-default.conflist', {
      cniVersion: '1.0.0',
      name: 'default',
      plugins: [
        { type: 'ptp', ipMasq: true, ipam: { type: 'host-local', subnet, dataDir: ipamDir, routes: [{ dst: '0.0.0.0/0' }] } },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ],
    });
    const ns = new Netns();
    const id = crypto.randomUUID();
    const recordFile = path.join(dir, `${id}.json`);
    const hostPort = await freePort();
    let server: ChildProcess | null = null;
    try {
      const cat = networkCatalog(netDir, ipamDir);
      const attached = await attachNetworks({ containerId: id, netns: ns.path, networks: [cat.get('default')!], ports: [{ hostPort, containerPort: 8080, protocol: 'tcp', hostIP: '127.0.0.1' }], cniPath: CNI_PATH, recordFile });
      const address = attached[0]!.result.ips![0]!.address.split('/')[0]!;
      assert.ok(address.startsWith(subnet.split('.').slice(0, 3).join('.')), `address ${address} from ${subnet}`);
      assert.match(natRules(), new RegExp(id), 'masquerade and port rules carry the pod id');
      assert.equal(readRecord(recordFile).length, 1);
      server = await greeter(ns, 8080);
      assert.equal(await greet(address, 8080), 'hello from the pod');
      assert.equal(await greet('127.0.0.1', hostPort), 'hello from the pod', 'the forwarded port reaches the app from the host on loopback');
    } finally {
      server?.kill();
      await detachNetworks({ containerId: id, netns: ns.path, cniPath: CNI_PATH, recordFile });
      ns.remove();
    }
    assert.doesNotMatch(natRules(), new RegExp(id), 'no iptables rule of the pod is left');
    assert.equal(fs.existsSync(recordFile), false);
    const reserved = fs.readdirSync(path.join(ipamDir, 'default')).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
    assert.deepEqual(reserved, [], 'the address is released');
  });

  test('a network that fails half way is undone: the first network is detached again and the error names the plugin', async () => {
    writeNet('20-good.conflist', { cniVersion: '1.0.0', name: 'good', plugins: [{ type: 'ptp', ipMasq: true, ipam: { type: 'host-local', subnet: randomSubnet(), dataDir: ipamDir } }] });
    writeNet('21-broken.conflist', { cniVersion: '1.0.0', name: 'broken', plugins: [{ type: 'ptp', ipam: { type: 'host-local', subnet: 'not-a-subnet', dataDir: ipamDir } }] });
    const ns = new Netns();
    const id = crypto.randomUUID();
    const recordFile = path.join(dir, `${id}.json`);
    try {
      const cat = networkCatalog(netDir, ipamDir);
      await assert.rejects(attachNetworks({ containerId: id, netns: ns.path, networks: [cat.get('good')!, cat.get('broken')!], ports: [], cniPath: CNI_PATH, recordFile }), (e: unknown) => {
        assert.ok(e instanceof HelperError);
        assert.equal(e.code, 'ENETWORK');
        assert.match(e.message, /^CNI plugin ptp \(ADD eth1\) failed: .*subnet/);
        assert.doesNotMatch(e.message, /\n/);
        return true;
      });
      assert.doesNotMatch(natRules(), new RegExp(id));
      const links = execFileSync('ip', ['-n', ns.name, '-o', 'link'], { encoding: 'utf8' });
      assert.doesNotMatch(links, /eth0/, 'the first network was detached again');
      assert.equal(fs.existsSync(recordFile), false);
    } finally {
      ns.remove();
      fs.rmSync(path.join(netDir, '20-good.conflist'));
      fs.rmSync(path.join(netDir, '21-broken.conflist'));
    }
  });

  test('a namespace kept by a bind mount outlives its last process, so detach still removes the masquerade rules', async () => {
    const conf = { cniVersion: '1.0.0', name: 'kept', plugins: [{ type: 'ptp', ipMasq: true, ipam: { type: 'host-local', subnet: randomSubnet(), dataDir: ipamDir } }] };
    const holder = spawn('unshare', ['--user', '--map-root-user', '--net', 'sleep', '60'], { stdio: 'ignore' });
    const keep = path.join(dir, 'netns-kept');
    const id = crypto.randomUUID();
    const recordFile = path.join(dir, `${id}.json`);
    try {
      // The namespace belongs to a user namespace, as a pod's does.
      let nsPath = '';
      for (let i = 0; i < 100 && !nsPath; i++) {
        await new Promise((r) => setTimeout(r, 20));
        const link = fs.readlinkSync(`/proc/${holder.pid}/ns/net`);
        if (link !== fs.readlinkSync('/proc/self/ns/net')) nsPath = `/proc/${holder.pid}/ns/net`;
      }
      assert.ok(nsPath, 'the holder made its namespace');
      await attachNetworks({ containerId: id, netns: nsPath, networks: [conf as never], ports: [], cniPath: CNI_PATH, recordFile });
      fs.writeFileSync(keep, '');
      execFileSync('mount', ['--bind', nsPath, keep]);
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
      assert.match(natRules(), new RegExp(id));
      await detachNetworks({ containerId: id, netns: keep, cniPath: CNI_PATH, recordFile });
      assert.doesNotMatch(natRules(), new RegExp(id));
    } finally {
      holder.kill('SIGKILL');
      try {
        execFileSync('umount', [keep]);
      } catch {
        /* not mounted */
      }
    }
  });

  test('net.d files: refused when others can write them, when they name a path as plugin, when they are symlinks or malformed', () => {
    const bad = fs.mkdtempSync(path.join(dir, 'bad-'));
    const check = (file: string, content: string, mode: number, pattern: RegExp) => {
      fs.writeFileSync(path.join(bad, file), content, { mode });
      fs.chmodSync(path.join(bad, file), mode);
      assert.throws(() => loadNetDir(bad), (e: unknown) => e instanceof HelperError && e.code === 'ENETWORK' && pattern.test(e.message) && !e.message.includes('\n'));
      fs.rmSync(path.join(bad, file));
    };
    const ok = { cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'ptp' }] };
    check('a.conflist', JSON.stringify(ok), 0o664, /writable by nobody else/);
    check('a.conflist', JSON.stringify({ ...ok, plugins: [{ type: '../../bin/sh' }] }), 0o644, /plugins\.0\.type: must be a plugin name/);
    check('a.conflist', '{"cniVersion":"1.0.0","name":"n","name":"m","plugins":[]}', 0o644, /duplicate/i);
    check('a.conf', '{"cniVersion":', 0o644, /a\.conf: file is not valid JSON/);
    check('a.conflist', JSON.stringify({ ...ok, name: '../x' }), 0o644, /name: must be/);
    fs.symlinkSync('/etc/passwd', path.join(bad, 'l.conflist'));
    assert.throws(() => loadNetDir(bad), /symlinks are not followed/);
    fs.rmSync(path.join(bad, 'l.conflist'));
    // A single-plugin .conf is a list of one; the built-ins stay unless replaced.
    fs.writeFileSync(path.join(bad, 'one.conf'), JSON.stringify({ cniVersion: '1.0.0', name: 'one', type: 'bridge', bridge: 'x' }), { mode: 0o644 });
    const cat = networkCatalog(bad, ipamDir);
    assert.deepEqual(cat.get('one')!.plugins.map((p) => p.type), ['bridge']);
    assert.deepEqual(cat.names(), ['default', 'default-restricted', 'one']);
  });

  test('a plugin that is not installed is a clear error', async () => {
    const ns = new Netns();
    const id = crypto.randomUUID();
    try {
      await assert.rejects(
        attachNetworks({ containerId: id, netns: ns.path, networks: [{ cniVersion: '1.0.0', name: 'x', plugins: [{ type: 'no-such-plugin' }] }], ports: [], cniPath: CNI_PATH, recordFile: path.join(dir, `${id}.json`) }),
        /CNI plugin 'no-such-plugin' is not in \/usr\/lib\/cni; install containernetworking-plugins/,
      );
    } finally {
      ns.remove();
    }
  });

  test('a pod network: pinned in the pod dir, attached, and after every process of the pod is killed, torn down without a trace', async () => {
    writeNet('30-podnet.conflist', { cniVersion: '1.0.0', name: 'podnet', plugins: [{ type: 'ptp', ipMasq: true, ipam: { type: 'host-local', subnet: randomSubnet(), dataDir: ipamDir } }] });
    const podDir = fs.mkdtempSync(path.join(dir, 'pod-'));
    const uuid = crypto.randomUUID();
    const holder = spawn('unshare', ['--user', '--map-root-user', '--net', 'sleep', '60'], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100; i++) {
        await new Promise((r) => setTimeout(r, 20));
        if (fs.readlinkSync(`/proc/${holder.pid}/ns/net`) !== fs.readlinkSync('/proc/self/ns/net')) break;
      }
      const cat = networkCatalog(netDir, ipamDir);
      const nets = resolveNetworks({ mode: 'cni', networks: ['podnet'] }, { host: false, networks: ['podnet'] }, cat);
      const attached = await setUpPodNetwork({ uuid, podDir, pid: holder.pid!, networks: nets, ports: [], cniPath: CNI_PATH });
      assert.equal(attached.length, 1);
      assert.match(fs.readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(`${podDir}/netns`));
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
      await tearDownPodNetwork({ uuid, podDir, cniPath: CNI_PATH });
      // Twice is harmless (gc after stop).
      await tearDownPodNetwork({ uuid, podDir, cniPath: CNI_PATH });
      assert.doesNotMatch(natRules(), new RegExp(uuid));
      assert.doesNotMatch(fs.readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(`${podDir}/netns`));
      assert.deepEqual(fs.readdirSync(podDir), []);
    } finally {
      holder.kill('SIGKILL');
      fs.rmSync(path.join(netDir, '30-podnet.conflist'));
    }
  });

  test('--net is checked against policy and the catalog', () => {
    const cat = networkCatalog(netDir, ipamDir);
    const deny = (e: unknown, code: string, re: RegExp) => e instanceof HelperError && e.code === code && re.test(e.message);
    assert.deepEqual(resolveNetworks({ mode: 'none' }, { host: false, networks: [] }, cat), []);
    assert.throws(() => resolveNetworks({ mode: 'host' }, { host: false, networks: '*' }, cat), (e) => deny(e, 'EDENIED', /does not allow you --net=host/));
    assert.deepEqual(resolveNetworks({ mode: 'host' }, { host: true, networks: [] }, cat), []);
    assert.throws(() => resolveNetworks({ mode: 'cni', networks: ['nope'] }, { host: false, networks: '*' }, cat), (e) => deny(e, 'ENETWORK', /no network named 'nope'; known: default, default-restricted/));
    assert.throws(() => resolveNetworks({ mode: 'cni', networks: ['default-restricted'] }, { host: false, networks: ['default'] }, cat), (e) => deny(e, 'EDENIED', /not allow you the network 'default-restricted'/));
    assert.throws(() => resolveNetworks({ mode: 'cni', networks: ['default', 'default'] }, { host: false, networks: '*' }, cat), /named twice/);
    assert.equal(resolveNetworks({ mode: 'cni', networks: ['default'] }, { host: false, networks: ['default'] }, cat)[0]!.name, 'default');
  });

  test('/etc/hosts and resolv.conf for a pod', () => {
    const attached = [{ network: 'default', ifName: 'eth0', result: { cniVersion: '1.0.0', ips: [{ address: '10.1.2.3/24' }], dns: { nameservers: ['10.1.2.1'], search: ['corp'] } } }];
    assert.equal(hostsFile('web', attached), '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.1.2.3\tweb\n');
    assert.equal(resolvConf({ dns: [], search: [], options: [] }, attached), 'nameserver 10.1.2.1\nsearch corp\n');
    assert.equal(resolvConf({ dns: ['9.9.9.9'], search: ['a.b'], options: ['ndots:2'] }, attached), 'nameserver 9.9.9.9\nsearch a.b\noptions ndots:2\n');
    assert.equal(resolvConf({ dns: [], search: [], options: [] }, []), null);
  });
});
