// The offline verifier of a ward quote bundle (`ward tpm verify`), after Keylime's order:
// the signature with the attestation key the verifier trusts, the TPM's magic and the attestation
// type, the verifier's nonce in extraData, the attested register and its value; then the event
// log: every record well-formed, numbered in order, for that register, its content matching its
// digest, and the replay from the reset value reaching the attested value. Only then does it
// list what was measured. Any failure is one reason, in one line.
import crypto from 'node:crypto';
import { canonicalJson } from '../schema/canonical-json';
import { digestOf, extendValue, HASH_ALGS, hashAlgOfTpm, LogRecord, resetValue, splitJsonSeq, type AuditHeadEvent, type HashAlg, type PodStartEvent } from '../schema/tpm-log';
import type { TpmTarget } from '../schema/tpm-policy';
import { QuoteBundle } from '../schema/tpm-quote';
import {
  parseAttest,
  parseNvPublic,
  parsePublic,
  parseSignature,
  TPM_GENERATED_VALUE,
  TPM_NT_EXTEND,
  TPM_ST_ATTEST_NV,
  TPM_ST_ATTEST_QUOTE,
  TPMA_OBJECT,
  verifySignature,
  type Attest,
} from './tpm2-wire';

export interface MeasuredPod {
  recnum: number;
  time: string;
  pod: string;
  image: { name: string; id: string };
  tree: string;
  signer: string;
  trustPolicy: string | null;
}

export type Verdict =
  | {
      ok: true;
      kind: 'quote' | 'nv-certify';
      target: TpmTarget;
      /** Records the attestation covers. */
      records: number;
      pods: MeasuredPod[];
      auditHeads: (AuditHeadEvent & { recnum: number })[];
      /** TPM reset and restart counts at the time of the attestation. */
      clock: { resetCount: number; restartCount: number };
      warnings: string[];
    }
  | { ok: false; reason: string };

export class AkError extends Error {}

/**
 * The attestation key the verifier trusts: a PEM public key, or a TPM2B_PUBLIC (tpm2-tools
 * .pub, as the helper sends it), which must then be a restricted signing key fixed to its TPM.
 */
export function loadAk(bytes: Buffer): crypto.KeyObject {
  const text = bytes.toString('utf8');
  if (text.includes('-----BEGIN')) {
    try {
      return crypto.createPublicKey(text);
    } catch (e) {
      throw new AkError(`not a usable PEM public key: ${(e as Error).message}`);
    }
  }
  let pub;
  try {
    pub = parsePublic(bytes);
  } catch (e) {
    throw new AkError(`neither a PEM public key nor a TPM2B_PUBLIC: ${(e as Error).message}`);
  }
  const need = TPMA_OBJECT.restricted | TPMA_OBJECT.sign | TPMA_OBJECT.fixedTPM;
  if ((pub.attributes & need) !== need || pub.attributes & TPMA_OBJECT.decrypt) {
    throw new AkError('the key is not a restricted signing key fixed to its TPM, so what it signs need not come from a TPM');
  }
  return pub.key;
}

/** Parses a target as the verifier names it: "nv:0x01800ace" or "pcr:11". */
export function parseTargetArg(s: string): TpmTarget | null {
  const nv = /^nv:(0x01[0-9a-f]{6})$/i.exec(s);
  if (nv) return { nv: nv[1]!.toLowerCase() };
  const pcr = /^pcr:([0-9]|1[0-9]|2[0-3])$/.exec(s);
  if (pcr) return { pcr: Number(pcr[1]) };
  return null;
}

export function describeTarget(t: TpmTarget): string {
  return 'nv' in t ? `NV index ${t.nv}` : `PCR ${t.pcr}`;
}

class Refused extends Error {}
const refuse = (reason: string): never => {
  throw new Refused(reason);
};

export interface VerifyOptions {
  /** The register the verifier expects pods measured into (an attacker's own register proves nothing). */
  target: TpmTarget;
  /** Accept writer-died records (events extended whose content was lost) instead of refusing. */
  allowLost?: boolean;
}

export function verifyQuote(bundleJson: unknown, ak: crypto.KeyObject, nonceHex: string, opts: VerifyOptions): Verdict {
  try {
    return check(bundleJson, ak, nonceHex.toLowerCase(), opts);
  } catch (e) {
    if (e instanceof Refused) return { ok: false, reason: e.message };
    throw e;
  }
}

