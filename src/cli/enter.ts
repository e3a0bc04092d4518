// ward enter [--app=NAME] UUID [CMD...]
import type { Command } from 'commander';
import { enterPod } from '../pod/enter';
import { resolveUuid } from '../pod/pods';
import { globals } from './globals';

export function register(program: Command): void {
  program
    .command('enter')
    .description('run a command (default /bin/sh) inside a running pod, confined as its app; ward exits with its status')
    .argument('<uuid>', 'the pod (a unique prefix will do)')
    .argument('[cmd...]', 'the command and its arguments, after --')
    .option('--app <name>', 'the app whose identity and confinement the command takes (default: the first)')
    .action(async (given: string, cmd: string[], opts: { app?: string }, command: Command) => {
      const socket = globals(command).socket;
      process.exitCode = await enterPod(socket, await resolveUuid(socket, given), opts.app, cmd);
    });
}
