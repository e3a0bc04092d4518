// ward cat-manifest [--pretty-print] UUID
import type { Command } from 'commander';
import { podManifest, resolveUuid } from '../pod/pods';
import { globals } from './globals';

export function register(program: Command): void {
  program
    .command('cat-manifest')
    .description('print the appc pod manifest of one of your pods')
    .argument('<uuid>', 'the pod (a unique prefix will do)')
    .option('--pretty-print', 'indent the JSON')
    .action(async (given: string, opts: { prettyPrint?: boolean }, cmd: Command) => {
      const socket = globals(cmd).socket;
      const m = await podManifest(socket, await resolveUuid(socket, given));
      process.stdout.write(JSON.stringify(m, null, opts.prettyPrint ? 2 : undefined) + '\n');
    });
}
