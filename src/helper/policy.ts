// Loads policies/helper.json and answers "may this peer do this?". The helper enforces the
// answer itself; the frontend's word is never enough.
import fs from 'node:fs';
import { HelperPolicy } from '../schema/policy';
import type { InsecureOption } from '../schema/protocol';
import type { Verb } from '../schema/protocol';
import { HelperError } from './errors';
import type { Peer } from './peer';

export function loadPolicy(file: string): HelperPolicy {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read helper policy ${file}: ${(e as Error).message}; fix or restore the file (the helper does not start without it)`);
  }
  const parsed = HelperPolicy.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid helper policy ${file}: ${issue?.path.join('.') || '(top)'}: ${issue?.message}`);
  }
  return parsed.data;
}

export interface Grants {
  verbs: Set<Verb>;
  insecure: Set<InsecureOption>;
  allowUnverified: boolean;

  /** Capabilities beyond appc's default set the caller may retain. */
  caps: Set<string>;
  /** Syscalls beyond the default seccomp profile the caller may retain. */
  seccompAllow: Set<string>;
  /** Host volume sources the caller may mount (path prefixes by segment, "*": any). */
  hostVolumes: Set<string>;
  /** CNI networks by name, or every network ('*'); empty: none. */
  networks: Set<string> | '*';
  hostNetwork: boolean;
  /** Host ports that may be forwarded into pods. */
  ports: 'none' | 'unprivileged' | 'any';
  mdsRegister: boolean;
}

const PORT_RANK = { none: 0, unprivileged: 1, any: 2 } as const;

export function grantsFor(policy: HelperPolicy, peer: Peer): Grants {

  const g: Grants = { verbs: new Set(), insecure: new Set(), allowUnverified: false, caps: new Set(), seccompAllow: new Set(), hostVolumes: new Set(), networks: new Set(), hostNetwork: false, ports: 'none', mdsRegister: false };
  for (const name of peer.groups) {
    const grant = policy.groups[name];
    if (!grant) continue;
    grant.verbs.forEach((v) => g.verbs.add(v));
    grant.insecureOptions.forEach((o) => g.insecure.add(o));
    g.allowUnverified ||= grant.allowUnverified;

    grant.caps.forEach((c) => g.caps.add(c));
    grant.seccompAllow.forEach((c) => g.seccompAllow.add(c));
    grant.hostVolumes?.forEach((p) => g.hostVolumes.add(p));
    if (grant.networks === '*' || g.networks === '*') g.networks = '*';
    else grant.networks?.forEach((n) => (g.networks as Set<string>).add(n));
    g.hostNetwork ||= grant.hostNetwork ?? false;
    if (grant.ports && PORT_RANK[grant.ports] > PORT_RANK[g.ports]) g.ports = grant.ports;
    g.mdsRegister ||= grant.mdsRegister;
  }
  // The name comes from the kernel's uid through /etc/passwd, never from the request.
  const own = peer.user ? policy.users[peer.user] : undefined;
  if (own?.verbs) g.verbs = new Set(own.verbs);
  if (own?.insecureOptions) g.insecure = new Set(own.insecureOptions);
  if (own?.allowUnverified !== undefined) g.allowUnverified = own.allowUnverified;

  if (own?.caps) g.caps = new Set(own.caps);
  if (own?.seccompAllow) g.seccompAllow = new Set(own.seccompAllow);
  if (own?.hostVolumes) g.hostVolumes = new Set(own.hostVolumes);
  if (own?.networks !== undefined) g.networks = own.networks === '*' ? '*' : new Set(own.networks);
  if (own?.hostNetwork !== undefined) g.hostNetwork = own.hostNetwork;
  if (own?.ports !== undefined) g.ports = own.ports;
  if (own?.mdsRegister !== undefined) g.mdsRegister = own.mdsRegister;
  return g;
}

export function requireVerb(policy: HelperPolicy, peer: Peer, verb: Verb): Grants {
  const g = grantsFor(policy, peer);
  if (!g.verbs.has(verb)) {
    throw new HelperError('EDENIED', `user ${peer.user || peer.uid} may not use '${verb}': no group of theirs grants it in the helper policy; an administrator can add them to group ${policy.socketGroup}`);
  }
  return g;
}
