// ward fetch IMAGE...: into the store (downloaded, verified, rendered); prints each image id.
import type { Command } from 'commander';
import { fetchImage, type PullPolicy } from '../image/fetch';
import { WardError } from '../schema/errors';
import { Store } from '../image/store';
import { globals, parseInsecure } from './globals';
import { progressFor } from './progress';

export function register(program: Command): void {
  program
    .command('fetch')
    .description('fetch images into the store and print their ids')
    .argument('<image...>', 'ACI file, docker://, oci:, oci-archive: or docker-archive: reference')
    .option('--insecure-options <list>', 'image (fetch ACIs without verifying their signatures), tls, http; comma-separated')
    .option('--pull-policy <policy>', 'new (use the store if present), update (always fetch), never', 'new')
    .action(async (images: string[], opts: { pullPolicy: string; insecureOptions?: string }, cmd: Command) => {
      const g0 = globals(cmd);
      const g = { ...g0, insecureOptions: [...new Set([...g0.insecureOptions, ...parseInsecure(opts.insecureOptions)])] };
      const store = new Store(g.dir);
      store.init();
      const policy = parsePullPolicy(opts.pullPolicy);
      for (const ref of images) {
        const rec = await fetchImage(store, ref, { pullPolicy: policy, insecure: new Set(g.insecureOptions), signer: 'unverified', config: g.config, progress: progressFor(process.stderr) });
        if (rec.kind === 'aci' && rec.signer === 'unverified' && !g.insecureOptions.includes('image')) {
          throw new WardError('ESIGNATURE', `image ${ref} is in the store unverified; fetch it from its file or URL with its signature, or pass --insecure-options=image`);
        }
        process.stdout.write(`${rec.id}\n`);
      }
    });
}

export function parsePullPolicy(p: string): PullPolicy {
  if (p === 'new' || p === 'update' || p === 'never') return p;
  const { WardError } = require('../schema/errors') as typeof import('../schema/errors');
  throw new WardError('EUSAGE', `--pull-policy=${p}: use new, update or never`);
}
