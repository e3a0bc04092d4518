// ward image verify: re-hash blobs and rendered trees; exit 251 if anything changed.
import type { Command } from 'commander';
import { verifyImages } from '../image/verify';
import { EXIT } from './exit-codes';
import { parseFormat } from './format';
import { storeFor } from './store-arg';

export function register(image: Command): void {
  image
    .command('verify')
    .description('re-hash every blob and rendered tree and report any change')
    .option('--format <format>', 'table or json', 'table')
    .action(async (opts: { format: string }, cmd: Command) => {
      const results = await verifyImages(storeFor(cmd));
      if (parseFormat(opts.format) === 'json') process.stdout.write(JSON.stringify(results, null, 2) + '\n');
      else for (const r of results) process.stdout.write(r.ok ? `ok       ${r.id} ${r.name}\n` : `CHANGED  ${r.id} ${r.name}: ${r.problems.join('; ')}\n`);
      if (results.some((r) => !r.ok)) process.exitCode = EXIT.image;
    });
}
