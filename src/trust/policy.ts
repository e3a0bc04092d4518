// The image signature policy: policy.json from the user's config dir if it exists, else the
// local dir's, else the system dir's (the user's file replaces the others, it does not merge, as
// in containers); none at all refuses every OCI/Docker image (fail closed). The scope that names
// the image most specifically picks the requirements, and every one of them must pass.
import fs from 'node:fs';
import path from 'node:path';
import { WardError } from '../schema/errors';
import { SignaturePolicy, type PolicyTransport, type Requirement } from '../schema/signature-policy';
import { parseStrictJson } from '../schema/strict-json';
import type { ConfigDirs } from './dirs';
import { fileDigest } from './policy-digest';
import { mostSpecific } from './scopes';

export interface LoadedPolicy {
  file: string;
  policy: SignaturePolicy;
  /** sha256: of the file's bytes, recorded with the verdict (and measured with the pod). */
  digest: string;
}

const MAX_POLICY_BYTES = 1 << 20;

/**
 * The policy file in force: user, else local, else system. One that exists but cannot be looked
 * at (EACCES on its dir) stops the search: falling through to a more permissive file would not
 * be failing closed.
 */
export function policyPath(dirs: ConfigDirs): string | null {
  for (const d of [dirs.user, dirs.local, dirs.system]) {
    const f = path.join(d, 'policy.json');
    try {
      fs.statSync(f);
      return f;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw new WardError('ESIGNATURE', `cannot look at the signature policy ${f} (${code ?? (e as Error).message}), so no OCI or Docker image is accepted; make it readable or remove it`);
    }
  }
  return null;
}

function bad(file: string, why: string): WardError {
  return new WardError('EUSAGE', `signature policy ${file}: ${why}; the whole file is refused, fix it (see "Image signature policy" in ward's README)`);
}

function where(p: PropertyKey[]): string {
  let out = '';
  for (const k of p) out += typeof k === 'number' ? `[${k}]` : /^[A-Za-z_][\w-]*$/.test(String(k)) ? `${out ? '.' : ''}${String(k)}` : `[${JSON.stringify(String(k))}]`;
  return out || 'the top level';
}

export function parsePolicy(file: string, bytes: Buffer): SignaturePolicy {
  let doc: unknown;
  try {
    doc = parseStrictJson(bytes, 16);
  } catch (e) {
    throw bad(file, `not valid JSON (${(e as Error).message.replace(/^frame (is not valid JSON: )?/, '')})`);
  }
  const r = SignaturePolicy.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const keys = (issue as { keys?: string[] }).keys;
    if (issue.code === 'unrecognized_keys' && keys) throw bad(file, `unknown field ${keys.map((k) => `'${k.slice(0, 80)}'`).join(', ')} in ${where(issue.path)}`);
    if (issue.code === 'invalid_union' || (issue.code === 'invalid_value' && issue.path[issue.path.length - 1] === 'type')) {
      throw bad(file, `${where(issue.path)}: unknown requirement or identity type (ward knows insecureAcceptAnything, reject, signedBy, sigstoreSigned; matchRepoDigestOrExact, matchExact, matchRepository, exactReference, exactRepository)`);
    }
    // A record key's refusal (a bad scope) carries its reason one level down.
    const inner = issue.code === 'invalid_key' ? (issue as { issues?: { message: string }[] }).issues?.[0]?.message : undefined;
    throw bad(file, `${where(issue.path)}: ${inner ? `the scope ${inner}` : issue.message}`);
  }
  return r.data;
}

/** Reads the policy in force; a missing policy refuses (fail closed). */
export function loadPolicy(dirs: ConfigDirs): LoadedPolicy {
  const file = policyPath(dirs);
  if (!file) {
    throw new WardError(
      'ESIGNATURE',
      `no image signature policy: none of ${path.join(dirs.user, 'policy.json')}, ${path.join(dirs.local, 'policy.json')}, ${path.join(dirs.system, 'policy.json')} exists, so no OCI or Docker image is accepted; write one (see "Image signature policy" in ward's README) or pass --insecure-options=image to fetch this image unverified`,
    );
  }
  const st = fs.statSync(file);
  if (!st.isFile() || st.size > MAX_POLICY_BYTES) throw bad(file, `not a regular file of at most ${MAX_POLICY_BYTES} bytes`);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new WardError('ESIGNATURE', `cannot read the signature policy ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}), so no OCI or Docker image is accepted; make it readable or remove it`);
  }
  return { file, policy: parsePolicy(file, bytes), digest: fileDigest(bytes) };
}

export interface Selected {
  /** How the scope is shown: transports.docker["host/repo"], or default. */
  scope: string;
  requirements: Requirement[];
}

/** The requirements of the most specific scope naming the image (candidates most specific first). */
export function selectScope(policy: SignaturePolicy, transport: PolicyTransport, candidates: string[]): Selected {
  const found = mostSpecific(policy.transports?.[transport] as Record<string, Requirement[]> | undefined, candidates);
  if (found) return { scope: `transports.${transport}[${JSON.stringify(found.scope)}]`, requirements: found.value };
  return { scope: 'default', requirements: policy.default };
}
