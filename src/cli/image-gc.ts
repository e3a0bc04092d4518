// ward image gc [--grace-period=24h]
import type { Command } from 'commander';
import { collectGarbage, parseDuration } from '../image/gc';
import { storeFor } from './store-arg';

export function register(image: Command): void {
  image
    .command('gc')
    .description('remove images unused for the grace period, and unreferenced trees, blobs and leftovers')
    .option('--grace-period <duration>', 'how long since an image was last used', '24h')
    .action(async (opts: { gracePeriod: string }, cmd: Command) => {
      const r = await collectGarbage(storeFor(cmd), parseDuration(opts.gracePeriod));
      process.stdout.write(`removed ${r.images.length} images, ${r.trees.length} trees, ${r.blobs.length} blobs, ${r.tmp.length} leftovers\n`);
    });
}
