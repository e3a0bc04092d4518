// The seccomp filter of an app: the helper's default profile changed by the app's request (rkt's
// --seccomp). remove: the default profile with the named syscalls denied (errno, or the process
// killed when no errno is given, as rkt); always a tightening. retain: only the named syscalls
// keep the default profile's allow rules (argument filters included), every other allowed call is
// denied the same way, and the profile's own denials (clone3's ENOSYS, ...) stay. A named syscall
// the default profile does not allow is a loosening: only where the helper policy grants it
// (Grant "seccompAllow"), else EDENIED. The result is compiled through libseccomp as the default
// is, and cached by the digest of its canonical JSON.
import path from 'node:path';
import { canonicalJson } from '../schema/canonical-json';
import { ERRNO_NUMBERS, type AppSeccomp } from '../schema/app-security';
import type { SeccompProfile } from '../schema/seccomp';
import { SeccompProfileSchema } from '../schema/seccomp';
import type { Addon } from '../native/addon';
import { HelperError } from './errors';
import type { Grants } from './policy';
import { compileParsed } from './seccomp';

type Rule = NonNullable<SeccompProfile['syscalls']>[number];

export interface AppFilter {
  digest: string;
  bpfPath: string;
}

function denial(req: AppSeccomp): Pick<Rule, 'action' | 'errnoRet'> {
  return req.errno ? { action: 'SCMP_ACT_ERRNO', errnoRet: ERRNO_NUMBERS[req.errno] } : { action: 'SCMP_ACT_KILL_PROCESS' };
}

function withNames(rule: Rule, keep: (n: string) => boolean): Rule | null {
  const names = rule.names.filter(keep);
  return names.length > 0 ? { ...rule, names } : null;
}

/** The app's profile; throws EDENIED when it would allow what the default does not and no grant says so. */
export function appProfile(base: SeccompProfile, req: AppSeccomp, grants: Pick<Grants, 'seccompAllow'>, user = 'you'): SeccompProfile {
  const rules = base.syscalls ?? [];
  const listed = new Set(req.syscalls);
  const deny = denial(req);
  if (req.mode === 'remove') {
    const kept = rules.map((r) => withNames(r, (n) => !listed.has(n))).filter((r): r is Rule => r !== null);
    return { ...base, syscalls: [...kept, { names: [...listed], ...deny }] };
  }
  const allowedByBase = new Set(rules.filter((r) => r.action === 'SCMP_ACT_ALLOW').flatMap((r) => r.names));
  const loosen = req.syscalls.filter((n) => !allowedByBase.has(n));
  const refused = loosen.filter((n) => !grants.seccompAllow.has(n));
  if (refused.length > 0) {
    throw new HelperError('EDENIED', `helper policy does not let ${user} allow ${refused.join(', ')} (the default seccomp profile denies ${refused.length === 1 ? 'it' : 'them'}); drop ${refused.length === 1 ? 'it' : 'them'} from --seccomp, or an administrator can grant ${refused.length === 1 ? 'it' : 'them'} in helper.json ("seccompAllow")`);
  }
  const loosened = new Set(loosen);
  const kept = rules
    .map((r) => withNames(r, (n) => (r.action === 'SCMP_ACT_ALLOW' ? listed.has(n) : !loosened.has(n))))
    .filter((r): r is Rule => r !== null);
  const granted: Rule[] = loosen.length > 0 ? [{ names: loosen, action: 'SCMP_ACT_ALLOW' }] : [];
  const { defaultErrnoRet: _unused, ...rest } = base;
  return { ...rest, defaultAction: deny.action, ...(deny.errnoRet !== undefined ? { defaultErrnoRet: deny.errnoRet } : {}), syscalls: [...kept, ...granted] };
}

/** The filter the app runs under: the default's when it asks for nothing, else its own, compiled once per digest. */
export function appSeccomp(
  stateDir: string,
  base: { digest: string; bpfPath: string; profile: SeccompProfile },
  req: AppSeccomp | undefined,
  grants: Pick<Grants, 'seccompAllow'>,
  user = 'you',
  compiler?: Pick<Addon, 'compileSeccomp'>,
): AppFilter {
  if (!req) return { digest: base.digest, bpfPath: base.bpfPath };
  const profile = SeccompProfileSchema.parse(appProfile(base.profile, req, grants, user));
  const bytes = Buffer.from(canonicalJson(profile));
  let compiled;
  try {
    compiled = compileParsed(stateDir, 'of the app (--seccomp)', bytes, profile, compiler);
  } catch (e) {
    throw new HelperError('EDENIED', `${(e as Error).message}; check the syscall names given to --seccomp`);
  }
  // libseccomp skips names it does not know: a denial that silently did nothing (a misspelt name)
  // is refused. In retain mode an unknown name can only fail to be allowed, which is harmless.
  const unknown = req.mode === 'remove' ? req.syscalls.filter((n) => compiled.unknown.includes(n)) : [];
  if (unknown.length > 0) throw new HelperError('EDENIED', `--seccomp names syscalls libseccomp does not know: ${unknown.join(', ')}; check their spelling`);
  return { digest: compiled.digest, bpfPath: path.join(stateDir, 'seccomp', `${compiled.digest.slice('sha256:'.length)}.bpf`) };
}
