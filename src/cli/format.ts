// Output formats shared by the listing commands: a table for people, JSON for programs.
import { WardError } from '../schema/errors';

export type Format = 'table' | 'json';

export function parseFormat(f: string | undefined): Format {
  if (f === undefined || f === 'table') return 'table';
  if (f === 'json') return 'json';
  throw new WardError('EUSAGE', `--format=${f}: use table or json`);
}

export function printTable(rows: Record<string, unknown>[], fields: readonly string[], header = true): void {
  const cells = rows.map((r) => fields.map((f) => String(r[f] ?? '')));
  const widths = fields.map((f, i) => Math.max(f.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  ') + '\n';
  if (header) process.stdout.write(line(fields.map((f) => f.toUpperCase())));
  for (const c of cells) process.stdout.write(line(c));
}
