// The frontend's parsing of --net, --port, --dns*, --memory and --cpu: rkt's syntax, resolved
// against the image's ports and isolators, every refusal one line naming the flag.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isolatorsFor, parseCpu, parseMemory } from '../../src/pod/isolator-args';
import { parseDns, parseNet, parsePorts } from '../../src/pod/net-args';
import type { ImageManifest } from '../../src/schema/aci';

const manifest = (app: Record<string, unknown>): ImageManifest => ({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/web', app: { user: '0', group: '0', ...app } }) as ImageManifest;

test('--net: absent, none, host, networks; mixing none/host with others and per-network args are refused', () => {
  assert.equal(parseNet(undefined), undefined);
  assert.deepEqual(parseNet(['none']), { mode: 'none' });
  assert.deepEqual(parseNet(['host']), { mode: 'host' });
  assert.deepEqual(parseNet(['default', 'a,b']), { mode: 'cni', networks: ['default', 'a', 'b'] });
  assert.throws(() => parseNet(['none,default']), /--net=none cannot be combined/);
  assert.throws(() => parseNet(['default:IP=10.1.2.3']), /per-network arguments/);
  assert.throws(() => parseNet(['default,default']), /names a network twice/);
  assert.throws(() => parseNet(['../x']), /is not a network name/);
});

test('--port resolves the image\'s port by name, with an optional host address', () => {
  const m = manifest({ ports: [{ name: 'http', protocol: 'tcp', port: 80 }, { name: 'dns', protocol: 'UDP', port: 53 }, { name: 'range', protocol: 'tcp', port: 9000, count: 4 }] });
  assert.deepEqual(parsePorts(['http:8080', 'dns:127.0.0.1:5353'], [m]), [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '' },
    { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
  ]);
  assert.throws(() => parsePorts(['web:8080'], [m]), /has no port named 'web' \(it has: http, dns, range\)/);
  assert.throws(() => parsePorts(['http:99999'], [m]), /out of range/);
  assert.throws(() => parsePorts(['http:1.2.3:80'], [m]), /not an IPv4 address/);
  assert.throws(() => parsePorts(['http'], [m]), /expected NAME:\[HOSTIP:\]HOSTPORT/);
  assert.throws(() => parsePorts(['range:9000'], [m]), /only single ports/);
  assert.throws(() => parsePorts(['http:80'], [manifest({})]), /declares none/);
});

test('--port finds NAME in whichever app\'s image declares it; the same name as two different ports is refused', () => {
  const web = { ...manifest({ ports: [{ name: 'http', protocol: 'tcp', port: 80 }] }), name: 'example.com/web' } as ImageManifest;
  const db = { ...manifest({ ports: [{ name: 'pg', protocol: 'tcp', port: 5432 }] }), name: 'example.com/db' } as ImageManifest;
  const other = { ...manifest({ ports: [{ name: 'http', protocol: 'tcp', port: 8080 }] }), name: 'example.com/other' } as ImageManifest;
  const same = { ...manifest({ ports: [{ name: 'http', protocol: 'TCP', port: 80 }] }), name: 'example.com/same' } as ImageManifest;
  assert.deepEqual(parsePorts(['pg:15432'], [web, db]), [{ hostPort: 15432, containerPort: 5432, protocol: 'tcp', hostIP: '' }], 'the second app\'s port');
  assert.deepEqual(parsePorts(['http:8000'], [web, same]).map((p) => p.containerPort), [80], 'one port under one name in two images');
  assert.throws(() => parsePorts(['http:8000'], [web, other]), /images example\.com\/web and example\.com\/other both name a port 'http', as 80\/tcp and 8080\/tcp/);
  assert.throws(() => parsePorts(['smtp:25'], [web, db]), /no image of the pod has a port named 'smtp' \(example\.com\/web: http; example\.com\/db: pg\)/);
});

test('--dns, --dns-search, --dns-opt', () => {
  assert.deepEqual(parseDns({}), {});
  assert.deepEqual(parseDns({ dns: ['192.0.2.1,2001:db8::1'], dnsSearch: ['example.org'], dnsOpt: ['ndots:2'] }), { dns: ['192.0.2.1', '2001:db8::1'], dnsSearch: ['example.org'], dnsOptions: ['ndots:2'] });
  assert.throws(() => parseDns({ dns: ['host'] }), /--dns host: not an IP address/);
  assert.throws(() => parseDns({ dnsSearch: ['bad domain'] }), /not a domain name/);
  assert.throws(() => parseDns({ dnsOpt: ['x\nnameserver 1.2.3.4'] }), /not a resolv.conf option/);
});

test('--memory and --cpu: rkt\'s quantities', () => {
  assert.equal(parseMemory('512M'), 512e6);
  assert.equal(parseMemory('1G'), 1e9);
  assert.equal(parseMemory('256Mi'), 256 * 2 ** 20);
  assert.equal(parseMemory('4194304'), 4 * 2 ** 20);
  assert.throws(() => parseMemory('1k'), /at least 4Mi/);
  assert.throws(() => parseMemory('12X'), /expected bytes/);
  assert.equal(parseCpu('500m'), 500);
  assert.equal(parseCpu('1'), 1000);
  assert.equal(parseCpu('0.25'), 250);
  assert.throws(() => parseCpu('5m'), /at least 10m/);
  assert.throws(() => parseCpu('-1'), /expected cores/);
});

test('the image\'s isolators apply unless a flag overrides them; a malformed one is an image error', () => {
  const m = manifest({ isolators: [{ name: 'resource/memory', value: { limit: '1Gi', request: '1Mi' } }, { name: 'resource/cpu', value: { limit: '2' } }, { name: 'os/linux/no-new-privileges', value: true }] });
  assert.deepEqual(isolatorsFor(m, {}), { memory: 2 ** 30, cpu: 2000 });
  assert.deepEqual(isolatorsFor(m, { memory: '64Mi' }), { memory: 64 * 2 ** 20, cpu: 2000 });
  assert.equal(isolatorsFor(manifest({}), {}), undefined);
  assert.throws(() => isolatorsFor(manifest({ isolators: [{ name: 'resource/cpu', value: { limit: 'lots' } }] }), {}), (e: Error & { code?: string }) => e.code === 'EIMAGE' && /resource\/cpu limit lots/.test(e.message));
});