function check(bundleJson: unknown, ak: crypto.KeyObject, nonce: string, opts: VerifyOptions): Verdict {
  const parsed = QuoteBundle.safeParse(bundleJson);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return refuse(`not a ward quote file (${issue?.path.join('.') || 'top'}: ${issue?.message})`);
  }
  const b = parsed.data;
  const attestBytes = Buffer.from(b.attest, 'base64');
  let sig;
  try {
    sig = parseSignature(Buffer.from(b.signature, 'base64'));
  } catch (e) {
    return refuse(`the signature is malformed: ${(e as Error).message}`);
  }
  if (!verifySignature(ak, attestBytes, sig)) {
    return refuse('the signature does not verify with the attestation key given: the quote comes from another TPM or key, or was altered');
  }
  let a: Attest;
  try {
    a = parseAttest(attestBytes);
  } catch (e) {
    return refuse(`the signed attestation is malformed: ${(e as Error).message}`);
  }
  if (a.magic !== TPM_GENERATED_VALUE) return refuse(`the attestation's magic is 0x${a.magic.toString(16)}, not TPM_GENERATED (0xff544347): the TPM did not produce it`);
  const got = a.extraData.toString('hex');
  if (got !== nonce) return refuse(`the attestation answers nonce ${got || '(none)'}, not ${nonce}: it is stale or replayed`);

  const { alg, value } = attestedRegister(a, b, opts.target, sig.hash);
  const warnings: string[] = [];
  const replayed = replayLog(b.log, opts.target, alg, value, opts.allowLost === true, warnings);
  return {
    ok: true,
    kind: b.kind,
    target: opts.target,
    records: replayed.records,
    pods: replayed.pods,
    auditHeads: replayed.auditHeads,
    clock: { resetCount: a.clock.resetCount, restartCount: a.clock.restartCount },
    warnings,
  };
}

/** What the signed attestation says the expected register holds, in which bank (a PCR quote gives only a digest of it). */
function attestedRegister(a: Attest, b: QuoteBundle, target: TpmTarget, signHash: HashAlg): { alg: HashAlg; value: Buffer | { pcrDigest: Buffer; hash: HashAlg } } {
  if ('pcr' in target) {
    if (a.type !== TPM_ST_ATTEST_QUOTE || !a.quote) return refuse(`the attestation is of type 0x${a.type.toString(16)}, not a quote (0x8018) as ${describeTarget(target)} needs`);
    const sel = a.quote.pcrSelect.filter((s) => s.pcrs.length > 0);
    if (sel.length !== 1 || sel[0]!.pcrs.length !== 1 || sel[0]!.pcrs[0] !== target.pcr) {
      return refuse(`the quote covers ${sel.map((s) => `PCR ${s.pcrs.join(',')} (bank 0x${s.hash.toString(16)})`).join('; ') || 'no PCR'}, not ${describeTarget(target)} alone`);
    }
    const alg = hashAlgOfTpm(sel[0]!.hash);
    if (!alg) return refuse(`the quoted bank 0x${sel[0]!.hash.toString(16)} is not one ward knows`);
    // pcrDigest is the digest, in the signing scheme's hash, of the selected PCR values.
    return { alg, value: { pcrDigest: a.quote.pcrDigest, hash: signHash } };
  }
  if (a.type !== TPM_ST_ATTEST_NV || !a.nv) return refuse(`the attestation is of type 0x${a.type.toString(16)}, not an NV certification (0x8014) as ${describeTarget(target)} needs`);
  if (!b.nvPublic) return refuse('the quote file lacks the NV index public area (nvPublic) that the certification names');
  let nv;
  try {
    nv = parseNvPublic(Buffer.from(b.nvPublic, 'base64'));
  } catch (e) {
    return refuse(`the NV public area is malformed: ${(e as Error).message}`);
  }
  if (!nv.name.equals(a.nv.indexName)) return refuse('the NV public area in the file is not the one the TPM certified (its name differs)');
  if (nv.nvIndex !== parseInt(target.nv, 16)) return refuse(`the certified NV index is 0x${nv.nvIndex.toString(16).padStart(8, '0')}, not ${target.nv}`);
  // Only an extend index can hold a value nobody could write at will.
  if (((nv.attributes >>> 4) & 0xf) !== TPM_NT_EXTEND) return refuse(`NV index ${target.nv} is not of type extend: its contents could have been written at will`);
  const alg = hashAlgOfTpm(nv.nameAlg)!;
  if (a.nv.offset !== 0 || a.nv.nvContents.length !== HASH_ALGS[alg].size) return refuse('the certification covers part of the NV index, not its whole value');
  return { alg, value: a.nv.nvContents };
}

