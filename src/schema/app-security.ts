// Per-app capabilities and seccomp requests (AppSpec.caps, AppSpec.seccomp): closed enums of
// Linux capability and errno names, so a request names nothing the helper cannot map itself.
import { z } from 'zod';
import { APP_NAME, CAP_NUMBERS, ERRNO_NUMBERS, SYSCALL_NAME, type CapName as CapNameT, type ErrnoName as ErrnoNameT } from './app-names';
export { CAP_NUMBERS, ERRNO_NUMBERS } from './app-names';

export type CapName = CapNameT;
export const CapName = z.enum(Object.keys(CAP_NUMBERS) as [CapNameT, ...CapNameT[]]);

export type ErrnoName = ErrnoNameT;
export const ErrnoName = z.enum(Object.keys(ERRNO_NUMBERS) as [ErrnoNameT, ...ErrnoNameT[]]);

export const SyscallName = z.string().regex(SYSCALL_NAME, 'must be a syscall name (lower-case letters, digits, underscore; at most 64)');

/** rkt's --caps-retain (exactly these) or --caps-remove (the default set without these). */
export const AppCaps = z.union([
  z.strictObject({ retain: z.array(CapName).max(64) }),
  z.strictObject({ remove: z.array(CapName).max(64) }),
]);
export type AppCaps = z.infer<typeof AppCaps>;

/**
 * rkt's --seccomp: retain (only these syscalls) or remove (the default profile without these);
 * errno: what a denied call returns (absent: the process is killed, as rkt). Groups (@...) are
 * expanded by the frontend; the helper sees syscall names only.
 */
export const AppSeccomp = z.strictObject({
  mode: z.enum(['retain', 'remove']),
  errno: ErrnoName.optional(),
  syscalls: z.array(SyscallName).min(1).max(1024),
});
export type AppSeccomp = z.infer<typeof AppSeccomp>;

/** An appc app name (ACName). */
export const AppName = z.string().min(1).max(64).regex(APP_NAME, 'must be an app name (ACName: lower-case letters, digits and single dashes)');
