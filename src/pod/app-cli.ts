// What ward run and ward prepare share: the pod-level environment flags and the help text of the
// per-app flags, and the step from commander's words to the apps of the pod.
import type { Command } from 'commander';
import { parseApps, PER_APP_FLAGS, type AppArgs } from './app-args';
import { parseSetEnv, readEnvFile, type PodEnv } from './app-env';
import { collect } from './pod-flags';

export function addPodEnvOptions(cmd: Command): Command {
  return cmd
    .option('--inherit-env', 'give every app the environment ward runs with (it fills only names the image and --environment leave unset, as rkt)')
    .option('--set-env <NAME=VALUE>', 'set a variable in every app, over the image\'s (repeatable)', collect, [])
    .option('--set-env-file <file>', 'NAME=VALUE lines to set in every app (under --set-env)')
    .addHelpText('after', () => {
      const rows = PER_APP_FLAGS.map((f) => [`--${f.name}${f.value ? '=VALUE' : ''}`, f.help] as const);
      const width = Math.max(...rows.map(([n]) => n.length)) + 2;
      return `\nApps: IMAGE [per-app flags] [-- ARGS...] [--- IMAGE2 [per-app flags] [-- ARGS...]] ...\nPer-app flags (after their image):\n${rows.map(([n, h]) => `  ${n.padEnd(width)}${h}`).join('\n')}`;
    });
}

export interface PodEnvOpts {
  inheritEnv?: boolean;
  setEnv: string[];
  setEnvFile?: string;
}

export function podEnvFrom(opts: PodEnvOpts): PodEnv {
  return {
    ...(opts.inheritEnv ? { inherited: process.env } : {}),
    fromFile: opts.setEnvFile ? readEnvFile(opts.setEnvFile) : [],
    explicit: parseSetEnv(opts.setEnv),
  };
}

export function appsFrom(words: string[], cmd: Command): AppArgs[] {
  return parseApps(words, cmd.options.map((o) => (o.long ?? '').replace(/^--/, '')).filter((n) => n !== ''));
}
