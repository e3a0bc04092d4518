// ward run [pod flags] IMAGE [per-app flags] [-- ARGS...] [--- IMAGE2 ...]   (rkt's syntax)
import type { Command } from 'commander';
import { addPodEnvOptions, appsFrom, podEnvFrom, type PodEnvOpts } from '../pod/app-cli';
import { runPod } from '../pod/run';
import { parsePullPolicy } from './fetch';
import { globals, parseInsecure } from './globals';
import { parseSelinuxMode } from './selinux-flag';
import { addPodOptions, podFields, type PodFlagOpts } from '../pod/pod-flags';

export function register(program: Command): void {
  const cmd = program
    .command('run')
    .description('run images as the apps of a pod in the foreground; ward exits with the app\'s status')
    .argument('<apps...>', 'IMAGE [per-app flags] [-- ARGS...] [--- IMAGE2 ...]; an image is an ACI file, an image in the store, an appc name, docker://, oci:, oci-archive: or docker-archive:')
    .passThroughOptions()
    .option('--insecure-options <list>', 'image (fetch and run unverified; the helper policy must allow it), tls (skip TLS checks when fetching), http (allow plain http); comma-separated')
    .option('--pull-policy <policy>', 'new (use the store if present), update (always fetch), never', 'new')
    .option('--detach', 'return once the app has started (prints the pod\'s uuid); the pod runs on with /dev/null for stdio')
    .option('--selinux <mode>', 'auto (label the pod when SELinux is enabled), require (refuse to run unlabelled), off (only where the helper policy allows); default: the helper policy\'s');
  addPodEnvOptions(addPodOptions(cmd)).action(async (words: string[], opts: PodEnvOpts & PodFlagOpts & { insecureOptions?: string; pullPolicy: string; selinux?: string; detach?: boolean }, c: Command) => {
    const g = globals(c);
    const insecure = [...g.insecureOptions, ...parseInsecure(opts.insecureOptions)];
    const apps = appsFrom(words, c);
    const code = await runPod({ apps, env: podEnvFrom(opts), storeDir: g.dir, socketPath: g.socket, config: g.config, insecureOptions: insecure, pullPolicy: parsePullPolicy(opts.pullPolicy), selinux: parseSelinuxMode(opts.selinux), detach: Boolean(opts.detach), ...podFields(opts) });
    process.exitCode = code;
  });
}
