// ward stop [--force] UUID...
import type { Command } from 'commander';
import { resolveUuid, stopPod } from '../pod/pods';
import { globals } from './globals';

export function register(program: Command): void {
  program
    .command('stop')
    .description('stop running pods: SIGTERM to their apps, --force SIGKILL')
    .argument('<uuids...>', 'pods (unique prefixes will do)')
    .option('--force', 'kill at once (SIGKILL)')
    .action(async (uuids: string[], opts: { force?: boolean }, cmd: Command) => {
      const socket = globals(cmd).socket;
      for (const given of uuids) {
        const uuid = await resolveUuid(socket, given);
        await stopPod(socket, uuid, Boolean(opts.force));
        process.stdout.write(`${uuid}\n`);
      }
    });
}
