// Attaching a pod to its networks and detaching it, crash-safe: what is about to be added is
// written to the pod's dir before the first plugin runs, so a helper killed at any point leaves
// a record that detach (at stop or gc) can undo. DEL is idempotent in CNI, so detach runs every
// plugin of every recorded network in reverse, whether or not its ADD finished.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { Attachment, type CniResult, type NetworkConfList, type PortMapping } from '../../schema/cni';
import { parseStrictJson } from '../../schema/strict-json';
import { HelperError } from '../errors';
import { execPlugin } from './cni-exec';

const Attachments = z.array(Attachment).max(16);

export interface AttachRequest {
  /** The pod's UUID: CNI's container id, and the key of IPAM reservations and iptables rules. */
  containerId: string;
  netns: string;
  networks: NetworkConfList[];
  ports: PortMapping[];
  cniPath: string;
  /** Where the record lives (in the pod's dir, root-only). */
  recordFile: string;
}

export interface AttachedNetwork {
  network: string;
  ifName: string;
  result: CniResult;
}

function pluginConf(list: NetworkConfList, i: number, prevResult: CniResult | undefined, ports: PortMapping[]): Record<string, unknown> & { type: string } {
  const plugin = list.plugins[i]!;
  const conf: Record<string, unknown> & { type: string } = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  if (prevResult) conf.prevResult = prevResult;
  // Only what the plugin declared it understands (CNI's capabilities convention).
  if (plugin.capabilities?.portMappings && ports.length > 0) conf.runtimeConfig = { portMappings: ports };
  return conf;
}

function writeRecord(file: string, atts: Attachment[]): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(atts), { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export function readRecord(file: string): Attachment[] {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const r = Attachments.safeParse(parseStrictJson(bytes));
  if (!r.success) throw new HelperError('EINTERNAL', `the network record ${file} is damaged: ${r.error.issues[0]?.message}`);
  return r.data;
}

/** Adds every network in order (ports go to the first); on any failure undoes what it did and throws. */
export async function attachNetworks(req: AttachRequest): Promise<AttachedNetwork[]> {
  const atts: Attachment[] = req.networks.map((conf, i) => ({ network: conf.name, ifName: `eth${i}`, conf, results: [], ports: i === 0 ? req.ports : [] }));
  writeRecord(req.recordFile, atts);
  const out: AttachedNetwork[] = [];
  try {
    for (const att of atts) {
      let prev: CniResult | undefined;
      for (let i = 0; i < att.conf.plugins.length; i++) {
        const result = await execPlugin({ command: 'ADD', containerId: req.containerId, netns: req.netns, ifName: att.ifName, cniPath: req.cniPath, conf: pluginConf(att.conf, i, prev, att.ports) });
        if (result) prev = result;
        att.results.push(prev!);
        writeRecord(req.recordFile, atts);
      }
      out.push({ network: att.network, ifName: att.ifName, result: prev! });
    }
  } catch (e) {
    await detachNetworks({ containerId: req.containerId, netns: req.netns, cniPath: req.cniPath, recordFile: req.recordFile }).catch(() => undefined);
    throw e;
  }
  return out;
}

export interface DetachRequest {
  containerId: string;
  /** The namespace if it still exists, else "" (plugins then undo only the host side). */
  netns: string;
  cniPath: string;
  recordFile: string;
}

/** Runs DEL for everything recorded; removes the record only when every DEL of an added plugin succeeded, so gc can retry. */
export async function detachNetworks(req: DetachRequest): Promise<void> {
  const atts = readRecord(req.recordFile);
  const failures: string[] = [];
  for (const att of [...atts].reverse()) {
    const prev = att.results[att.results.length - 1];
    for (let i = att.conf.plugins.length - 1; i >= 0; i--) {
      try {
        await execPlugin({ command: 'DEL', containerId: req.containerId, netns: req.netns, ifName: att.ifName, cniPath: req.cniPath, conf: pluginConf(att.conf, i, prev, att.ports) });
      } catch (e) {
        // A plugin whose ADD never finished may refuse DEL too (a configuration it cannot
        // parse, say); only what was added for certain must be undone before the record goes.
        if (i < att.results.length) failures.push((e as Error).message);
      }
    }
  }
  if (failures.length > 0) throw new HelperError('ENETWORK', `tearing down the network of ${req.containerId} failed: ${failures.join('; ')}`);
  fs.rmSync(req.recordFile, { force: true });
  fs.rmSync(`${req.recordFile}.tmp`, { force: true });
}

/** The pod's addresses, for status and for /etc/hosts. */
export function addressesOf(attached: AttachedNetwork[]): { network: string; ifName: string; address: string }[] {
  return attached.flatMap((a) => (a.result.ips ?? []).map((ip) => ({ network: a.network, ifName: a.ifName, address: ip.address })));
}

export const RECORD_NAME = 'net.json';
export function recordFileIn(podDir: string): string {
  return path.join(podDir, RECORD_NAME);
}
