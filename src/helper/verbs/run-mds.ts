// --mds-register, the helper's side: a per-pod secret and the AC_METADATA_URL every app of the
// pod gets (the host's address on the pod's first network, the service's port, the secret), the
// registration on the metadata service's root-only socket once the pod's addresses are known,
// and the unregistration when the pod is done. Registration failing stops the pod from starting.
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { AppcPodManifest } from '../../schema/appc-pod';
import type { NetworkConfList } from '../../schema/cni';
import { MDS_DEFAULT_PORT, MDS_DEFAULT_SOCKET, type MdsImage, type MdsRegistration } from '../../schema/mds';
import { HelperError } from '../errors';
import type { PodStore } from '../pod-store';

export interface MdsConfig {
  /** The service's registration socket (root-only). */
  socket: string;
  /** The TCP port the service listens on for the pods. */
  port: number;
}

export const DEFAULT_MDS_CONFIG: MdsConfig = { socket: MDS_DEFAULT_SOCKET, port: MDS_DEFAULT_PORT };

export interface PodMds {
  secret: string;
  /** AC_METADATA_URL: http://<host address on the pod's network>:<port>/<secret> */
  url: string;
  hostAddress: string;
}

const TIMEOUT_MS = 5000;
const MAX_ANSWER_BYTES = 4096;

/** The first usable address of an IPv4 subnet (a.b.c.d/n): host-local's default gateway. */
function firstHost(subnet: string): string | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(subnet);
  if (!m) return null;
  const bits = Number(m[5]);
  if (bits > 30) return null;
  const n = m.slice(1, 5).reduce((acc, o) => acc * 256 + Number(o), 0);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const first = ((n & mask) >>> 0) + 1;
  return [24, 16, 8, 0].map((s) => (first >>> s) & 255).join('.');
}

/**
 * The host's address on a network, from its IPAM configuration (what the apps are told before the
 * network exists): ipam.gateway, the first range's gateway, or the first address of the subnet.
 * The address the plugin then reports is checked against it (checkHostAddress).
 */
export function hostAddressOf(conf: NetworkConfList): string | null {
  for (const plugin of conf.plugins) {
    const ipam = (plugin as { ipam?: unknown }).ipam as { gateway?: unknown; subnet?: unknown; ranges?: unknown } | undefined;
    if (!ipam || typeof ipam !== 'object') continue;
    const range = Array.isArray(ipam.ranges) && Array.isArray(ipam.ranges[0]) ? (ipam.ranges[0][0] as { gateway?: unknown; subnet?: unknown } | undefined) : undefined;
    for (const gw of [ipam.gateway, range?.gateway]) if (typeof gw === 'string' && net.isIPv4(gw)) return gw;
    for (const sn of [ipam.subnet, range?.subnet]) if (typeof sn === 'string') return firstHost(sn);
  }
  return null;
}

/** Before launch: a fresh secret (256 bits) and the URL for the pod's apps. */
export function planPodMds(cfg: MdsConfig, uuid: string, networks: NetworkConfList[]): PodMds {
  const first = networks[0];
  if (!first) throw new HelperError('ENETWORK', `pod ${uuid}: --mds-register needs the pod on a network the metadata service is reached on; pass --net=default (or a named network) instead of --net=none or host`);
  const hostAddress = hostAddressOf(first);
  if (!hostAddress) throw new HelperError('ENETWORK', `pod ${uuid}: network '${first.name}' has no IPv4 gateway or subnet in its ipam configuration, so the metadata service's address is unknown; give it ipam.subnet or ipam.gateway`);
  const secret = crypto.randomBytes(32).toString('base64url');
  return { secret, hostAddress, url: `http://${hostAddress}:${cfg.port}/${secret}` };
}

/** After attach: the host's end must be where the apps were told the service is. */
export function checkHostAddress(uuid: string, mds: PodMds, gateways: string[]): void {
  if (!gateways.includes(mds.hostAddress)) {
    throw new HelperError('ENETWORK', `pod ${uuid}: the network's gateway is ${gateways.join(', ') || 'not reported'}, not ${mds.hostAddress} where the apps were told the metadata service is; give the network's ipam an explicit gateway`);
  }
}

