// One record of the helper's hash-chained audit log (JSON lines). hash = sha256 over the
// previous record's hash and this record's canonical JSON without the hash field.
import { z } from 'zod';

export const AuditRecord = z.strictObject({
  seq: z.number().int().nonnegative(),
  time: z.string(),
  uid: z.number().int(),
  gid: z.number().int(),
  pid: z.number().int(),
  verb: z.string(),
  argsDigest: z.string(),
  decision: z.enum(['allow', 'deny']),
  result: z.string(),
  prev: z.string(),
  hash: z.string(),
});
export type AuditRecord = z.infer<typeof AuditRecord>;
