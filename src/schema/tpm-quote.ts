// Attestation formats: the helper's tpm-quote and tpm-log verbs, and the quote bundle that
// `ward tpm quote` writes and `ward tpm verify` reads.
import { z } from 'zod';
import { TpmTarget } from './tpm-policy';

export const MIN_NONCE_BYTES = 8;
export const MAX_NONCE_BYTES = 64; // TPM2B_DATA holds at most one TPMU_HA

export const NonceHex = z
  .string()
  .regex(/^([0-9a-f]{2})+$/, 'must be lowercase hex')
  .refine((s) => s.length >= MIN_NONCE_BYTES * 2 && s.length <= MAX_NONCE_BYTES * 2, `must be ${MIN_NONCE_BYTES}..${MAX_NONCE_BYTES} bytes`);
const Base64 = z.string().max(65536).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');

/** Requests. tpm-quote: quote (PCR target) or NV certification (NV target) over the caller's nonce, with the event log. */
export const TpmQuoteRequest = z.strictObject({ verb: z.literal('tpm-quote'), nonce: NonceHex });
export const TpmLogRequest = z.strictObject({ verb: z.literal('tpm-log') });

/** Response frames: the log comes first in pieces (frames are bounded), then the end frame. */
// In characters: JSON escaping can make a piece at most 6 times longer, still inside a frame.
export const LOG_PIECE_CHARS = 128 * 1024;
export const TpmLogPiece = z.strictObject({ ok: z.literal(true), event: z.literal('log'), text: z.string().max(LOG_PIECE_CHARS) });
export const TpmLogEnd = z.strictObject({ ok: z.literal(true), event: z.literal('log-end') });

export const Attestation = z.strictObject({
  kind: z.enum(['quote', 'nv-certify']),
  target: TpmTarget,
  /** TPMS_ATTEST as the TPM signed it. */
  attest: Base64,
  /** TPMT_SIGNATURE. */
  signature: Base64,
  /** The attestation key's TPM2B_PUBLIC. */
  akPublic: Base64,
  /** nv-certify only: the index's TPMS_NV_PUBLIC, whose name the attestation carries. */
  nvPublic: Base64.optional(),
});
export type Attestation = z.infer<typeof Attestation>;
export const TpmQuoteEnd = Attestation.extend({ ok: z.literal(true), event: z.literal('quote') });

/** The file `ward tpm quote` writes: the attestation, the nonce it answers, and the event log text. */
export const QuoteBundle = Attestation.extend({
  format: z.literal('ward-tpm-quote/1'),
  nonce: NonceHex,
  log: z.string(),
});
export type QuoteBundle = z.infer<typeof QuoteBundle>;
