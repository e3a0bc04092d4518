// ward fetch IMAGE...: into the store (downloaded, verified, rendered); prints each image id.
import type { Command } from 'commander';
import { fetchImage, type PullPolicy } from '../image/fetch';
import { Store } from '../image/store';
import { globals } from './globals';
import { progressFor } from './progress';

export function register(program: Command): void {
  program
    .command('fetch')
    .description('fetch images into the store and print their ids')
    .argument('<image...>', 'ACI file, docker://, oci:, oci-archive: or docker-archive: reference')
    .option('--pull-policy <policy>', 'new (use the store if present), update (always fetch), never', 'new')
    .action(async (images: string[], opts: { pullPolicy: string }, cmd: Command) => {
      const g = globals(cmd);
      const store = new Store(g.dir);
      store.init();
      const policy = parsePullPolicy(opts.pullPolicy);
      for (const ref of images) {
        const rec = await fetchImage(store, ref, { pullPolicy: policy, insecure: new Set(g.insecureOptions), signer: 'unverified', config: g.config, progress: progressFor(process.stderr) });
        process.stdout.write(`${rec.id}\n`);
      }
    });
}

export function parsePullPolicy(p: string): PullPolicy {
  if (p === 'new' || p === 'update' || p === 'never') return p;
  const { WardError } = require('../image/errors') as typeof import('../image/errors');
  throw new WardError('EUSAGE', `--pull-policy=${p}: use new, update or never`);
}
