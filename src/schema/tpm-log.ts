// ward's TPM event log: JSON-SEQ (RFC 7464) records in the shape of the TCG Canonical Event Log's
// JSON form (CEL-JSON), as systemd's tpm2-measure.log: recnum, the PCR or NV index extended, one
// digest per bank, content_type and content. ward's content is digests and identifiers only.
//
// The digest of a record, in each bank, is H_bank(canonicalJson(content)); a PCR or NV extend
// index holds H(previous || digest) after each event, starting from all zeros. Both the helper
// (which writes the log) and the offline verifier (which replays it) use this file.
import crypto from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from './canonical-json';

/** CEL hashAlg names with their TPM algorithm ids, digest sizes and node:crypto names. */
export const HASH_ALGS = {
  sha1: { tpm: 0x0004, size: 20, node: 'sha1' },
  sha256: { tpm: 0x000b, size: 32, node: 'sha256' },
  sha384: { tpm: 0x000c, size: 48, node: 'sha384' },
  sha512: { tpm: 0x000d, size: 64, node: 'sha512' },
  sm3_256: { tpm: 0x0012, size: 32, node: 'sm3' },
  sha3_256: { tpm: 0x0027, size: 32, node: 'sha3-256' },
  sha3_384: { tpm: 0x0028, size: 48, node: 'sha3-384' },
  sha3_512: { tpm: 0x0029, size: 64, node: 'sha3-512' },
} as const;
export const HashAlg = z.enum(Object.keys(HASH_ALGS) as [keyof typeof HASH_ALGS, ...(keyof typeof HASH_ALGS)[]]);
export type HashAlg = z.infer<typeof HashAlg>;

export function hashAlgOfTpm(id: number): HashAlg | null {
  for (const [name, a] of Object.entries(HASH_ALGS)) if (a.tpm === id) return name as HashAlg;
  return null;
}

const Hex = (bytes?: number) => z.string().regex(bytes === undefined ? /^([0-9a-f]{2})+$/ : new RegExp(`^[0-9a-f]{${bytes * 2}}$`), 'must be lowercase hex');
const Sha256Ref = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex digits>');
const Time = z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'must be an ISO 8601 UTC time');
const Uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

export const EventDigest = z.strictObject({ hashAlg: HashAlg, digest: Hex() });
export type EventDigest = z.infer<typeof EventDigest>;

/** A pod about to be launched (measured right before ward-stage1 starts; DESIGN §3.7). */
export const PodStartEvent = z.strictObject({
  event_type: z.literal('pod-start'),
  time: Time,
  pod: Uuid,
  /** sha256 over the helper's own code (src/helper/self-digest.ts) and of the ward-stage1 memfd. */
  helper: Sha256Ref,
  stage1: Sha256Ref,
  image: z.strictObject({ name: z.string().max(512), id: z.string().regex(/^(sha512-[0-9a-f]{128}|sha256:[0-9a-f]{64})$/) }),
  /** The sealed tree mounted as the pod's lower layer, as the helper digested it. */
  tree: Sha256Ref,
  /** The accepted signer's fingerprint, or "unverified". */
  signer: z.string().max(128),
  /** The trust policy that accepted the signer; null until ward has trust policies. */
  trustPolicy: Sha256Ref.nullable(),
  /** sha256 of the exact launch spec bytes sent to ward-stage1, the seccomp profile digest and the id maps. */
  launchSpec: Sha256Ref,
  seccomp: Sha256Ref,
  argv: Sha256Ref,
  env: Sha256Ref,
  /** Every app of the pod, the first included (absent in events of ward before pods of several apps). */
  apps: z.array(z.strictObject({
    name: z.string().max(64),
    image: z.strictObject({ name: z.string().max(512), id: z.string().regex(/^(sha512-[0-9a-f]{128}|sha256:[0-9a-f]{64})$/) }),
    tree: Sha256Ref,
    signer: z.string().max(128),
    trustPolicy: Sha256Ref.nullable(),
    argv: Sha256Ref,
    env: Sha256Ref,
  })).max(16).optional(),
});
export type PodStartEvent = z.infer<typeof PodStartEvent>;

/** An action on a running pod (stop, stop --force, later enter), measured before the helper acts. */
export const PodActionEvent = z.strictObject({
  event_type: z.literal('pod-action'),
  time: Time,
  pod: Uuid,
  action: z.enum(['stop', 'kill', 'enter']),
  /** The caller's uid, as the kernel gave it (SO_PEERCRED). */
  uid: z.number().int().nonnegative(),
});
export type PodActionEvent = z.infer<typeof PodActionEvent>;

