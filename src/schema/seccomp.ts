// The OCI runtime-spec `linux.seccomp` object (config-linux.md#seccomp), strictly: unknown fields
// are rejected. ward supports the subset it can enforce itself; `flags`, `listenerPath` and
// `listenerMetadata` (user notification) are not accepted, nor is SCMP_ACT_NOTIFY.
//
// toProgram() maps a validated profile to the native addon's SeccompProgram.
import { z } from 'zod';
import type { SeccompArg, SeccompProgram, SeccompRule } from '../native/addon';

/** EPERM: the OCI default for both defaultErrnoRet and a rule's errnoRet. */
const EPERM = 1;
/** The kernel clamps SECCOMP_RET_ERRNO data to MAX_ERRNO. */
const MAX_ERRNO = 4095;

export const SECCOMP_ACTIONS = [
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_LOG',
  'SCMP_ACT_TRACE',
] as const;

export const SECCOMP_ARCHES = [
  'SCMP_ARCH_NATIVE',
  'SCMP_ARCH_X86',
  'SCMP_ARCH_X86_64',
  'SCMP_ARCH_X32',
  'SCMP_ARCH_ARM',
  'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_MIPS',
  'SCMP_ARCH_MIPS64',
  'SCMP_ARCH_MIPS64N32',
  'SCMP_ARCH_MIPSEL',
  'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32',
  'SCMP_ARCH_PPC',
  'SCMP_ARCH_PPC64',
  'SCMP_ARCH_PPC64LE',
  'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X',
  'SCMP_ARCH_PARISC',
  'SCMP_ARCH_PARISC64',
  'SCMP_ARCH_RISCV64',
] as const;

export const SECCOMP_OPS = [
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
] as const satisfies readonly SeccompArg['op'][];

/**
 * OCI declares u64, but JSON.parse yields doubles: above 2^53 a value is silently rounded, so
 * such values are refused rather than compiled into a different filter.
 */
const u64 = z
  .number()
  .refine(
    (n) => Number.isSafeInteger(n) && n >= 0,
    'must be a non-negative integer no larger than 9007199254740991 (2^53-1); larger values are not exact in JSON numbers',
  );

const errnoRet = z.number().int().min(0).max(0xffff);

const syscallName = z
  .string()
  .regex(/^[a-z0-9_]{1,64}$/, 'must be a syscall name (lower-case letters, digits, underscore; at most 64)');

export const SeccompArgSchema = z.strictObject({
  index: z.number().int().min(0).max(5),
  value: u64,
  valueTwo: u64.optional(),
  op: z.enum(SECCOMP_OPS),
});

const takesErrno = (action: string): boolean => action === 'SCMP_ACT_ERRNO' || action === 'SCMP_ACT_TRACE';

function checkErrno(action: string, value: number | undefined, ctx: z.RefinementCtx, path: PropertyKey[]): void {
  if (value === undefined) return;
  if (!takesErrno(action)) {
    ctx.addIssue({ code: 'custom', path, message: `only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not ${action}` });
  } else if (action === 'SCMP_ACT_ERRNO' && value > MAX_ERRNO) {
    ctx.addIssue({ code: 'custom', path, message: `errno must be at most ${MAX_ERRNO}` });
  }
}

export const SeccompSyscallSchema = z
  .strictObject({
    names: z.array(syscallName).min(1).max(1024),
    action: z.enum(SECCOMP_ACTIONS),
    errnoRet: errnoRet.optional(),
    args: z.array(SeccompArgSchema).max(6).optional(),
  })
  .superRefine((rule, ctx) => {
    checkErrno(rule.action, rule.errnoRet, ctx, ['errnoRet']);
    // libseccomp ANDs the comparisons of one rule and takes at most one per argument.
    const seen = new Set<number>();
    (rule.args ?? []).forEach((a, i) => {
      if (seen.has(a.index)) {
        ctx.addIssue({
          code: 'custom',
          path: ['args', i, 'index'],
          message: `a second comparison on argument ${a.index} in one rule (libseccomp allows one per argument; use separate rules, which are ORed)`,
        });
      }
      seen.add(a.index);
    });
  });

export const SeccompProfileSchema = z
  .strictObject({
    defaultAction: z.enum(SECCOMP_ACTIONS),
    defaultErrnoRet: errnoRet.optional(),
    architectures: z.array(z.enum(SECCOMP_ARCHES)).max(32).optional(),
    syscalls: z.array(SeccompSyscallSchema).max(4096).optional(),
  })
  .superRefine((p, ctx) => {
    checkErrno(p.defaultAction, p.defaultErrnoRet, ctx, ['defaultErrnoRet']);
    checkShadowing(p.syscalls ?? [], ctx);
  });

/**
 * For one syscall, libseccomp lets an unconditional rule override every rule with arguments
 * (whatever their order) and keeps the first of several unconditional ones, silently. Refuse a
 * profile where that would drop a rule with another action, rather than compile something other
 * than what it says.
 */
function checkShadowing(rules: readonly z.infer<typeof SeccompSyscallSchema>[], ctx: z.RefinementCtx): void {
  const key = (r: z.infer<typeof SeccompSyscallSchema>): string =>
    takesErrno(r.action) ? `${r.action}(${r.errnoRet ?? EPERM})` : r.action;
  const unconditional = new Map<string, { key: string; index: number }>();
  rules.forEach((r, index) => {
    if ((r.args ?? []).length > 0) return;
    for (const name of r.names) if (!unconditional.has(name)) unconditional.set(name, { key: key(r), index });
  });
  rules.forEach((r, index) => {
    for (const name of r.names) {
      const u = unconditional.get(name);
      if (u && u.index !== index && u.key !== key(r)) {
        ctx.addIssue({
          code: 'custom',
          path: ['syscalls', index],
          message: `${key(r)} rule for "${name}" is shadowed by the unconditional ${u.key} rule syscalls[${u.index}]`,
        });
        return;
      }
    }
  });
}

export type SeccompProfile = z.infer<typeof SeccompProfileSchema>;

/** Maps a validated OCI profile to the native program (values as exact decimal strings). */
export function toProgram(profile: SeccompProfile): SeccompProgram {
  const rules: SeccompRule[] = (profile.syscalls ?? []).map((s) => ({
    names: [...s.names],
    action: s.action,
    errno: s.errnoRet ?? EPERM,
    args: (s.args ?? []).map(
      (a): SeccompArg => ({ index: a.index, value: String(a.value), valueTwo: String(a.valueTwo ?? 0), op: a.op }),
    ),
  }));
  return {
    defaultAction: profile.defaultAction,
    defaultErrno: profile.defaultErrnoRet ?? EPERM,
    architectures: [...(profile.architectures ?? [])],
    rules,
  };
}
