// ward prepare [--insecure-options=image] [--hostname NAME] [--uuid-file-save FILE] IMAGE [-- ARGS...]
import type { Command } from 'commander';
import { preparePod } from '../pod/run';
import { parsePullPolicy } from './fetch';
import { globals, parseInsecure } from './globals';
import { parseSelinuxMode } from './selinux-flag';
import { collect } from '../pod/net-args';

export function register(program: Command): void {
  program
    .command('prepare')
    .description('make a pod from an image without starting it (start it with run-prepared); prints its uuid')
    .argument('<image>', 'an image as ward run takes it')
    .argument('[args...]', 'arguments for the app, after --')
    .option('--hostname <name>', 'the pod\'s hostname (default ward-<uuid>)')
    .option('--insecure-options <list>', 'image (run unverified), tls, http; comma-separated')
    .option('--pull-policy <policy>', 'new (use the store if present), update (always fetch), never', 'new')
    .option('--selinux <mode>', 'auto, require or off, as ward run')
    .option('--uuid-file-save <file>', 'write the pod\'s uuid to this file')
    .option('--net <nets>', 'none, host, default, default-restricted or named networks, comma-separated (default: the helper\'s default network where policy grants it, else none)', collect)
    .option('--port <NAME:[HOSTIP:]HOSTPORT>', 'forward a host port to the image\'s port NAME (repeatable)', collect)
    .option('--dns <ip>', 'a name server for the pod\'s /etc/resolv.conf (repeatable)', collect)
    .option('--dns-search <domain>', 'a search domain for /etc/resolv.conf (repeatable)', collect)
    .option('--dns-opt <option>', 'a resolv.conf option, e.g. ndots:2 (repeatable)', collect)
    .option('--memory <quantity>', 'the app\'s memory limit: 512M, 1G, 256Mi (rkt\'s quantities)')
    .option('--cpu <quantity>', 'the app\'s CPU limit: cores (1, 0.5) or thousandths (500m)')
    .action(async (image: string, args: string[], opts: { hostname?: string; insecureOptions?: string; pullPolicy: string; selinux?: string; uuidFileSave?: string; net?: string[]; port?: string[]; dns?: string[]; dnsSearch?: string[]; dnsOpt?: string[]; memory?: string; cpu?: string }, cmd: Command) => {
      const g = globals(cmd);
      const insecure = [...g.insecureOptions, ...parseInsecure(opts.insecureOptions)];
      const uuid = await preparePod({ image, args, storeDir: g.dir, socketPath: g.socket, config: g.config, insecureOptions: insecure, hostname: opts.hostname, pullPolicy: parsePullPolicy(opts.pullPolicy), selinux: parseSelinuxMode(opts.selinux), uuidFileSave: opts.uuidFileSave, net: opts.net, ports: opts.port, dns: opts.dns, dnsSearch: opts.dnsSearch, dnsOpt: opts.dnsOpt, memory: opts.memory, cpu: opts.cpu });
      process.stdout.write(`${uuid}\n`);
    });
}
