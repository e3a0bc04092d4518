// The run verb's network step. At prepare: --net, --port and --dns are checked against policy
// and the network catalog and kept in the pod's record. At start (after stage1's "P <pid>",
// before its "G"): the pod's network namespace is pinned and attached through CNI, and
// /etc/hosts and /etc/resolv.conf are written into the pod's upper dir. At the pod's end, stop,
// rm and gc: everything is undone (tearDownNetwork).
//
// The pin and the CNI record live in STATE/net/<uuid>, not in the pod's dir: the pod's dir is
// renamed between states and removed recursively, neither of which may meet a mounted pin.
import fs from 'node:fs';
import path from 'node:path';
import type { PodRecord } from '../../schema/pod';
import type { RunRequest } from '../../schema/protocol';
import { HelperError } from '../errors';
import { addressesOf, readRecord, recordFileIn, type AttachedNetwork } from '../net/attach';
import type { NetworkConfList } from '../../schema/cni';
import { networkCatalog } from '../net/networks';
import { hostsFile, resolveNetworks, resolvConf, setUpPodNetwork, tearDownPodNetwork } from '../net/pod-network';
import type { Grants } from '../policy';
import { crashPoint } from '../fault';

export interface NetSetup {
  /** The administrator's named networks (*.conflist, *.conf). */
  netDir: string;
  /** Where the CNI plugins are (Debian: /usr/lib/cni). */
  cniPath: string;
  /** host-local's reservations (under the helper's state dir). */
  ipamDir: string;
  /** STATE/net: one dir per pod with a network (pin and CNI record). */
  podsDir: string;
  /** The network a pod gets without --net when policy grants it; "none": no default network. */
  defaultNet: string;
}

export type PodNetwork = NonNullable<PodRecord['network']>;
type NetFields = Pick<RunRequest, 'net' | 'ports' | 'dns' | 'dnsSearch' | 'dnsOptions'>;

function netGrant(grants: Grants): { host: boolean; networks: string[] | '*' } {
  return { host: grants.hostNetwork, networks: grants.networks === '*' ? '*' : [...grants.networks] };
}

function mayJoin(grants: Grants, name: string): boolean {
  return grants.networks === '*' || grants.networks.has(name);
}

/** Checks a request's networking against policy and the catalog; what the pod's record keeps. */
export function planPodNetwork(setup: NetSetup, grants: Grants, req: NetFields): PodNetwork {
  // No --net: the helper's default network where policy grants it (rkt's default), else none.
  const net = req.net ?? (setup.defaultNet !== 'none' && mayJoin(grants, setup.defaultNet) ? { mode: 'cni' as const, networks: [setup.defaultNet] } : { mode: 'none' as const });
  if (net.mode === 'cni') resolveNetworks(net, netGrant(grants), networkCatalog(setup.netDir, setup.ipamDir));
  else resolveNetworks(net, netGrant(grants), { get: () => undefined, names: () => [] });
  const ports = req.ports ?? [];
  if (ports.length > 0) {
    if (net.mode !== 'cni') throw new HelperError('ENETWORK', `--port needs a CNI network (the pod runs with --net=${net.mode}); pass --net=default or a named network`);
    if (grants.ports === 'none') throw new HelperError('EDENIED', 'helper policy does not allow you to forward ports (--port); ask for a grant of "ports"');
    const seen = new Set<string>();
    for (const p of ports) {
      if (p.hostPort < 1024 && grants.ports !== 'any') throw new HelperError('EDENIED', `helper policy allows you to forward host ports from 1024 up only, not ${p.hostPort}; pick a higher host port`);
      const key = `${p.hostIP}:${p.hostPort}/${p.protocol}`;
      if (seen.has(key)) throw new HelperError('ENETWORK', `host port ${p.hostPort}/${p.protocol} is forwarded twice; give each --port its own host port`);
      seen.add(key);
    }
  }
  return { net, ports, ...(req.dns ? { dns: req.dns } : {}), ...(req.dnsSearch ? { dnsSearch: req.dnsSearch } : {}), ...(req.dnsOptions ? { dnsOptions: req.dnsOptions } : {}) };
}

/** Whether stage1 must wait for the helper after "P": a network to attach, or files to write. */
export function netWaits(plan: PodNetwork | undefined): boolean {
  if (!plan) return false;
  return plan.net.mode === 'cni' || (plan.dns?.length ?? 0) > 0 || (plan.dnsSearch?.length ?? 0) > 0 || (plan.dnsOptions?.length ?? 0) > 0;
}

function podNetDir(setup: NetSetup, uuid: string): string {
  return path.join(setup.podsDir, uuid);
}

/**
 * After "P <pid>": re-checks policy (it may have changed since prepare), attaches the pod's
 * networks and writes its /etc/hosts and /etc/resolv.conf. On failure undoes the network and throws.
 */
