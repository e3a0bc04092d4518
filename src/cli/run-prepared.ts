// ward run-prepared [--detach] UUID
import type { Command } from 'commander';
import { resolveUuid } from '../pod/pods';
import { runPreparedPod } from '../pod/run';
import { globals } from './globals';

export function register(program: Command): void {
  program
    .command('run-prepared')
    .description('start a prepared pod; in the foreground ward exits with the app\'s status')
    .argument('<uuid>', 'the prepared pod (a unique prefix will do)')
    .option('--detach', 'return once the app has started; the pod runs on (stdio: /dev/null)')
    .action(async (given: string, opts: { detach?: boolean }, cmd: Command) => {
      const socket = globals(cmd).socket;
      process.exitCode = await runPreparedPod(socket, await resolveUuid(socket, given), Boolean(opts.detach));
    });
}
