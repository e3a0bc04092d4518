// The signed payload of a simple signature ("atomic container signature",
// containers-signature(5)) and of a cosign signature ("cosign container image signature"): read
// only after the crypto has passed, and strictly: a duplicate key, or any member of "critical"
// ward does not know, rejects the signature (forward compatibility as the format requires).
import { z } from 'zod';
import { parseStrictJson } from '../schema/strict-json';

export const SIMPLE_SIGNING_TYPE = 'atomic container signature';
export const COSIGN_TYPE = 'cosign container image signature';

const Critical = (type: string) =>
  z.strictObject({
    type: z.literal(type),
    image: z.strictObject({ 'docker-manifest-digest': z.string().regex(/^sha256:[0-9a-f]{64}$|^sha512:[0-9a-f]{128}$/, 'is not a digest') }),
    identity: z.strictObject({ 'docker-reference': z.string().min(1).max(1024) }),
  });

const Payloads = {
  simple: z.strictObject({ critical: Critical(SIMPLE_SIGNING_TYPE), optional: z.record(z.string(), z.unknown()) }),
  cosign: z.strictObject({ critical: Critical(COSIGN_TYPE), optional: z.record(z.string(), z.unknown()).nullable().optional() }),
};

export interface Claim {
  manifestDigest: string;
  dockerReference: string;
}

/** The claim of an authenticated payload, or why it is refused (a one-line reason). */
export function parsePayload(kind: keyof typeof Payloads, bytes: Uint8Array): Claim | string {
  let doc: unknown;
  try {
    doc = parseStrictJson(bytes, 8);
  } catch (e) {
    return `the signed payload is not valid JSON (${(e as Error).message.replace(/^frame (is not valid JSON: )?/, '')})`;
  }
  const r = Payloads[kind].safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const where = issue.path.map(String).join('.') || 'the payload';
    const keys = (issue as { keys?: string[] }).keys;
    if (keys) return `the signed payload has unknown field ${keys.map((k) => `'${k.slice(0, 60)}'`).join(', ')} in ${where}, which ward must refuse`;
    return `the signed payload is malformed (${where}: ${issue.message})`;
  }
  return { manifestDigest: r.data.critical.image['docker-manifest-digest'], dockerReference: r.data.critical.identity['docker-reference'] };
}
