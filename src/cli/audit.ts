// ward audit verify FILE [--quote QFILE --ak AK --nonce HEX [--target T] [--allow-lost]]
// Offline check of a copy of the helper's audit log (STATE/audit.log): the hash chain, and with a
// quote file, the audit heads the TPM anchored. Exit 0 intact, 1 not (with the reason).
import fs from 'node:fs';
import type { Command } from 'commander';
import { WardError } from '../schema/errors';
import { DEFAULT_NV_INDEX } from '../schema/tpm-defaults';
import type { AuditHeadEvent } from '../schema/tpm-log';
import { checkQuoteFile } from './quote-check';

interface Opts {
  quote?: string;
  ak?: string;
  nonce?: string;
  target: string;
  allowLost?: boolean;
}

type Anchors = (AuditHeadEvent & { recnum: number })[] | { refused: string };

async function anchorsFrom(opts: Opts): Promise<Anchors> {
  if (!opts.quote) return [];
  if (!opts.ak || !opts.nonce) throw new WardError('EUSAGE', '--quote needs --ak and --nonce, as for ward tpm verify');
  const v = await checkQuoteFile(opts.quote, { ak: opts.ak, nonce: opts.nonce, target: opts.target, allowLost: opts.allowLost });
  if (!v.ok) return { refused: `the quote does not verify: ${v.reason}` };
  return v.auditHeads;
}

export function register(program: Command): void {
  const audit = program.command('audit').description('the helper\'s hash-chained audit log');
  audit
    .command('verify')
    .description('check a copy of the audit log offline: edited, removed, inserted or reordered records; with --quote, records cut from its end')
    .argument('<file>', 'a copy of the helper\'s audit.log')
    .option('--quote <file>', 'a quote file (ward tpm quote) whose event log anchors the audit head')
    .option('--ak <file>', 'the attestation key you trust, for --quote')
    .option('--nonce <hex>', 'the nonce of --quote')
    .option('--target <target>', 'for --quote: nv:INDEX or pcr:N', `nv:${DEFAULT_NV_INDEX}`)
    .option('--allow-lost', 'for --quote: accept events whose content was lost')
    .action(async (file: string, opts: Opts) => {
      const { verifyAudit } = await import('../trust/audit');
      const anchors = await anchorsFrom(opts);
      if ('refused' in anchors) {
        process.stderr.write(`ward: audit verify: not verified: ${anchors.refused}\n`);
        process.exitCode = 1;
        return;
      }
      let text;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (e) {
        throw new WardError('EUSAGE', `cannot read ${file}: ${(e as Error).message}`);
      }
      const v = verifyAudit(text, anchors);
      if (!v.ok) {
        process.stderr.write(`ward: audit verify: not verified: ${v.reason}\n`);
        process.exitCode = 1;
        return;
      }
      const anchored = v.anchorsChecked > 0 ? `, ${v.anchorsChecked} TPM anchor(s) match` : ' (no TPM anchors checked: records cut from its end would not show; pass --quote)';
      process.stdout.write(`verified: ${v.records} record(s), head ${v.head}${anchored}\n`);
    });
}
