// tpm-quote and tpm-log: the event log, and for tpm-quote an attestation of the target's value
// over the caller's nonce (TPM2_Quote of a PCR, TPM2_NV_Certify of the NV index), taken under
// the log's lock so the two match. Read-only: nothing here extends anything.
import { LOG_PIECE_CHARS, type TpmQuoteRequest } from '../../schema/tpm-quote';
import type { z } from 'zod';
import type { Connection } from '../connection';
import { HelperError } from '../errors';
import type { Helper } from '../server';

/**
 * Sends the log in pieces a frame always holds, whatever JSON escaping does to them, each once
 * the caller has taken the one before: a log of any size waits in memory a piece at a time.
 */
async function sendLog(conn: Connection, text: string): Promise<void> {
  for (let i = 0; i < text.length && !conn.isClosed; i += LOG_PIECE_CHARS) {
    conn.send({ ok: true, event: 'log', text: text.slice(i, i + LOG_PIECE_CHARS) });
    await conn.drain();
  }
}

export async function tpmQuote(helper: Helper, conn: Connection, req: z.infer<typeof TpmQuoteRequest>): Promise<string> {
  const { measurer } = helper.opts;
  if (!measurer.configured) throw new HelperError('ETPM', 'this helper measures into no TPM; an administrator can set tpm.tcti in the helper policy');
  let res;
  try {
    res = await measurer.attest(Buffer.from(req.nonce, 'hex'));
  } catch (e) {
    throw new HelperError('ETPM', `the TPM could not attest: ${(e as Error).message}`);
  }
  await sendLog(conn, res.log);
  conn.send({ ok: true, event: 'quote', ...res.attestation });
  return `ok ${res.attestation.kind}`;
}

export async function tpmLog(helper: Helper, conn: Connection): Promise<string> {
  const text = await helper.opts.measurer.readLog();
  await sendLog(conn, text);
  conn.send({ ok: true, event: 'log-end' });
  return `ok ${Buffer.byteLength(text)} bytes`;
}
