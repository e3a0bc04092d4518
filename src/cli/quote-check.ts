// Checking a quote file offline with the key and nonce the user gives: shared by `ward tpm
// verify` and `ward audit verify --quote`, so both read their arguments and refuse alike.
import fs from 'node:fs';
import { WardError } from '../schema/errors';

export async function checkQuoteFile(file: string, a: { ak: string; nonce: string; target: string; allowLost?: boolean }) {
  // Loaded here, not at start: the verifier pulls in zod.
  const { AkError, loadAk, parseTargetArg, verifyQuote } = await import('../trust/attest');
  const target = parseTargetArg(a.target);
  if (!target) throw new WardError('EUSAGE', `--target ${a.target}: give nv:0x01xxxxxx or pcr:0..23`);
  let ak;
  try {
    ak = loadAk(fs.readFileSync(a.ak));
  } catch (e) {
    throw new WardError('EUSAGE', `--ak ${a.ak}: ${e instanceof AkError ? e.message : (e as Error).message}`);
  }
  let bundle: unknown;
  try {
    bundle = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    bundle = { unreadable: (e as Error).message };
  }
  return verifyQuote(bundle, ak, a.nonce, { target, allowLost: a.allowLost === true });
}
