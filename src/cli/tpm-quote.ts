// ward tpm quote --nonce HEX [--out FILE] [--ak-out FILE]
import fs from 'node:fs';
import type { Command } from 'commander';
import { WardError } from '../schema/errors';
import { globals } from './globals';

export function register(tpm: Command): void {
  tpm
    .command('quote')
    .description('have the helper\'s TPM attest its measurements over your nonce; writes the quote, the attestation key and the event log')
    .requiredOption('--nonce <hex>', '8 to 64 random bytes in hex, chosen by whoever verifies')
    .option('--out <file>', 'write the quote file here (default: standard output)')
    .option('--ak-out <file>', 'also write the attestation key\'s public part here (PEM), to pin for ward tpm verify --ak')
    .action(async (opts: { nonce: string; out?: string; akOut?: string }, cmd: Command) => {
      // Loaded here, not at start: they pull in zod, which every other command can do without.
      const { requestQuote } = await import('../pod/tpm-client');
      const { NonceHex } = await import('../schema/tpm-quote');
      const { parsePublic } = await import('../trust/tpm2-wire');
      const nonce = opts.nonce.toLowerCase();
      if (!NonceHex.safeParse(nonce).success) throw new WardError('EUSAGE', '--nonce: give 8 to 64 bytes as hex digits (e.g. from: openssl rand -hex 32)');
      const bundle = await requestQuote(globals(cmd).socket, nonce);
      const text = JSON.stringify(bundle, null, 2) + '\n';
      if (opts.out) fs.writeFileSync(opts.out, text, { mode: 0o644 });
      else process.stdout.write(text);
      if (opts.akOut) {
        const pem = parsePublic(Buffer.from(bundle.akPublic, 'base64')).key.export({ type: 'spki', format: 'pem' });
        fs.writeFileSync(opts.akOut, pem, { mode: 0o644 });
      }
    });
}
