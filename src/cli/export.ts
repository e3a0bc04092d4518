// ward export [--overwrite] UUID FILE
import type { Command } from 'commander';
import { resolveUuid } from '../pod/pods';
import { globals } from './globals';

export function register(program: Command): void {
  program
    .command('export')
    .description('write an exited pod\'s root filesystem as an ACI')
    .argument('<uuid>', 'the pod (a unique prefix will do)')
    .argument('<file>', 'the ACI to write')
    .option('--overwrite', 'replace FILE if it exists')
    .action(async (given: string, file: string, opts: { overwrite?: boolean }, cmd: Command) => {
      const socket = globals(cmd).socket;
      const { exportPod } = await import('../pod/export'); // the tar code, only for this command
      await exportPod(socket, await resolveUuid(socket, given), file, Boolean(opts.overwrite));
    });
}
