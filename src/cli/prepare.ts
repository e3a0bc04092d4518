// ward prepare [pod flags] IMAGE [per-app flags] [-- ARGS...] [--- IMAGE2 ...]
import type { Command } from 'commander';
import { addPodEnvOptions, appsFrom, podEnvFrom, type PodEnvOpts } from '../pod/app-cli';
import { preparePod } from '../pod/run';
import { parsePullPolicy } from './fetch';
import { globals, parseInsecure } from './globals';
import { parseSelinuxMode } from './selinux-flag';
import { addPodOptions, podFields, type PodFlagOpts } from '../pod/pod-flags';

export function register(program: Command): void {
  const cmd = program
    .command('prepare')
    .description('make a pod from images without starting it (start it with run-prepared); prints its uuid')
    .argument('<apps...>', 'IMAGE [per-app flags] [-- ARGS...] [--- IMAGE2 ...], as ward run takes them')
    .passThroughOptions()
    .option('--insecure-options <list>', 'image (run unverified), tls, http; comma-separated')
    .option('--pull-policy <policy>', 'new (use the store if present), update (always fetch), never', 'new')
    .option('--selinux <mode>', 'auto, require or off, as ward run');
  addPodEnvOptions(addPodOptions(cmd)).action(async (words: string[], opts: PodEnvOpts & PodFlagOpts & { insecureOptions?: string; pullPolicy: string; selinux?: string }, c: Command) => {
    const g = globals(c);
    const insecure = [...g.insecureOptions, ...parseInsecure(opts.insecureOptions)];
    const apps = appsFrom(words, c);
    const uuid = await preparePod({ apps, env: podEnvFrom(opts), storeDir: g.dir, socketPath: g.socket, config: g.config, insecureOptions: insecure, pullPolicy: parsePullPolicy(opts.pullPolicy), selinux: parseSelinuxMode(opts.selinux), ...podFields(opts) });
    process.stdout.write(`${uuid}\n`);
  });
}
