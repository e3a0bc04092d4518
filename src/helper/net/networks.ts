// Which networks exist: the two built in, as rkt's (default: ptp with masquerade and a default
// route; default-restricted: ptp to the host only), and the host administrator's named networks
// in net.d (*.conflist, *.conf). A net.d network named "default" or "default-restricted"
// replaces the built-in one (to choose another subnet, say). The helper runs plugins as root
// from these files, so a file others could write is refused, not read.
import fs from 'node:fs';
import path from 'node:path';
import { NetworkConf, NetworkConfList, type NetworkConfList as ConfList } from '../../schema/cni';
import { parseStrictJson } from '../../schema/strict-json';
import { HelperError } from '../errors';

const MAX_CONF_BYTES = 64 * 1024;
const MAX_FILES = 256;

/** rkt's subnets for its two default networks. */
export const DEFAULT_SUBNET = '172.16.28.0/24';
export const RESTRICTED_SUBNET = '172.17.0.0/16';

function ptpList(name: string, subnet: string, masquerade: boolean, dataDir: string): ConfList {
  return {
    cniVersion: '1.0.0',
    name,
    plugins: [
      {
        type: 'ptp',
        ipMasq: masquerade,
        ipam: {
          type: 'host-local',
          subnet,
          dataDir,
          // default-restricted reaches the host's end of its link only.
          routes: masquerade ? [{ dst: '0.0.0.0/0' }] : [],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
}

export function builtinNetworks(ipamDir: string): Map<string, ConfList> {
  return new Map([
    ['default', ptpList('default', DEFAULT_SUBNET, true, ipamDir)],
    ['default-restricted', ptpList('default-restricted', RESTRICTED_SUBNET, false, ipamDir)],
  ]);
}

/** Reads net.d (absent: no named networks). Any bad file is an error naming it: a typo must not silently drop a network. */
export function loadNetDir(dir: string): Map<string, ConfList> {
  const out = new Map<string, ConfList>();
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw new HelperError('ENETWORK', `cannot read the network configuration dir ${dir}: ${(e as Error).message}`);
  }
  const files = names.filter((n) => n.endsWith('.conflist') || n.endsWith('.conf')).sort();
  if (files.length > MAX_FILES) throw new HelperError('ENETWORK', `${dir} holds ${files.length} network files, more than ${MAX_FILES}`);
  for (const name of files) {
    const file = path.join(dir, name);
    const conf = readConf(file, name.endsWith('.conflist'));
    // The first file (in name order) defining a network wins, as CNI's libcni does.
    if (!out.has(conf.name)) out.set(conf.name, conf);
  }
  return out;
}

function readConf(file: string, isList: boolean): ConfList {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw new HelperError('ENETWORK', `cannot open network configuration ${file}: ${(e as Error).message} (symlinks are not followed)`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
      throw new HelperError('ENETWORK', `network configuration ${file} must be a regular file owned by root and writable by nobody else (its plugins run as root)`);
    }
    if (st.size > MAX_CONF_BYTES) throw new HelperError('ENETWORK', `network configuration ${file} is larger than ${MAX_CONF_BYTES} bytes`);
    const bytes = Buffer.alloc(st.size);
    const n = fs.readSync(fd, bytes, 0, st.size, 0);
    let doc: unknown;
    try {
      doc = parseStrictJson(bytes.subarray(0, n));
    } catch (e) {
      throw new HelperError('ENETWORK', `network configuration ${file}: ${(e as Error).message.replace(/^frame/, 'file')}`);
    }
    if (isList) {
      const r = NetworkConfList.safeParse(doc);
      if (!r.success) throw new HelperError('ENETWORK', `network configuration ${file}: ${describe(r.error)}`);
      return r.data;
    }
    const r = NetworkConf.safeParse(doc);
    if (!r.success) throw new HelperError('ENETWORK', `network configuration ${file}: ${describe(r.error)}`);
    const { cniVersion, name, ...plugin } = r.data;
    return { cniVersion, name, plugins: [plugin] };
  } finally {
    fs.closeSync(fd);
  }
}

function describe(err: { issues: { path: PropertyKey[]; message: string }[] }): string {
  const i = err.issues[0];
  return `${i?.path.map(String).join('.') || '(top)'}: ${i?.message}`;
}

export interface NetworkCatalog {
  get(name: string): ConfList | undefined;
  names(): string[];
}

/** Built-ins overlaid by net.d, read afresh per pod so a change needs no helper restart. */
export function networkCatalog(netDir: string, ipamDir: string): NetworkCatalog {
  const all = builtinNetworks(ipamDir);
  for (const [name, conf] of loadNetDir(netDir)) all.set(name, conf);
  return { get: (n) => all.get(n), names: () => [...all.keys()].sort() };
}