function matches(running: Buffer, value: Buffer | { pcrDigest: Buffer; hash: HashAlg }): boolean {
  return Buffer.isBuffer(value) ? running.equals(value) : digestOf(value.hash, running).equals(value.pcrDigest);
}

function replayLog(
  text: string,
  target: TpmTarget,
  alg: HashAlg,
  value: Buffer | { pcrDigest: Buffer; hash: HashAlg },
  allowLost: boolean,
  warnings: string[],
): { records: number; pods: MeasuredPod[]; auditHeads: (AuditHeadEvent & { recnum: number })[] } {
  let split;
  try {
    split = splitJsonSeq(text);
  } catch (e) {
    return refuse(`the event log is not JSON-SEQ: ${(e as Error).message}`);
  }
  if (split.truncated !== null) return refuse('the event log ends in a record cut short');
  const records: LogRecord[] = [];
  for (const [i, raw] of split.records.entries()) {
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return refuse(`event log record ${i} is not JSON`);
    }
    const r = LogRecord.safeParse(json);
    if (!r.success) return refuse(`event log record ${i} is not a ward record (${r.error.issues[0]?.path.join('.') || 'top'}: ${r.error.issues[0]?.message})`);
    records.push(r.data);
  }
  let running = resetValue(alg);
  // Keylime's rule: the log may run ahead of the attestation, never behind or beside it.
  let covered = matches(running, value) ? 0 : -1;
  const lost: number[] = [];
  for (const [i, rec] of records.entries()) {
    if (rec.recnum !== i) return refuse(`event log record at position ${i} has recnum ${rec.recnum}: records were removed, inserted or reordered`);
    const where = rec.pcr !== undefined ? { pcr: rec.pcr } : { nv: `0x${rec.nv_index!.toString(16).padStart(8, '0')}` };
    if (describeTarget(where) !== describeTarget(target)) return refuse(`event log record ${i} was measured into ${describeTarget(where)}, not ${describeTarget(target)}`);
    const d = rec.digests.find((x) => x.hashAlg === alg);
    if (!d) return refuse(`event log record ${i} has no ${alg} digest`);
    if (rec.content.event_type === 'writer-died') {
      lost.push(i);
    } else if (digestOf(alg, canonicalJson(rec.content)).toString('hex') !== d.digest) {
      return refuse(`event log record ${i} was edited: its content does not match its digest`);
    }
    running = extendValue(alg, running, Buffer.from(d.digest, 'hex'));
    if (matches(running, value)) covered = i + 1;
  }
  if (covered < 0) return refuse(`the event log does not replay to the attested value of ${describeTarget(target)}: records were edited, removed, inserted or reordered, or another log belongs to this TPM`);
  if (covered < records.length) warnings.push(`${records.length - covered} record(s) after record ${covered - 1} are not covered by this attestation`);
  const attested = records.slice(0, covered);
  const lostCovered = lost.filter((i) => i < covered);
  if (lostCovered.length > 0) {
    const what = `a writer died between extend and append at record(s) ${lostCovered.join(', ')}: the TPM holds events whose content is lost`;
    if (!allowLost) return refuse(`${what} (pass --allow-lost to accept them)`);
    warnings.push(what);
  }
  const pods: MeasuredPod[] = [];
  const auditHeads: (AuditHeadEvent & { recnum: number })[] = [];
  for (const rec of attested) {
    const c = rec.content;
    if (c.event_type === 'pod-start') pods.push(podOf(rec.recnum, c));
    else if (c.event_type === 'audit-head') auditHeads.push({ ...c, recnum: rec.recnum });
  }
  return { records: covered, pods, auditHeads };
}

function podOf(recnum: number, c: PodStartEvent): MeasuredPod {
  return { recnum, time: c.time, pod: c.pod, image: c.image, tree: c.tree, signer: c.signer, trustPolicy: c.trustPolicy };
}
