// ward run [--insecure-options=image] [--hostname NAME] [--detach] [--uuid-file-save FILE] IMAGE [-- ARGS...]
import type { Command } from 'commander';
import { runPod } from '../pod/run';
import { parsePullPolicy } from './fetch';
import { globals, parseInsecure } from './globals';
import { parseSelinuxMode } from './selinux-flag';

export function register(program: Command): void {
  program
    .command('run')
    .description('run an image as a pod in the foreground; ward exits with the app\'s status')
    .argument('<image>', 'an ACI file, an image in the store, an appc name, docker://, oci:, oci-archive: or docker-archive:')
    .argument('[args...]', 'arguments for the app, after --')
    .option('--hostname <name>', 'the pod\'s hostname (default ward-<uuid>)')
    .option('--insecure-options <list>', 'image (fetch and run unverified; the helper policy must allow it), tls (skip TLS checks when fetching), http (allow plain http); comma-separated')
    .option('--pull-policy <policy>', 'new (use the store if present), update (always fetch), never', 'new')
    .option('--detach', 'return once the app has started (prints the pod\'s uuid); the pod runs on with /dev/null for stdio')
    .option('--mds-register', 'register the pod with the metadata service (ward metadata-service) and give its apps AC_METADATA_URL')
    .option('--uuid-file-save <file>', 'write the pod\'s uuid to this file once it has started')
    .option('--selinux <mode>', 'auto (label the pod when SELinux is enabled), require (refuse to run unlabelled), off (only where the helper policy allows); default: the helper policy\'s')
    .action(async (image: string, args: string[], opts: { hostname?: string; insecureOptions?: string; pullPolicy: string; selinux?: string; detach?: boolean; uuidFileSave?: string; mdsRegister?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const insecure = [...g.insecureOptions, ...parseInsecure(opts.insecureOptions)];
      const code = await runPod({ image, args, storeDir: g.dir, socketPath: g.socket, config: g.config, insecureOptions: insecure, hostname: opts.hostname, pullPolicy: parsePullPolicy(opts.pullPolicy), selinux: parseSelinuxMode(opts.selinux), detach: Boolean(opts.detach), uuidFileSave: opts.uuidFileSave, mdsRegister: Boolean(opts.mdsRegister) });
      process.exitCode = code;
    });
}
