// --selinux=auto|require|off for `ward run`. The helper decides what each mode may do under its
// policy; the frontend only rejects a word that is not a mode.
import { WardError } from '../schema/errors';
import type { RunSelinuxMode } from '../schema/selinux';

const MODES: readonly RunSelinuxMode[] = ['auto', 'require', 'off'];

export function parseSelinuxMode(v: string | undefined): RunSelinuxMode | undefined {
  if (v === undefined) return undefined;
  if (!(MODES as readonly string[]).includes(v)) throw new WardError('EUSAGE', `--selinux: unknown mode '${v}'; use auto, require or off`);
  return v as RunSelinuxMode;
}
