// rkt's --seccomp syntax: mode=retain|remove[,errno=ENAME],ITEM,... where an item is a syscall
// name or a group (@docker/default-whitelist, ...) from policies/seccomp/groups.json, expanded
// here: the helper only ever sees syscall names.
import fs from 'node:fs';
import path from 'node:path';
import { WardError } from '../schema/errors';
import { isErrnoName, SYSCALL_NAME, type ErrnoName } from '../schema/app-names';
import type { AppSeccomp } from '../schema/app-security';
import type { SeccompGroupsFile } from '../schema/seccomp-groups';

export type SeccompFlag = AppSeccomp;

const GROUPS_FILE = path.join(__dirname, '..', '..', '..', 'policies', 'seccomp', 'groups.json');

let groupsCache: SeccompGroupsFile | undefined;

export function seccompGroups(file = GROUPS_FILE): SeccompGroupsFile {
  if (groupsCache && file === GROUPS_FILE) return groupsCache;
  let parsed;
  try {
    // zod loads only when --seccomp is given.
    const { SeccompGroupsFile } = require('../schema/seccomp-groups') as typeof import('../schema/seccomp-groups');
    parsed = SeccompGroupsFile.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
  } catch (e) {
    throw new WardError('EINTERNAL', `cannot read the seccomp groups ${file}: ${(e as Error).message}; reinstall ward`);
  }
  if (!parsed.success) throw new WardError('EINTERNAL', `invalid seccomp groups ${file}: ${parsed.error.issues[0]?.message}; reinstall ward`);
  if (file === GROUPS_FILE) groupsCache = parsed.data;
  return parsed.data;
}

function usage(message: string): never {
  throw new WardError('EUSAGE', `--seccomp: ${message}`);
}

function expandGroup(item: string, groups: SeccompGroupsFile): string[] {
  const known = groups.groups[item];
  if (known) return known.syscalls;
  const refused = Object.entries(groups.unsupported).find(([name]) => name === item || (name.endsWith('/') && item.startsWith(name)));
  if (refused) usage(`group ${item} is not supported: ${refused[1]}`);
  usage(`unknown group ${item}; groups: ${Object.keys(groups.groups).join(', ')}`);
}

export function parseSeccompFlag(value: string, groups: SeccompGroupsFile = seccompGroups()): SeccompFlag {
  const items = value.split(',').map((s) => s.trim());
  const first = items.shift();
  if (!first?.startsWith('mode=')) usage(`start with mode=retain or mode=remove, e.g. --seccomp mode=remove,errno=EPERM,ptrace`);
  const mode = first.slice(5);
  if (mode !== 'retain' && mode !== 'remove') usage(`mode must be retain or remove, not '${mode}'`);
  let errno: ErrnoName | undefined;
  if (items[0]?.startsWith('errno=')) {
    const name = items.shift()!.slice(6);
    if (!isErrnoName(name)) usage(`errno=${name} is not an errno name such as EPERM or ENOSYS`);
    errno = name;
  }
  const syscalls: string[] = [];
  for (const item of items) {
    if (item === '') continue;
    if (item.startsWith('errno=') || item.startsWith('mode=')) usage(`${item.split('=')[0]}= must come first (mode=...,errno=...,syscalls)`);
    const names = item.startsWith('@') ? expandGroup(item, groups) : [item];
    for (const n of names) {
      if (!SYSCALL_NAME.test(n)) usage(`'${n}' is not a syscall name (lower-case letters, digits, underscore)`);
      if (!syscalls.includes(n)) syscalls.push(n);
    }
  }
  if (syscalls.length === 0) usage('name at least one syscall or group after the mode');
  if (syscalls.length > 1024) usage('at most 1024 syscalls');
  return { mode, ...(errno ? { errno } : {}), syscalls };
}
