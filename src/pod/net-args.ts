// --net, --port, --dns, --dns-search and --dns-opt of run and prepare, as rkt spells them, into
// the request's fields. The helper checks every one against its policy again; what is checked
// here is what only the frontend can know (the image's port names) and plain syntax.
import { WardError } from '../schema/errors';
import type { ImageManifest } from '../schema/aci';
import type { AppcPort } from '../schema/appc-app';
import type { PortMapping } from '../schema/cni';
import type { NetRequest, RunRequest } from '../schema/protocol';

/** node:net only when an address is given: `ward run` does not load it otherwise (start-up cost). */
function ipVersion(s: string): number {
  return (require('node:net') as typeof import('node:net')).isIP(s);
}

const NET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** --net, repeatable and comma-separated: none, host, or network names (absent: the helper's default). */
export function parseNet(values: string[] | undefined): NetRequest | undefined {
  if (!values || values.length === 0) return undefined;
  const names = values.flatMap((v) => v.split(',')).map((n) => n.trim());
  for (const n of names) {
    if (n.includes(':')) throw new WardError('EUSAGE', `--net=${n}: per-network arguments (NAME:ARGS) are not supported; name the network alone`);
    if (!NET_NAME.test(n)) throw new WardError('EUSAGE', `--net: '${n}' is not a network name (letters, digits, "_", "." and "-"); use none, host, default, default-restricted or a network of the helper's net.d`);
  }
  const special = names.filter((n) => n === 'none' || n === 'host');
  if (special.length > 0) {
    if (names.length > 1) throw new WardError('EUSAGE', `--net=${special[0]} cannot be combined with other networks`);
    return { mode: special[0] as 'none' | 'host' };
  }
  if (new Set(names).size !== names.length) throw new WardError('EUSAGE', `--net names a network twice (${names.join(',')})`);
  if (names.length > 8) throw new WardError('EUSAGE', '--net names more than 8 networks');
  return { mode: 'cni', networks: names };
}

/**
 * The image's ports (app.ports), with the fields --port uses checked as appc defines them (by
 * hand: `ward run` does not load zod, a start-up cost; the image was checked when fetched).
 */
function imagePorts(manifest: ImageManifest): AppcPort[] {
  return (manifest.app?.ports ?? []).map((p) => {
    const q = p as Partial<AppcPort> | null;
    const ok = typeof q === 'object' && q !== null && typeof q.name === 'string' && /^[a-z0-9]+(-[a-z0-9]+)*$/.test(q.name) && typeof q.protocol === 'string' &&
      Number.isInteger(q.port) && q.port! >= 1 && q.port! <= 65535 && (q.count === undefined || (Number.isInteger(q.count) && q.count >= 1));
    if (!ok) throw new WardError('EIMAGE', `image ${manifest.name} has a malformed port (appc: name, protocol, port 1-65535)`);
    return q as AppcPort;
  });
}

/**
 * --port NAME:[HOSTIP:]HOSTPORT, NAME a port of one of the apps' images (they share the pod's
 * network namespace), resolved to its port and protocol. Two images may both declare NAME only
 * as the same port.
 */
export function parsePorts(values: string[] | undefined, manifests: readonly ImageManifest[]): PortMapping[] {
  if (!values || values.length === 0) return [];
  const declared = manifests.map((m) => ({ image: m.name, ports: imagePorts(m) }));
  return values.map((v) => {
    const m = /^([a-z0-9]+(?:-[a-z0-9]+)*):(?:([0-9.]+):)?(\d{1,5})$/.exec(v);
    if (!m) throw new WardError('EUSAGE', `--port ${v}: expected NAME:[HOSTIP:]HOSTPORT (NAME: a port of the image, e.g. http:8080 or http:127.0.0.1:8080)`);
    const [, name, hostIP, hostPort] = m;
    const found = declared.flatMap((d) => d.ports.filter((p) => p.name === name).map((port) => ({ image: d.image, port })));
    if (found.length === 0) {
      const has = (d: (typeof declared)[number]) => (d.ports.length ? d.ports.map((p) => p.name).join(', ') : 'none');
      if (declared.length === 1) {
        const d = declared[0]!;
        throw new WardError('EUSAGE', `--port ${v}: image ${d.image} has no port named '${name}'${d.ports.length ? ` (it has: ${has(d)})` : ' (it declares none)'}`);
      }
      throw new WardError('EUSAGE', `--port ${v}: no image of the pod has a port named '${name}' (${declared.map((d) => `${d.image}: ${has(d)}`).join('; ')})`);
    }
    const port = found[0]!.port;
    const differs = found.find((f) => f.port.port !== port.port || f.port.protocol.toLowerCase() !== port.protocol.toLowerCase() || (f.port.count ?? 1) !== (port.count ?? 1));
    if (differs) {
      throw new WardError('EUSAGE', `--port ${v}: images ${found[0]!.image} and ${differs.image} both name a port '${name}', as ${port.port}/${port.protocol} and ${differs.port.port}/${differs.port.protocol}; run them in separate pods, or rename the port in one image`);
    }
    const protocol = port.protocol.toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp') throw new WardError('EUSAGE', `--port ${v}: the image's port '${name}' is ${port.protocol}; only tcp and udp ports can be forwarded`);
    if ((port.count ?? 1) !== 1) throw new WardError('EUSAGE', `--port ${v}: the image's port '${name}' is a range of ${port.count}; only single ports can be forwarded`);
    if (hostIP !== undefined && ipVersion(hostIP) !== 4) throw new WardError('EUSAGE', `--port ${v}: '${hostIP}' is not an IPv4 address`);
    const hp = Number(hostPort);
    if (hp < 1 || hp > 65535) throw new WardError('EUSAGE', `--port ${v}: host port ${hp} is out of range (1-65535)`);
    return { hostPort: hp, containerPort: port.port, protocol, hostIP: hostIP ?? '' };
  });
}

/** --dns (addresses), --dns-search (domains), --dns-opt (resolv.conf options), each repeatable. */
export function parseDns(o: { dns?: string[]; dnsSearch?: string[]; dnsOpt?: string[] }): Pick<RunRequest, 'dns' | 'dnsSearch' | 'dnsOptions'> {
  const out: Pick<RunRequest, 'dns' | 'dnsSearch' | 'dnsOptions'> = {};
  const list = (vs: string[] | undefined) => (vs ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  const dns = list(o.dns);
  for (const d of dns) if (ipVersion(d) === 0) throw new WardError('EUSAGE', `--dns ${d}: not an IP address (give the name server's address)`);
  const search = list(o.dnsSearch);
  for (const d of search) if (!/^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$/.test(d) || d.length > 253) throw new WardError('EUSAGE', `--dns-search ${d}: not a domain name`);
  const opts = list(o.dnsOpt);
  for (const d of opts) if (!/^[A-Za-z0-9_-]+(:\d{1,5})?$/.test(d)) throw new WardError('EUSAGE', `--dns-opt ${d}: not a resolv.conf option (e.g. ndots:2, edns0)`);
  for (const [flag, vs] of [['--dns', dns], ['--dns-search', search], ['--dns-opt', opts]] as const) if (vs.length > 16) throw new WardError('EUSAGE', `${flag} is given more than 16 times`);
  if (dns.length) out.dns = dns;
  if (search.length) out.dnsSearch = search;
  if (opts.length) out.dnsOptions = opts;
  return out;
}

