// ward image rm IMAGE...
import type { Command } from 'commander';
import { removeImages } from '../image/gc';
import { storeFor } from './store-arg';

export function register(image: Command): void {
  image
    .command('rm')
    .description('remove images (by id, id prefix or name) and what only they used')
    .argument('<image...>')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const r = await removeImages(storeFor(cmd), refs);
      for (const id of r.images) process.stdout.write(`removed ${id}\n`);
    });
}