export async function startPodNetwork(setup: NetSetup, grants: Grants, o: { uuid: string; plan: PodNetwork; pid: number; apps: { upper: string; lower: string }[]; hostname: string }): Promise<AttachedNetwork[]> {
  // Policy as it is now: a grant withdrawn since prepare refuses the start.
  const plan = planPodNetwork(setup, grants, o.plan);
  const networks = podNetworks(setup, grants, plan);
  let attached: Awaited<ReturnType<typeof setUpPodNetwork>> = [];
  if (networks.length > 0) {
    fs.mkdirSync(setup.podsDir, { recursive: true, mode: 0o700 });
    const dir = podNetDir(setup, o.uuid);
    fs.mkdirSync(dir, { mode: 0o700 });
    attached = await setUpPodNetwork({ uuid: o.uuid, podDir: dir, pid: o.pid, networks, ports: plan.ports, cniPath: setup.cniPath });
    crashPoint('net-attached');
  }
  try {
    const files: [string, string][] = [];
    if (plan.net.mode === 'cni') files.push(['hosts', hostsFile(o.hostname, attached)]);
    const resolv = resolvConf({ dns: plan.dns ?? [], search: plan.dnsSearch ?? [], options: plan.dnsOptions ?? [] }, attached);
    if (resolv !== null) files.push(['resolv.conf', resolv]);
    // Every app's own root gets them (each app has its own upper dir).
    if (files.length > 0) for (const a of o.apps) writeEtcFiles(a.upper, a.lower, files);
  } catch (e) {
    await tearDownNetwork(setup, o.uuid).catch(() => undefined);
    throw e;
  }
  return attached;
}

/** The CNI configurations a pod's plan attaches, in order (none for --net=none and host). */
export function podNetworks(setup: NetSetup, grants: Grants, plan: PodNetwork): NetworkConfList[] {
  return plan.net.mode === 'cni' ? resolveNetworks(plan.net, netGrant(grants), networkCatalog(setup.netDir, setup.ipamDir)) : [];
}

/**
 * Writes files into the upper dir's etc/, so they shadow the image's (a symlink there included,
 * which is replaced, never followed). Nothing of the pod runs yet (stage1 waits for "G"), and the
 * upper dir is the helper's own, in a root-only pod dir; still, no path is followed through a
 * symlink: etc is made or must be a real directory, each file is made new with O_NOFOLLOW.
 * Owner and mode of etc and of the files come from the image's /etc.
 */
function writeEtcFiles(upper: string, lower: string, files: [string, string][]): void {
  let lowerEtc: fs.Stats | null = null;
  try {
    lowerEtc = fs.lstatSync(path.join(lower, 'etc'));
  } catch {
    /* no /etc in the image: made with the root's owner */
  }
  if (lowerEtc && !lowerEtc.isDirectory()) throw new HelperError('ENETWORK', "the image's /etc is not a directory (a symlink?); ward writes /etc/hosts and /etc/resolv.conf only into a real /etc: fix the image or run with --net=none and no --dns");
  const owner = lowerEtc ?? fs.lstatSync(lower);
  const etc = path.join(upper, 'etc');
  try {
    fs.mkdirSync(etc, { mode: 0o700 });
    fs.chownSync(etc, owner.uid, owner.gid);
    fs.chmodSync(etc, lowerEtc ? lowerEtc.mode & 0o7777 : 0o755);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = fs.lstatSync(etc);
  if (!st.isDirectory()) throw new HelperError('EINTERNAL', `the pod's upper etc is not a directory`);
  for (const [name, text] of files) {
    const file = path.join(etc, name);
    // Whatever is there (a symlink included) is removed, not followed: unlink acts on the link.
    fs.rmSync(file, { force: true });
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o644);
    try {
      fs.writeSync(fd, text);
      fs.fchownSync(fd, owner.uid, owner.gid);
      fs.fchmodSync(fd, 0o644);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** Undoes the pod's network (plugins DEL, unpin, the pod's net dir); safe to repeat and after any crash. */
export async function tearDownNetwork(setup: NetSetup, uuid: string): Promise<void> {
  const dir = podNetDir(setup, uuid);
  if (!fs.existsSync(dir)) return;
  await tearDownPodNetwork({ uuid, podDir: dir, cniPath: setup.cniPath });
  fs.rmdirSync(dir);
}

/** Pods with network state left (for gc: those whose pod is gone are collected too). */
export function podsWithNetwork(setup: NetSetup): string[] {
  try {
    return fs.readdirSync(setup.podsDir).filter((n) => /^[0-9a-f-]{36}$/.test(n));
  } catch {
    return [];
  }
}

/** The pod's addresses while its network is attached (list, status). */
export function podAddresses(setup: NetSetup, uuid: string): { network: string; ifName: string; address: string }[] | undefined {
  const dir = podNetDir(setup, uuid);
  if (!fs.existsSync(dir)) return undefined;
  try {
    const atts = readRecord(recordFileIn(dir));
    return addressesOf(atts.filter((a) => a.results.length > 0).map((a) => ({ network: a.network, ifName: a.ifName, result: a.results[a.results.length - 1]! })));
  } catch {
    return undefined;
  }
}
