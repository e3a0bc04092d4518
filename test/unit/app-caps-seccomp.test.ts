// The helper's side of --caps-* and --seccomp: what an app gets, and that nothing beyond the
// defaults is allowed without a grant. The filters are compiled with the real libseccomp.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { appCaps } from '../../src/helper/app-caps';
import { appProfile, appSeccomp } from '../../src/helper/app-seccomp';
import { APPC_DEFAULT_CAPS } from '../../src/helper/defaults';
import { HelperError } from '../../src/helper/errors';
import { compileProfile } from '../../src/helper/seccomp';
import { CAP_NUMBERS } from '../../src/schema/app-security';
import { SeccompGroupsFile } from '../../src/schema/seccomp-groups';

function repoRoot(): string {
  for (let d = __dirname; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'policies', 'seccomp', 'default.json')) && fs.existsSync(path.join(d, 'package.json'))) return d;
  }
  throw new Error('repository root not found');
}
const root = repoRoot();
const denied = (re: RegExp) => (e: unknown) => e instanceof HelperError && e.code === 'EDENIED' && re.test(e.message);
const none = { caps: new Set<string>(), seccompAllow: new Set<string>() };
const defaults = Object.values(APPC_DEFAULT_CAPS).sort((a, b) => a - b);

describe('app capabilities', () => {
  test('no request: appc\'s default set', () => {
    assert.deepEqual(appCaps({}, none), defaults);
  });
  test('remove takes capabilities out of the default set', () => {
    const caps = appCaps({ caps: { remove: ['CAP_NET_RAW', 'CAP_SYS_ADMIN'] } }, none);
    assert.ok(!caps.includes(CAP_NUMBERS.CAP_NET_RAW));
    assert.equal(caps.length, defaults.length - 1);
  });
  test('retain within the default set needs no grant and gives exactly those', () => {
    assert.deepEqual(appCaps({ caps: { retain: ['CAP_KILL', 'CAP_CHOWN'] } }, none), [0, 5]);
  });
  test('retain beyond the default set: refused without a grant, allowed with it', () => {
    assert.throws(() => appCaps({ caps: { retain: ['CAP_CHOWN', 'CAP_SYS_ADMIN'] } }, none), denied(/may not|does not let you retain CAP_SYS_ADMIN/));
    assert.deepEqual(appCaps({ caps: { retain: ['CAP_SYS_ADMIN'] } }, { caps: new Set(['CAP_SYS_ADMIN']) }), [21]);
    assert.throws(() => appCaps({ caps: { retain: ['CAP_SYS_ADMIN', 'CAP_SYS_MODULE'] } }, { caps: new Set(['CAP_SYS_ADMIN']) }), denied(/retain CAP_SYS_MODULE \(/));
  });
});

describe('app seccomp', () => {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-app-seccomp-'));
  after(() => fs.rmSync(state, { recursive: true, force: true }));
  const base = compileProfile(state, path.join(root, 'policies', 'seccomp', 'default.json'));
  const baseRef = { digest: base.digest, bpfPath: path.join(state, 'seccomp', `${base.digest.slice(7)}.bpf`), profile: base.profile };
  const allowed = (p: typeof base.profile) => new Set((p.syscalls ?? []).filter((r) => r.action === 'SCMP_ACT_ALLOW').flatMap((r) => r.names));

  test('no request: the default filter itself', () => {
    assert.deepEqual(appSeccomp(state, baseRef, undefined, none), { digest: baseRef.digest, bpfPath: baseRef.bpfPath });
  });
  test('remove: the named calls lose every allow rule (argument-filtered ones too) and get the errno', () => {
    const p = appProfile(base.profile, { mode: 'remove', errno: 'EACCES', syscalls: ['getpid', 'socket'] }, none);
    assert.ok(!allowed(p).has('getpid') && !allowed(p).has('socket'));
    assert.ok(allowed(p).has('read'));
    assert.deepEqual(p.syscalls!.at(-1), { names: ['getpid', 'socket'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 });
    assert.equal(p.defaultAction, base.profile.defaultAction);
    // Without errno the process is killed, as rkt.
    assert.equal(appProfile(base.profile, { mode: 'remove', syscalls: ['getpid'] }, none).syscalls!.at(-1)!.action, 'SCMP_ACT_KILL_PROCESS');
  });
  test('remove never needs a grant, even for calls the default already denies', () => {
    assert.doesNotThrow(() => appProfile(base.profile, { mode: 'remove', syscalls: ['keyctl'] }, none));
  });
  test('retain: only the named calls stay allowed, with their argument filters; the profile\'s own denials stay', () => {
    const p = appProfile(base.profile, { mode: 'retain', errno: 'ENOSYS', syscalls: ['read', 'write', 'socket', 'execve', 'exit_group'] }, none);
    assert.deepEqual([...allowed(p)].sort(), ['execve', 'exit_group', 'read', 'socket', 'write']);
    assert.ok(p.syscalls!.some((r) => r.names.includes('socket') && (r.args ?? []).length > 0), 'socket keeps its argument filters');
    assert.ok(p.syscalls!.some((r) => r.names.includes('clone3') && r.action === 'SCMP_ACT_ERRNO'), 'clone3 still answers ENOSYS');
    assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(p.defaultErrnoRet, 38);
    assert.equal(appProfile(base.profile, { mode: 'retain', syscalls: ['read'] }, none).defaultAction, 'SCMP_ACT_KILL_PROCESS');
  });
  test('retain of a call the default denies: refused without a grant, allowed with one', () => {
    assert.throws(() => appProfile(base.profile, { mode: 'retain', syscalls: ['read', 'keyctl', 'ptrace'] }, none), denied(/does not let you allow keyctl, ptrace/));
    const p = appProfile(base.profile, { mode: 'retain', syscalls: ['read', 'keyctl'] }, { seccompAllow: new Set(['keyctl']) });
    assert.ok(allowed(p).has('keyctl'));
  });
  test('compiled once per request, cached by digest; unknown names are refused', () => {
    const a = appSeccomp(state, baseRef, { mode: 'remove', errno: 'EPERM', syscalls: ['getpid'] }, none);
    assert.notEqual(a.digest, baseRef.digest);
    assert.ok(fs.statSync(a.bpfPath).size > 0);
    const b = appSeccomp(state, baseRef, { mode: 'remove', errno: 'EPERM', syscalls: ['getpid'] }, none);
    assert.deepEqual(a, b);
    assert.throws(() => appSeccomp(state, baseRef, { mode: 'remove', syscalls: ['no_such_call'] }, none), denied(/does not know: no_such_call/));
    // Retaining a name libseccomp does not know cannot allow anything: not refused.
    assert.doesNotThrow(() => appSeccomp(state, baseRef, { mode: 'retain', syscalls: ['read', 'no_such_call'] }, { seccompAllow: new Set(['no_such_call']) }));
  });
  test('the shipped groups: the whitelist is what the default allows, the blacklist what it does not', () => {
    const groups = SeccompGroupsFile.parse(JSON.parse(fs.readFileSync(path.join(root, 'policies', 'seccomp', 'groups.json'), 'utf8')));
    const allow = allowed(base.profile);
    for (const n of groups.groups['@docker/default-whitelist']!.syscalls) assert.ok(allow.has(n), n);
    for (const n of groups.groups['@docker/default-blacklist']!.syscalls) assert.ok(!allow.has(n), n);
  });
});
