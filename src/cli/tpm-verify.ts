// ward tpm verify --ak FILE --nonce HEX [--target nv:INDEX|pcr:N] [--allow-lost] [--format table|json] FILE
// Offline: no TPM and no helper needed. Exit 0 verified, 1 refused (with the reason).
import type { Command } from 'commander';
import { DEFAULT_NV_INDEX } from '../schema/tpm-defaults';
import { parseFormat, printTable } from './format';
import { checkQuoteFile } from './quote-check';

export function register(tpm: Command): void {
  tpm
    .command('verify')
    .description('verify a quote file offline: signature, nonce, attested value, event log replay; then list the pods measured')
    .argument('<file>', 'the quote file ward tpm quote wrote')
    .requiredOption('--ak <file>', 'the attestation key you trust (PEM, or a TPM2B_PUBLIC)')
    .requiredOption('--nonce <hex>', 'the nonce you gave ward tpm quote')
    .option('--target <target>', 'where pods must be measured: nv:INDEX or pcr:N (the helper policy\'s tpm.target)', `nv:${DEFAULT_NV_INDEX}`)
    .option('--allow-lost', 'accept events whose writer died between extend and append (their content is lost)')
    .option('--format <format>', 'table or json', 'table')
    .action(async (file: string, opts: { ak: string; nonce: string; target: string; allowLost?: boolean; format: string }) => {
      const format = parseFormat(opts.format);
      const { describeTarget } = await import('../trust/attest');
      const v = await checkQuoteFile(file, opts);
      if (format === 'json') process.stdout.write(JSON.stringify(v, null, 2) + '\n');
      if (!v.ok) {
        process.stderr.write(`ward: tpm verify: not verified: ${v.reason}\n`);
        process.exitCode = 1;
        return;
      }
      for (const w of v.warnings) process.stderr.write(`ward: tpm verify: warning: ${w}\n`);
      if (format === 'json') return;
      process.stdout.write(`verified: ${v.kind} of ${describeTarget(v.target)}, ${v.records} event(s) replayed, ${v.pods.length} pod(s) measured (TPM resets ${v.clock.resetCount}, restarts ${v.clock.restartCount})\n`);
      if (v.pods.length > 0) {
        const rows = v.pods.map((p) => ({ event: p.recnum, time: p.time, pod: p.pod, image: p.image.name, 'image-id': p.image.id, tree: p.tree, signer: p.signer }));
        printTable(rows, ['event', 'time', 'pod', 'image', 'image-id', 'tree', 'signer']);
      }
    });
}
