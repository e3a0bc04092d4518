// policies/seccomp/groups.json: the syscall groups `--seccomp` accepts (rkt's @group/name items),
// and the groups ward knows of but refuses, each with its reason. Strict, as every ward format.
import { z } from 'zod';
import { SyscallName } from './app-security';

const GroupName = z.string().regex(/^@[a-z0-9.-]+\/[a-z0-9/_.-]*$/, 'must be @owner/name');

export const SeccompGroupsFile = z.strictObject({
  _comment: z.string().optional(),
  groups: z.record(GroupName, z.strictObject({ description: z.string(), syscalls: z.array(SyscallName).min(1).max(1024) })),
  /** Refused groups: a name, or a prefix ending in "/", and why. */
  unsupported: z.record(GroupName, z.string()),
});
export type SeccompGroupsFile = z.infer<typeof SeccompGroupsFile>;
