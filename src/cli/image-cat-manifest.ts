// ward image cat-manifest IMAGE
import type { Command } from 'commander';
import { WardError } from '../image/errors';
import { storeFor } from './store-arg';

export function register(image: Command): void {
  image
    .command('cat-manifest')
    .description('print the appc image manifest of an image')
    .argument('<image>')
    .option('--pretty-print', 'indent the JSON', true)
    .action((ref: string, opts: { prettyPrint: boolean }, cmd: Command) => {
      const rec = storeFor(cmd).find(ref);
      if (!rec) throw new WardError('EUSAGE', `no image '${ref}' in the store; see ward image list`);
      process.stdout.write(JSON.stringify(rec.manifest, null, opts.prettyPrint ? 2 : 0) + '\n');
    });
}
