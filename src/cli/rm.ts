// ward rm UUID...
import type { Command } from 'commander';
import { removePod, resolveUuid } from '../pod/pods';
import { globals } from './globals';

export function register(program: Command): void {
  program
    .command('rm')
    .description('remove exited or prepared pods at once (their files and SELinux pair)')
    .argument('<uuids...>', 'pods (unique prefixes will do)')
    .action(async (uuids: string[], _opts: object, cmd: Command) => {
      const socket = globals(cmd).socket;
      for (const given of uuids) {
        const uuid = await resolveUuid(socket, given);
        await removePod(socket, uuid);
        process.stdout.write(`${uuid}\n`);
      }
    });
}
