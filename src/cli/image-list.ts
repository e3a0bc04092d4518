// ward image list [--format=table|json] [--fields=a,b] [--no-legend]
import type { Command } from 'commander';
import { IMAGE_FIELDS, listImages, type ImageField } from '../image/catalog';
import { WardError } from '../schema/errors';
import { parseFormat, printTable } from './format';
import { storeFor } from './store-arg';

export function register(image: Command): void {
  image
    .command('list')
    .description('list the images in the store')
    .option('--format <format>', 'table or json (stable: see README)', 'table')
    .option('--fields <fields>', `comma-separated, of: ${IMAGE_FIELDS.join(',')}`, 'id,name,importTime,lastUsed,size')
    .option('--no-legend', 'no header line in the table')
    .action((opts: { format: string; fields: string; legend: boolean }, cmd: Command) => {
      const rows = listImages(storeFor(cmd));
      if (parseFormat(opts.format) === 'json') {
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        return;
      }
      const fields = opts.fields.split(',').map((f) => f.trim());
      const bad = fields.find((f) => !(IMAGE_FIELDS as readonly string[]).includes(f));
      if (bad) throw new WardError('EUSAGE', `--fields: unknown field '${bad}'; known: ${IMAGE_FIELDS.join(', ')}`);
      printTable(rows as unknown as Record<string, unknown>[], fields as ImageField[], opts.legend);
    });
}