function call(cfg: MdsConfig, method: 'PUT' | 'DELETE', path: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: cfg.socket, method, path, agent: false, timeout: TIMEOUT_MS, headers: body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (text.length < MAX_ANSWER_BYTES) text += c.slice(0, MAX_ANSWER_BYTES - text.length);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: text.trim().split('\n')[0] ?? '' }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Registers the pod: its manifest, each app's image, and the addresses its requests come from. */
export async function registerPodMds(cfg: MdsConfig, pod: { uuid: string; mds: PodMds; manifest: AppcPodManifest; images: Map<string, MdsImage>; addresses: string[] }): Promise<void> {
  const reg: MdsRegistration = {
    uuid: pod.uuid,
    secret: pod.mds.secret,
    addresses: pod.addresses,
    manifest: pod.manifest,
    apps: pod.manifest.apps.map((a) => {
      const image = pod.images.get(a.name);
      if (!image) throw new HelperError('EINTERNAL', `pod ${pod.uuid}: no image manifest for app ${a.name}`);
      return { name: a.name, image };
    }),
  };
  let answer;
  try {
    answer = await call(cfg, 'PUT', `/pods/${pod.uuid}`, JSON.stringify(reg));
  } catch (e) {
    throw new HelperError('ENETWORK', `pod ${pod.uuid}: cannot register with the metadata service on ${cfg.socket}: ${(e as Error).message}; start it (ward metadata-service, or systemctl start ward-metadata) or run without --mds-register`);
  }
  if (answer.status !== 201) throw new HelperError('ENETWORK', `pod ${pod.uuid}: the metadata service refused the registration (${answer.status}: ${answer.text})`);
}

/** Unregisters a pod; a service that is gone or never knew the pod is not an error. */
export async function unregisterPodMds(cfg: MdsConfig, uuid: string): Promise<void> {
  try {
    const answer = await call(cfg, 'DELETE', `/pods/${uuid}`);
    if (answer.status !== 200 && answer.status !== 404) process.stderr.write(`ward-helper: metadata service: unregistering ${uuid}: ${answer.status} ${answer.text}\n`);
  } catch {
    // The service's registrations die with it.
  }
}

/** The pod's own addresses and the host's ends (gateways), from what the CNI plugins reported. */
export function podAndGateways(attached: { result: { ips?: { address: string; gateway?: string }[] } }[]): { pod: string[]; gateways: string[] } {
  const pod: string[] = [];
  const gateways: string[] = [];
  for (const a of attached) {
    for (const ip of a.result.ips ?? []) {
      const addr = ip.address.split('/')[0]!;
      if (net.isIP(addr)) pod.push(addr);
      if (ip.gateway && net.isIP(ip.gateway)) gateways.push(ip.gateway);
    }
  }
  return { pod, gateways };
}

/**
 * Once the pod's networks are attached and before its apps start: checks that the host's end is
 * where the apps were told the service is, registers the pod from its addresses, and unregisters
 * it when it exits (rm and gc unregister too, for pods whose helper did not see them exit).
 */
export async function registerAttachedPod(cfg: MdsConfig, pod: { uuid: string; mds: PodMds; manifest: AppcPodManifest; images: MdsImage[]; attached: Parameters<typeof podAndGateways>[0]; exited: Promise<unknown> }): Promise<void> {
  const { pod: addresses, gateways } = podAndGateways(pod.attached);
  if (addresses.length === 0) throw new HelperError('ENETWORK', `pod ${pod.uuid}: its networks reported no address to register with the metadata service`);
  checkHostAddress(pod.uuid, pod.mds, gateways);
  if (pod.images.length !== pod.manifest.apps.length) throw new HelperError('EINTERNAL', `pod ${pod.uuid}: ${pod.images.length} image(s) for ${pod.manifest.apps.length} app(s)`);
  const images = new Map(pod.manifest.apps.map((a, i) => [a.name, pod.images[i]!] as const));
  await registerPodMds(cfg, { uuid: pod.uuid, mds: pod.mds, manifest: pod.manifest, images, addresses });
  void pod.exited.then(() => unregisterPodMds(cfg, pod.uuid));
}

/**
 * At helper start: pods that exited while no helper watched them (a helper killed or restarted)
 * are unregistered now rather than at their rm or gc.
 */
export function unregisterExitedPods(cfg: MdsConfig, store: PodStore): void {
  for (const p of store.all()) {
    if (p.where !== 'run' && p.where !== 'exited-garbage') continue;
    if (p.where === 'run' && store.isLocked(p.dir)) continue;
    if (store.readRecord(p.dir)?.mdsImages) void unregisterPodMds(cfg, p.uuid);
  }
}
