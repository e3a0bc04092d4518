// ward image export IMAGE FILE [--overwrite]
import type { Command } from 'commander';
import { WardError } from '../image/errors';
import { exportImage } from '../image/export';
import { storeFor } from './store-arg';

export function register(image: Command): void {
  image
    .command('export')
    .description('write an image to FILE as an ACI')
    .argument('<image>')
    .argument('<file>')
    .option('--overwrite', 'replace FILE if it exists')
    .action(async (ref: string, file: string, opts: { overwrite?: boolean }, cmd: Command) => {
      const store = storeFor(cmd);
      const rec = store.find(ref);
      if (!rec) throw new WardError('EUSAGE', `no image '${ref}' in the store; see ward image list`);
      await exportImage(store, rec, file, Boolean(opts.overwrite));
    });
}
