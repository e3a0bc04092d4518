// ward prepare [--insecure-options=image] [--hostname NAME] [--uuid-file-save FILE] IMAGE [-- ARGS...]
import type { Command } from 'commander';
import { preparePod } from '../pod/run';
import { parsePullPolicy } from './fetch';
import { globals, parseInsecure } from './globals';
import { parseSelinuxMode } from './selinux-flag';

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
    .option('--mds-register', 'register the pod with the metadata service (ward metadata-service) and give its apps AC_METADATA_URL')
    .option('--uuid-file-save <file>', 'write the pod\'s uuid to this file')
    .action(async (image: string, args: string[], opts: { hostname?: string; insecureOptions?: string; pullPolicy: string; selinux?: string; uuidFileSave?: string; mdsRegister?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const insecure = [...g.insecureOptions, ...parseInsecure(opts.insecureOptions)];
      const uuid = await preparePod({ image, args, storeDir: g.dir, socketPath: g.socket, config: g.config, insecureOptions: insecure, hostname: opts.hostname, pullPolicy: parsePullPolicy(opts.pullPolicy), selinux: parseSelinuxMode(opts.selinux), uuidFileSave: opts.uuidFileSave, mdsRegister: Boolean(opts.mdsRegister) });
      process.stdout.write(`${uuid}\n`);
    });
}
