// ward gc [--grace-period=DURATION] [--expire-prepared=DURATION] [--mark-only]
import type { Command } from 'commander';
import { gcPods, parseDuration } from '../pod/pods';
import { globals } from './globals';

export function register(program: Command): void {
  program
    .command('gc')
    .description('mark exited pods as garbage and remove garbage older than the grace period (yours; members of ward-admin: all)')
    .option('--grace-period <duration>', 'how long marked pods are kept', '30m')
    .option('--expire-prepared <duration>', 'how long prepared pods are kept', '24h')
    .option('--mark-only', 'only mark exited pods; remove nothing')
    .action(async (opts: { gracePeriod: string; expirePrepared: string; markOnly?: boolean }, cmd: Command) => {
      const r = await gcPods(globals(cmd).socket, {
        gracePeriod: parseDuration('--grace-period', opts.gracePeriod),
        expirePrepared: parseDuration('--expire-prepared', opts.expirePrepared),
        markOnly: Boolean(opts.markOnly),
      });
      for (const u of r.marked) process.stdout.write(`marked ${u}\n`);
      for (const u of r.removed) process.stdout.write(`removed ${u}\n`);
    });
}
