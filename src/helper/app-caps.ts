// The capability set of an app: appc's default set, changed by the app's request (rkt's
// --caps-retain: exactly these; --caps-remove: the default set without these). Retaining a
// capability outside the default set is allowed only where the helper policy grants it (Grant
// "caps"); removing is always allowed.
import { CAP_NUMBERS } from '../schema/app-security';
import type { AppSpec } from '../schema/protocol';
import { APPC_DEFAULT_CAPS } from './defaults';
import { HelperError } from './errors';
import type { Grants } from './policy';

/** The capability numbers the app runs with, sorted; throws EDENIED for an ungranted addition. */
export function appCaps(spec: Pick<AppSpec, 'caps'>, grants: Pick<Grants, 'caps'>, user = 'you'): number[] {
  const defaults = Object.keys(APPC_DEFAULT_CAPS);
  let names: string[];
  if (!spec.caps) names = defaults;
  else if ('remove' in spec.caps) {
    const removed = new Set<string>(spec.caps.remove);
    names = defaults.filter((c) => !removed.has(c));
  } else {
    const extra = spec.caps.retain.filter((c) => !defaults.includes(c) && !grants.caps.has(c));
    if (extra.length > 0) {
      throw new HelperError('EDENIED', `helper policy does not let ${user} retain ${extra.join(', ')} (beyond appc's default capabilities); an administrator can grant them in helper.json ("caps" of a group or user)`);
    }
    names = [...spec.caps.retain];
  }
  return [...new Set(names.map((c) => CAP_NUMBERS[c as keyof typeof CAP_NUMBERS]))].sort((a, b) => a - b);
}

/**
 * The grants an app's own request was started under: ward enter confines a command exactly as
 * the app, whoever enters (an admin need not hold the owner's grants; the record is the helper's).
 */
export function grantedAtStart(spec: Pick<AppSpec, 'caps' | 'seccomp'>): Pick<Grants, 'caps' | 'seccompAllow'> {
  return {
    caps: new Set(spec.caps && 'retain' in spec.caps ? spec.caps.retain : []),
    seccompAllow: new Set(spec.seccomp?.mode === 'retain' ? spec.seccomp.syscalls : []),
  };
}
