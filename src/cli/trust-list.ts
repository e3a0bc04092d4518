// ward trust list [--format=json]: the effective trusted keys (system < local < user, masks applied).
import type { Command } from 'commander';
import { parseFormat } from './format';
import { globals } from './globals';

export function register(trust: Command): void {
  trust
    .command('list')
    .description('list the trusted keys: fingerprint, prefix (or root), where the key file is')
    .option('--format <format>', 'table or json', 'table')
    .action(async (opts: { format: string }, cmd: Command) => {
      const g = globals(cmd);
      const { Keystore } = await import('../trust/keystore');
      const { describeKey, readKeyFile } = await import('../trust/pgp');
      const rows = [];
      for (const k of new Keystore(g.config).list()) {
        const d = await describeKey(await readKeyFile(k.file, k.fingerprint));
        rows.push({ fingerprint: k.fingerprint, prefix: k.scope, layer: k.layer, file: k.file, userIds: d.userIds, algorithm: d.algorithm, expires: d.expires });
      }
      if (parseFormat(opts.format) === 'json') {
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        return;
      }
      process.stdout.write('FINGERPRINT\tPREFIX\tFROM\tUSER IDS\n');
      for (const r of rows) process.stdout.write(`${r.fingerprint}\t${r.prefix}\t${r.layer}\t${r.userIds.join(', ')}\n`);
    });
}
