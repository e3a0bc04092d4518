// CNI (containernetworking/cni SPEC.md, 1.0.0): the network configurations the helper runs plugins
// from, and what the plugins answer. The configurations come from the host's administrator
// (net.d) or are built in; plugin-specific fields pass through, but the fields the helper acts on
// are checked: a plugin's type is a file name in the CNI path, never a path.
import { z } from 'zod';

/** A network's name: also a file name under the IPAM data dir and part of iptables comments. */
export const NetworkName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, "_", "." or "-", starting with a letter or digit');

/** The built-in networks and the special modes of --net. */
export const SPECIAL_NETWORKS = ['none', 'host'] as const;

export const PluginConf = z.looseObject({
  type: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be a plugin name (lowercase letters, digits, "_" or "-"), not a path'),
  capabilities: z.record(z.string(), z.boolean()).optional(),
});
export type PluginConf = z.infer<typeof PluginConf>;

/** A .conflist; a single-plugin .conf is read as a list of one. */
export const NetworkConfList = z.looseObject({
  cniVersion: z.string().regex(/^\d+\.\d+\.\d+$/),
  name: NetworkName,
  disableCheck: z.boolean().optional(),
  plugins: z.array(PluginConf).min(1).max(16),
});
export type NetworkConfList = z.infer<typeof NetworkConfList>;

export const NetworkConf = PluginConf.extend({
  cniVersion: z.string().regex(/^\d+\.\d+\.\d+$/),
  name: NetworkName,
});

const Cidr = z.string().max(64);
export const CniResult = z.looseObject({
  cniVersion: z.string(),
  interfaces: z.array(z.looseObject({ name: z.string().max(64), mac: z.string().max(64).optional(), sandbox: z.string().max(4096).optional() })).max(64).optional(),
  ips: z.array(z.looseObject({ address: Cidr, gateway: z.string().max(64).optional(), interface: z.number().int().optional() })).max(64).optional(),
  routes: z.array(z.looseObject({ dst: Cidr, gw: z.string().max(64).optional() })).max(256).optional(),
  dns: z.looseObject({
    nameservers: z.array(z.string().max(64)).max(16).optional(),
    domain: z.string().max(256).optional(),
    search: z.array(z.string().max(256)).max(16).optional(),
    options: z.array(z.string().max(256)).max(16).optional(),
  }).optional(),
});
export type CniResult = z.infer<typeof CniResult>;

export const CniError = z.looseObject({ code: z.number().int(), msg: z.string(), details: z.string().optional() });

/** A forwarded port (--port NAME:[HOSTIP:]HOSTPORT, resolved against the app's ports). */
export const PortMapping = z.strictObject({
  hostPort: z.number().int().min(1).max(65535),
  containerPort: z.number().int().min(1).max(65535),
  protocol: z.enum(['tcp', 'udp']),
  hostIP: z.union([z.ipv4(), z.literal('')]).default(''),
});
export type PortMapping = z.infer<typeof PortMapping>;

/** What the helper keeps in the pod's dir to undo an attachment, even after a crash. */
export const Attachment = z.strictObject({
  network: NetworkName,
  ifName: z.string().regex(/^eth\d{1,2}$/),
  conf: NetworkConfList,
  /** The result after each plugin that succeeded, in order; DEL runs over these in reverse. */
  results: z.array(CniResult),
  ports: z.array(PortMapping),
});
export type Attachment = z.infer<typeof Attachment>;
