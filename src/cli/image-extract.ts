// ward image extract|render [--rootfs-only] IMAGE DIR (render = extract: ward images have no
// appc dependencies to merge).
import type { Command } from 'commander';
import { WardError } from '../image/errors';
import { extractImage } from '../image/export';
import { storeFor } from './store-arg';

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
        const rec = store.find(ref);
        if (!rec) throw new WardError('EUSAGE', `no image '${ref}' in the store; see ward image list`);
        await extractImage(store, rec, dir, Boolean(opts.rootfsOnly));
      });
  }
}
