// ward run [pod flags] IMAGE [per-app flags] [-- ARGS...] [--- IMAGE2 ...]   (rkt's syntax)
import type { Command } from 'commander';
import { addPodEnvOptions, appsFrom, podEnvFrom, type PodEnvOpts } from '../pod/app-cli';
import { runPod } from '../pod/run';
import { parsePullPolicy } from './fetch';
import { globals, parseInsecure } from './globals';
import { parseSelinuxMode } from './selinux-flag';
import { collect, MOUNT_HELP, VOLUME_HELP } from '../pod/pod-flags';

export function register(program: Command): void {
  const cmd = program
    .command('run')
    .description('run images as the apps of a pod in the foreground; ward exits with the app\'s status')
    .argument('<apps...>', 'IMAGE [per-app flags] [-- ARGS...] [--- IMAGE2 ...]; an image is an ACI file, an image in the store, an appc name, docker://, oci:, oci-archive: or docker-archive:')
    .passThroughOptions()
    .option('--hostname <name>', 'the pod\'s hostname (default ward-<uuid>)')
    .option('--insecure-options <list>', 'image (fetch and run unverified; the helper policy must allow it), tls (skip TLS checks when fetching), http (allow plain http); comma-separated')
    .option('--pull-policy <policy>', 'new (use the store if present), update (always fetch), never', 'new')
    .option('--detach', 'return once the app has started (prints the pod\'s uuid); the pod runs on with /dev/null for stdio')

    .option('--volume <spec>', VOLUME_HELP, collect).option('--mount <spec>', MOUNT_HELP, collect)
    .option('--mds-register', 'register the pod with the metadata service (ward metadata-service) and give its apps AC_METADATA_URL')
    .option('--uuid-file-save <file>', 'write the pod\'s uuid to this file once it has started')
    .option('--net <nets>', 'none, host, default, default-restricted or named networks, comma-separated (default: the helper\'s default network where policy grants it, else none)', collect)
    .option('--port <NAME:[HOSTIP:]HOSTPORT>', 'forward a host port to the image\'s port NAME (repeatable)', collect)
    .option('--dns <ip>', 'a name server for the pod\'s /etc/resolv.conf (repeatable)', collect)
    .option('--dns-search <domain>', 'a search domain for /etc/resolv.conf (repeatable)', collect)
    .option('--dns-opt <option>', 'a resolv.conf option, e.g. ndots:2 (repeatable)', collect)
    .option('--memory <quantity>', 'the app\'s memory limit: 512M, 1G, 256Mi (rkt\'s quantities)')
    .option('--cpu <quantity>', 'the app\'s CPU limit: cores (1, 0.5) or thousandths (500m)')
    .option('--selinux <mode>', 'auto (label the pod when SELinux is enabled), require (refuse to run unlabelled), off (only where the helper policy allows); default: the helper policy\'s');
  addPodEnvOptions(cmd).action(async (words: string[], opts: PodEnvOpts & { hostname?: string; insecureOptions?: string; pullPolicy: string; selinux?: string; detach?: boolean; uuidFileSave?: string; volume?: string[]; mount?: string[]; net?: string[]; port?: string[]; dns?: string[]; dnsSearch?: string[]; dnsOpt?: string[]; memory?: string; cpu?: string; mdsRegister?: boolean }, c: Command) => {
    const g = globals(c);
    const insecure = [...g.insecureOptions, ...parseInsecure(opts.insecureOptions)];
    const apps = appsFrom(words, c);
    const code = await runPod({ apps, env: podEnvFrom(opts), storeDir: g.dir, socketPath: g.socket, config: g.config, insecureOptions: insecure, hostname: opts.hostname, pullPolicy: parsePullPolicy(opts.pullPolicy), selinux: parseSelinuxMode(opts.selinux), detach: Boolean(opts.detach), uuidFileSave: opts.uuidFileSave, volumes: opts.volume, mounts: opts.mount, net: opts.net, ports: opts.port, dns: opts.dns, dnsSearch: opts.dnsSearch, dnsOpt: opts.dnsOpt, memory: opts.memory, cpu: opts.cpu, mdsRegister: Boolean(opts.mdsRegister) });
    process.exitCode = code;
  });
}
