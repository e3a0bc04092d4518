// ward image export IMAGE FILE [--overwrite]
import type { Command } from 'commander';
import { findImage, storeFor } from './store-arg';

export function register(image: Command): void {
  image
    .command('export')
    .description('write an image to FILE as an ACI')
    .argument('<image>')
    .argument('<file>')
    .option('--overwrite', 'replace FILE if it exists')
    .action(async (ref: string, file: string, opts: { overwrite?: boolean }, cmd: Command) => {
      const store = storeFor(cmd);
      const { exportImage } = await import('../image/export'); // tar-stream stays off the other commands' start-up
      await exportImage(store, findImage(store, ref), file, Boolean(opts.overwrite));
    });
}
