// A pod's network, from the helper's side: which networks a request may have (--net), keeping
// the pod's network namespace alive with a bind mount in the pod's dir (so the host side can be
// undone even after every process of the pod died: ptp removes its masquerade rules only when it
// can still enter the namespace), attaching through CNI, and undoing all of it at stop or gc.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { NetworkConfList, PortMapping } from '../../schema/cni';
import { HelperError } from '../errors';
import { attachNetworks, detachNetworks, recordFileIn, type AttachedNetwork } from './attach';
import type { NetworkCatalog } from './networks';

const run = promisify(execFile);

/** --net as the helper receives it: none, host, or networks by name (default: ["default"]). */
export type NetRequest = { mode: 'none' } | { mode: 'host' } | { mode: 'cni'; networks: string[] };

export interface NetGrant {
  /** --net=host: the pod shares the host's network namespace. */
  host: boolean;
  /** Networks by name the caller may join; "*" for any the catalog has. */
  networks: string[] | '*';
}

/** Checks a request against policy and the catalog; the configurations to attach, in order. */
export function resolveNetworks(req: NetRequest, grant: NetGrant, catalog: NetworkCatalog): NetworkConfList[] {
  if (req.mode === 'none') return [];
  if (req.mode === 'host') {
    if (!grant.host) throw new HelperError('EDENIED', 'helper policy does not allow you --net=host; use the default network or ask for a grant of "host"');
    return [];
  }
  if (req.networks.length === 0) throw new HelperError('ENETWORK', 'no network named; pass --net=default, --net=none or network names');
  if (new Set(req.networks).size !== req.networks.length) throw new HelperError('ENETWORK', `a network is named twice in --net=${req.networks.join(',')}`);
  return req.networks.map((name) => {
    const conf = catalog.get(name);
    if (!conf) throw new HelperError('ENETWORK', `no network named '${name}'; known: ${catalog.names().join(', ')} (add one in the helper's net.d)`);
    if (grant.networks !== '*' && !grant.networks.includes(name)) throw new HelperError('EDENIED', `helper policy does not allow you the network '${name}'`);
    return conf;
  });
}

function netnsFile(podDir: string): string {
  return path.join(podDir, 'netns');
}

async function isMountPoint(file: string): Promise<boolean> {
  try {
    await run('mountpoint', ['-q', file]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Pins the namespace of the pod's pid 1 and attaches its networks. The namespace belongs to the
 * pod's user namespace (stage1 made it), so the pod's root may bind low ports in it; the
 * plugins run as real root and enter it through the pinned file.
 */
export async function setUpPodNetwork(opts: { uuid: string; podDir: string; pid: number; networks: NetworkConfList[]; ports: PortMapping[]; cniPath: string }): Promise<AttachedNetwork[]> {
  if (opts.networks.length === 0) return [];
  const pin = netnsFile(opts.podDir);
  fs.writeFileSync(pin, '', { mode: 0o600, flag: 'wx' });
  try {
    await run('mount', ['--bind', `/proc/${opts.pid}/ns/net`, pin]);
  } catch (e) {
    fs.rmSync(pin, { force: true });
    throw new HelperError('ENETWORK', `cannot pin the network namespace of pod ${opts.uuid}: ${(e as Error).message.split('\n')[0]}`);
  }
  try {
    return await attachNetworks({ containerId: opts.uuid, netns: pin, networks: opts.networks, ports: opts.ports, cniPath: opts.cniPath, recordFile: recordFileIn(opts.podDir) });
  } catch (e) {
    await unpin(pin);
    throw e;
  }
}

async function unpin(pin: string): Promise<void> {
  if (await isMountPoint(pin)) await run('umount', [pin]);
  fs.rmSync(pin, { force: true });
}

/** Undoes setUpPodNetwork; safe to repeat, and after any crash (gc calls it for every pod it collects). */
export async function tearDownPodNetwork(opts: { uuid: string; podDir: string; cniPath: string }): Promise<void> {
  const pin = netnsFile(opts.podDir);
  const pinned = await isMountPoint(pin);
  await detachNetworks({ containerId: opts.uuid, netns: pinned ? pin : '', cniPath: opts.cniPath, recordFile: recordFileIn(opts.podDir) });
  await unpin(pin);
}

/** /etc/hosts for the pod: localhost, and the pod's own name on each of its addresses. */
export function hostsFile(hostname: string, attached: AttachedNetwork[]): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  const mine = attached.flatMap((a) => (a.result.ips ?? []).map((ip) => ip.address.split('/')[0]!));
  lines.push(`${mine[0] ?? '127.0.1.1'}\t${hostname}`);
  return `${lines.join('\n')}\n`;
}

/** resolv.conf: --dns / --dns-search when given, else what the networks' plugins answered. */
export function resolvConf(flags: { dns: string[]; search: string[]; options: string[] }, attached: AttachedNetwork[]): string | null {
  const fromNets = attached.map((a) => a.result.dns ?? {});
  const servers = flags.dns.length > 0 ? flags.dns : fromNets.flatMap((d) => d.nameservers ?? []);
  const search = flags.search.length > 0 ? flags.search : fromNets.flatMap((d) => d.search ?? []);
  const options = flags.options.length > 0 ? flags.options : fromNets.flatMap((d) => d.options ?? []);
  if (servers.length === 0 && search.length === 0) return null;
  const lines = [...servers.map((s) => `nameserver ${s}`), ...(search.length ? [`search ${search.join(' ')}`] : []), ...(options.length ? [`options ${options.join(' ')}`] : [])];
  return `${lines.join('\n')}\n`;
}
