// ward list [--format=table|json] [--no-legend] [--full]
import type { Command } from 'commander';
import { listPods } from '../pod/pods';
import { parseFormat, printTable } from './format';
import { globals } from './globals';

export function register(program: Command): void {
  program
    .command('list')
    .description('list your pods (members of ward-admin: every pod)')
    .option('--format <format>', 'table or json', 'table')
    .option('--no-legend', 'no header line in the table')
    .option('--full', 'whole uuids in the table')
    .action(async (opts: { format: string; legend: boolean; full?: boolean }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const pods = await listPods(globals(cmd).socket);
      if (format === 'json') {
        process.stdout.write(JSON.stringify(pods, null, 2) + '\n');
        return;
      }
      const rows = pods.map((p) => ({
        uuid: opts.full ? p.uuid : p.uuid.slice(0, 8),
        app: p.apps.map((a) => a.name).join(','),
        'image name': p.image,
        state: p.state,
        created: p.created,
        started: p.started ?? '',
        networks: (p.networks ?? []).map((n) => `${n.network}:ip4=${n.address.split('/')[0]}`).join(','),
      }));
      printTable(rows, ['uuid', 'app', 'image name', 'state', 'created', 'started', 'networks'], opts.legend);
    });
}
