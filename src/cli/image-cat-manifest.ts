// ward image cat-manifest IMAGE
import type { Command } from 'commander';
import { findImage, storeFor } from './store-arg';

export function register(image: Command): void {
  image
    .command('cat-manifest')
    .description('print the appc image manifest of an image')
    .argument('<image>')
    .option('--pretty-print', 'indent the JSON', true)
    .action((ref: string, opts: { prettyPrint: boolean }, cmd: Command) => {
      const store = storeFor(cmd);
      const rec = findImage(store, ref);
      process.stdout.write(JSON.stringify(rec.manifest, null, opts.prettyPrint ? 2 : 0) + '\n');
    });
}
