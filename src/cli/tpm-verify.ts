// ward tpm verify --ak FILE --nonce HEX [--target nv:INDEX|pcr:N] [--allow-lost] [--format table|json] FILE
// Offline: no TPM and no helper needed. Exit 0 verified, 1 refused (with the reason).
import fs from 'node:fs';
import type { Command } from 'commander';
import { WardError } from '../image/errors';
import { DEFAULT_NV_INDEX } from '../schema/tpm-defaults';
import { parseFormat, printTable } from './format';

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
      // Loaded here, not at start: the verifier pulls in zod.
      const { AkError, describeTarget, loadAk, parseTargetArg, verifyQuote } = await import('../trust/attest');
      const target = parseTargetArg(opts.target);
      if (!target) throw new WardError('EUSAGE', `--target ${opts.target}: give nv:0x01xxxxxx or pcr:0..23`);
      let ak;
      try {
        ak = loadAk(fs.readFileSync(opts.ak));
      } catch (e) {
        throw new WardError('EUSAGE', `--ak ${opts.ak}: ${e instanceof AkError ? e.message : (e as Error).message}`);
      }
      let bundle: unknown;
      try {
        bundle = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch (e) {
        bundle = { unreadable: (e as Error).message };
      }
      const v = verifyQuote(bundle, ak, opts.nonce, { target, allowLost: opts.allowLost === true });
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
