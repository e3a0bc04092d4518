// ward tpm log [--format table|json] [FILE]: the event log, from the helper or from a file (a quote
// file or a saved log). Shown as it is: only ward tpm verify says whether the TPM vouches for it.
import fs from 'node:fs';
import type { Command } from 'commander';
import { WardError } from '../schema/errors';
import type { LogRecord } from '../schema/tpm-log';
import { parseFormat, printTable } from './format';
import { globals } from './globals';

function logText(file: string): string {
  const text = fs.readFileSync(file, 'utf8');
  if (text.startsWith('{')) {
    const log = (JSON.parse(text) as { log?: unknown }).log;
    if (typeof log !== 'string') throw new WardError('EUSAGE', `${file} is a JSON file without an event log ("log")`);
    return log;
  }
  return text;
}

function details(rec: LogRecord): string {
  const c = rec.content;
  switch (c.event_type) {
    case 'pod-start':
      return `pod ${c.pod} image ${c.image.name} ${c.image.id} tree ${c.tree} signer ${c.signer}`;
    case 'pod-action':
      return `pod ${c.pod} ${c.action} by uid ${c.uid}`;
    case 'audit-head':
      return `${c.reason}: ${c.records} audit record(s), head ${c.head}`;
    case 'writer-died':
      return c.note;
  }
}

export function register(tpm: Command): void {
  tpm
    .command('log')
    .description('print the TPM event log (from the helper, or from a quote file or saved log)')
    .argument('[file]', 'a quote file or a JSON-SEQ event log; default: ask the helper')
    .option('--format <format>', 'table or json', 'table')
    .action(async (file: string | undefined, opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      // Loaded here, not at start: they pull in zod.
      const { requestLog } = await import('../pod/tpm-client');
      const { LogRecord, splitJsonSeq } = await import('../schema/tpm-log');
      const text = file ? logText(file) : await requestLog(globals(cmd).socket);
      let split;
      try {
        split = splitJsonSeq(text);
      } catch (e) {
        throw new WardError('EUSAGE', `${file ?? 'the helper\'s event log'}: ${(e as Error).message}`);
      }
      const raw = split.records.map((r) => {
        try {
          return JSON.parse(r) as unknown;
        } catch {
          return { invalid: r };
        }
      });
      if (format === 'json') {
        process.stdout.write(JSON.stringify(raw, null, 2) + '\n');
        return;
      }
      const rows = raw.map((r, i) => {
        const rec = LogRecord.safeParse(r);
        if (!rec.success) return { recnum: String(i), target: '?', event: '(invalid)', time: '', details: '' };
        const d = rec.data;
        const target = d.pcr !== undefined ? `pcr:${d.pcr}` : `nv:0x${d.nv_index!.toString(16).padStart(8, '0')}`;
        return { recnum: d.recnum, target, event: d.content.event_type, time: d.content.time, details: details(d) };
      });
      printTable(rows, ['recnum', 'target', 'event', 'time', 'details']);
      if (split.truncated !== null) process.stderr.write('ward: tpm log: the last record is cut short (a writer died while appending it)\n');
    });
}