/** The head of the helper's hash-chained audit log: records is how many it had, head the last hash. */
export const AuditHeadEvent = z.strictObject({
  event_type: z.literal('audit-head'),
  time: Time,
  reason: z.enum(['start', 'stop', 'periodic']),
  records: z.number().int().nonnegative(),
  head: Sha256Ref,
});
export type AuditHeadEvent = z.infer<typeof AuditHeadEvent>;

/**
 * Written by the helper when it finds a writer died between extend and append: the digests are
 * those of the event that was extended (kept in the marker), its content is lost.
 */
export const WriterDiedEvent = z.strictObject({
  event_type: z.literal('writer-died'),
  time: Time,
  note: z.string().max(512),
});
export type WriterDiedEvent = z.infer<typeof WriterDiedEvent>;

export const EventContent = z.discriminatedUnion('event_type', [PodStartEvent, PodActionEvent, AuditHeadEvent, WriterDiedEvent]);
export type EventContent = z.infer<typeof EventContent>;

export const LogRecord = z
  .strictObject({
    recnum: z.number().int().nonnegative(),
    pcr: z.number().int().min(0).max(23).optional(),
    nv_index: z.number().int().min(0x01000000).max(0x01ffffff).optional(),
    digests: z.array(EventDigest).min(1).max(16),
    content_type: z.literal('ward'),
    content: EventContent,
  })
  .refine((r) => (r.pcr === undefined) !== (r.nv_index === undefined), 'a record names exactly one of pcr and nv_index');
export type LogRecord = z.infer<typeof LogRecord>;

/** The marker a writer leaves while it extends: what it is about to extend, gone once the record is appended. */
export const PendingMarker = z.strictObject({ recnum: z.number().int().nonnegative(), digests: z.array(EventDigest).min(1).max(16) });
export type PendingMarker = z.infer<typeof PendingMarker>;

const RS = '\u001e';

export function encodeRecord(rec: LogRecord): string {
  return `${RS}${JSON.stringify(rec)}\n`;
}

/**
 * Splits JSON-SEQ text into record texts. A record cut short (no final newline: a writer died
 * mid-write) is returned apart, as RFC 7464 asks parsers to report rather than use it.
 */
export function splitJsonSeq(text: string): { records: string[]; truncated: string | null } {
  if (text === '') return { records: [], truncated: null };
  if (!text.startsWith(RS)) throw new Error('not JSON-SEQ: the log does not start with a record separator (0x1e)');
  const parts = text.split(RS).slice(1);
  const last = parts[parts.length - 1]!;
  const truncated = last.endsWith('\n') ? null : last;
  const whole = truncated === null ? parts : parts.slice(0, -1);
  const cut = whole.findIndex((p) => !p.endsWith('\n'));
  if (cut >= 0) throw new Error(`record ${cut} is cut short and followed by others`);
  return { records: whole.map((p) => p.slice(0, -1)), truncated };
}

export function digestOf(alg: HashAlg, data: string | Buffer): Buffer {
  return crypto.createHash(HASH_ALGS[alg].node).update(data).digest();
}

/** The digests ward extends for an event, one per bank. */
export function eventDigests(content: EventContent, algs: readonly HashAlg[]): EventDigest[] {
  const bytes = canonicalJson(content);
  return algs.map((alg) => ({ hashAlg: alg, digest: digestOf(alg, bytes).toString('hex') }));
}

/** value' = H(value || digest), in one bank. */
export function extendValue(alg: HashAlg, value: Buffer, digest: Buffer): Buffer {
  return crypto.createHash(HASH_ALGS[alg].node).update(value).update(digest).digest();
}

export function resetValue(alg: HashAlg): Buffer {
  return Buffer.alloc(HASH_ALGS[alg].size);
}

/** Replays digests (in one bank) from the reset value. A record without that bank is an error. */
export function replay(alg: HashAlg, digests: readonly (readonly EventDigest[])[]): Buffer {
  let v = resetValue(alg);
  for (const [i, ds] of digests.entries()) {
    const d = ds.find((x) => x.hashAlg === alg);
    if (!d) throw new Error(`event ${i} has no ${alg} digest`);
    v = extendValue(alg, v, Buffer.from(d.digest, 'hex'));
  }
  return v;
}
