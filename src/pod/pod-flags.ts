// The pod-level flags ward run and ward prepare share, apart from their parsers (volume-args.ts,
// net-args.ts) so that registering them loads no schema: zod costs every ward run ~40 ms.
import type { Command } from 'commander';

/** commander's collector for repeatable flags. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export const VOLUME_HELP = 'a pod volume: NAME,kind=host,source=/PATH[,readOnly=true][,recursive=false][,selinuxRelabel=shared|private] (shared = :z, private = :Z; host paths only where the helper policy allows) or NAME,kind=empty[,mode=0755][,uid=N][,gid=N][,readOnly=true]; repeatable';
export const MOUNT_HELP = 'mount a volume into every app: volume=NAME,target=/PATH (default: the image\'s mount point of that name; one app\'s own --mount goes after its image); repeatable';

/** What commander collects for the flags addPodOptions registers. */
export interface PodFlagOpts {
  hostname?: string;
  uuidFileSave?: string;
  volume?: string[];
  mount?: string[];
  net?: string[];
  port?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOpt?: string[];
  memory?: string;
  cpu?: string;
  mdsRegister?: boolean;
}

export function addPodOptions(cmd: Command): Command {
  return cmd
    .option('--hostname <name>', 'the pod\'s hostname (default ward-<uuid>)')
    .option('--uuid-file-save <file>', 'write the pod\'s uuid to this file (ward run: once the pod has started)')
    .option('--volume <spec>', VOLUME_HELP, collect)
    .option('--mount <spec>', MOUNT_HELP, collect)
    .option('--mds-register', 'register the pod with the metadata service (ward metadata-service) and give its apps AC_METADATA_URL')
    .option('--net <nets>', 'none, host, default, default-restricted or named networks, comma-separated (default: the helper\'s default network where policy grants it, else none)', collect)
    .option('--port <NAME:[HOSTIP:]HOSTPORT>', 'forward a host port to the port NAME of an app\'s image (repeatable)', collect)
    .option('--dns <ip>', 'a name server for the pod\'s /etc/resolv.conf (repeatable)', collect)
    .option('--dns-search <domain>', 'a search domain for /etc/resolv.conf (repeatable)', collect)
    .option('--dns-opt <option>', 'a resolv.conf option, e.g. ndots:2 (repeatable)', collect)
    .option('--memory <quantity>', 'every app\'s memory limit: 512M, 1G, 256Mi (rkt\'s quantities; one app\'s own --memory goes after its image)')
    .option('--cpu <quantity>', 'every app\'s CPU limit: cores (1, 0.5) or thousandths (500m; one app\'s own --cpu goes after its image)');
}

/**
 * The run options those flags give (src/pod/run.ts RunOptions): volumes and mounts as given
 * (volume-args.ts parses them), the network's (net-args.ts), the limits (isolator-args.ts).
 */
export interface PodFields {
  hostname: string | undefined;
  /** Write the pod's uuid here once it is known. */
  uuidFileSave: string | undefined;
  volumes: string[] | undefined;
  mounts: string[] | undefined;
  net: string[] | undefined;
  ports: string[] | undefined;
  dns: string[] | undefined;
  dnsSearch: string[] | undefined;
  dnsOpt: string[] | undefined;
  memory: string | undefined;
  cpu: string | undefined;
  mdsRegister: boolean;
}

export function podFields(o: PodFlagOpts): PodFields {
  return {
    hostname: o.hostname, uuidFileSave: o.uuidFileSave, volumes: o.volume, mounts: o.mount, net: o.net, ports: o.port,
    dns: o.dns, dnsSearch: o.dnsSearch, dnsOpt: o.dnsOpt, memory: o.memory, cpu: o.cpu, mdsRegister: Boolean(o.mdsRegister),
  };
}
