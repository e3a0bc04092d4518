// ward tpm <subcommand>: the group; each subcommand lives in its own file.
import type { Command } from 'commander';
import { register as log } from './tpm-log';
import { register as quote } from './tpm-quote';
import { register as verify } from './tpm-verify';

export function register(program: Command): void {
  const tpm = program.command('tpm').description('TPM measurement: quotes, their offline verification, the event log');
  for (const sub of [quote, verify, log]) sub(tpm);
}
