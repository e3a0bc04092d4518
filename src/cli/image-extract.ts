// ward image extract|render [--rootfs-only] IMAGE DIR (render = extract: ward images have no
// appc dependencies to merge).
import type { Command } from 'commander';
import { findImage, storeFor } from './store-arg';

export function register(image: Command): void {
  for (const name of ['extract', 'render']) {
    image
      .command(name)
      .description(`${name} an image into DIR (manifest and rootfs/, or with --rootfs-only the rootfs alone), owned by you`)
      .argument('<image>')
      .argument('<dir>')
      .option('--rootfs-only', 'only the root filesystem')
      .action(async (ref: string, dir: string, opts: { rootfsOnly?: boolean }, cmd: Command) => {
        const store = storeFor(cmd);
        const { extractImage } = await import('../image/export'); // tar-stream stays off the other commands' start-up
        await extractImage(store, findImage(store, ref), dir, Boolean(opts.rootfsOnly));
      });
  }
}
