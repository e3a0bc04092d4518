// The frontend's side of the helper's tpm-quote and tpm-log verbs: the event log arrives in
// pieces (frames are bounded), then one end frame. Every frame is checked with its schema.
import { WardError } from '../schema/errors';
import type { Request } from '../schema/protocol';
import { TpmLogEnd, TpmLogPiece, TpmQuoteEnd, type QuoteBundle } from '../schema/tpm-quote';
import { HelperClient } from './client';

/** Far above any log ward writes, low enough that a misbehaving helper cannot exhaust memory. */
const MAX_LOG_CHARS = 256 * 1024 * 1024;

async function collect(socketPath: string, req: Request): Promise<{ log: string; end: Record<string, unknown> }> {
  const client = new HelperClient(socketPath);
  try {
    client.send(req);
    const pieces: string[] = [];
    let total = 0;
    for (;;) {
      const r = await client.receive();
      if (!r.ok) throw new WardError(r.code, r.message);
      if (r.event !== 'log') return { log: pieces.join(''), end: r };
      const piece = TpmLogPiece.safeParse(r);
      if (!piece.success) throw new WardError('EHELPER', 'the ward helper sent a malformed piece of the event log');
      total += piece.data.text.length;
      if (total > MAX_LOG_CHARS) throw new WardError('EHELPER', `the ward helper's event log exceeds ${MAX_LOG_CHARS} characters`);
      pieces.push(piece.data.text);
    }
  } finally {
    client.close();
  }
}

/** Asks the helper for a quote (or NV certification) over nonce; returns the file `ward tpm quote` writes. */
export async function requestQuote(socketPath: string, nonce: string): Promise<QuoteBundle> {
  const { log, end } = await collect(socketPath, { verb: 'tpm-quote', nonce });
  const q = TpmQuoteEnd.safeParse(end);
  if (!q.success) throw new WardError('EHELPER', 'the ward helper sent a malformed quote');
  const { ok: _ok, event: _event, ...attestation } = q.data;
  return { format: 'ward-tpm-quote/1', ...attestation, nonce, log };
}

/** The helper's event log as it stands (not attested: `ward tpm quote` for that). */
export async function requestLog(socketPath: string): Promise<string> {
  const { log, end } = await collect(socketPath, { verb: 'tpm-log' });
  if (!TpmLogEnd.safeParse(end).success) throw new WardError('EHELPER', 'the ward helper ended the event log with a malformed frame');
  return log;
}
