// The SELinux decision for one pod: the helper policy's mode is the default and the floor,
// require fails closed, off only where allowed; the policy section's defaults and contradictions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planFor, withLevel, podLabelsFor, DEFAULT_TYPES, labelTypes } from '../../src/helper/selinux';
import { HelperPolicy } from '../../src/schema/policy';
import { PolicySelinux } from '../../src/schema/selinux';

const OFF_HOST = { enabled: false, enforcing: null };
const PERMISSIVE = { enabled: true, enforcing: false };
const ENFORCING = { enabled: true, enforcing: true };
const pol = (o: object = {}) => PolicySelinux.parse(o);
const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return 'ok';
};

test('auto labels where SELinux is enabled and runs unlabelled where it is not', () => {
  assert.deepEqual(planFor(pol(), undefined, ENFORCING), { mode: 'auto', files: true, exec: true, mounts: true });
  assert.deepEqual(planFor(pol(), 'auto', PERMISSIVE), { mode: 'auto', files: true, exec: true, mounts: true });
  assert.deepEqual(planFor(pol(), undefined, OFF_HOST), { mode: 'auto', files: false, exec: false, mounts: false });
});

test('force-files labels files without the kernel, never the exec label or context= mounts', () => {
  assert.deepEqual(planFor(pol({ mode: 'force-files' }), undefined, OFF_HOST), { mode: 'force-files', files: true, exec: false, mounts: false });
  assert.deepEqual(planFor(pol({ mode: 'force-files' }), 'auto', ENFORCING), { mode: 'auto', files: true, exec: true, mounts: true });
});

test('require refuses without SELinux, and when permissive where policy demands enforcing', () => {
  assert.equal(code(() => planFor(pol(), 'require', OFF_HOST)), 'ESELINUX');
  assert.equal(code(() => planFor(pol({ mode: 'require' }), undefined, OFF_HOST)), 'ESELINUX');
  assert.equal(code(() => planFor(pol({ mode: 'require', requireEnforcing: true }), undefined, PERMISSIVE)), 'ESELINUX');
  assert.equal(code(() => planFor(pol({ requireEnforcing: true }), 'require', PERMISSIVE)), 'ESELINUX');
  assert.deepEqual(planFor(pol({ mode: 'require' }), undefined, PERMISSIVE).exec, true);
  assert.deepEqual(planFor(pol({ mode: 'require', requireEnforcing: true }), 'require', ENFORCING).files, true);
  assert.throws(() => planFor(pol(), 'require', OFF_HOST), /^Error: SELinux is required .* but this kernel has no SELinux enabled|SELinux is required/);
});

test('off only where the policy allows it; nothing weaker than a policy\'s require', () => {
  assert.equal(code(() => planFor(pol(), 'off', ENFORCING)), 'EDENIED');
  assert.deepEqual(planFor(pol({ allowOff: true }), 'off', ENFORCING), { mode: 'off', files: false, exec: false, mounts: false });
  assert.equal(code(() => planFor(pol({ mode: 'require' }), 'auto', ENFORCING)), 'EDENIED');
  assert.equal(code(() => planFor(pol({ mode: 'require' }), 'off', ENFORCING)), 'EDENIED');
  assert.deepEqual(planFor(pol({ mode: 'off', allowOff: true }), undefined, ENFORCING).files, false);
});

test('the policy section: defaults when absent, strict fields, contradictions refused', () => {
  const base = { version: 1, socketGroup: 'ward', groups: {}, limits: { treeEntries: 1, treeBytes: 1, treeDepth: 1, podsPerUser: 1 }, seccompProfile: 'default' };
  assert.deepEqual(HelperPolicy.parse(base).selinux, { mode: 'auto', requireEnforcing: false, allowOff: false });
  assert.deepEqual(HelperPolicy.parse({ ...base, selinux: { mode: 'require' } }).selinux, { mode: 'require', requireEnforcing: false, allowOff: false });
  for (const bad of [{ mode: 'sometimes' }, { mode: 'require', allowOff: true }, { mode: 'off' }, { extra: 1 }]) {
    assert.equal(HelperPolicy.safeParse({ ...base, selinux: bad }).success, false, JSON.stringify(bad));
  }
});

test('labels: the pair goes into the host\'s types; lxc_contexts types win over the defaults', () => {
  assert.equal(withLevel('system_u:system_r:container_t:s0-s0:c0.c1023', 's0:c1,c2'), 'system_u:system_r:container_t:s0:c1,c2');
  const l = podLabelsFor(DEFAULT_TYPES, 's0:c4,c9', true);
  assert.deepEqual(l, { process: 'system_u:system_r:container_t:s0:c4,c9', file: 'system_u:object_r:container_file_t:s0:c4,c9', level: 's0:c4,c9' });
  assert.equal(podLabelsFor(DEFAULT_TYPES, 's0:c4,c9', false).process, null);
  const t = labelTypes({ process: 'system_u:system_r:svirt_lxc_net_t:s0', file: 'system_u:object_r:svirt_sandbox_file_t:s0' });
  assert.deepEqual(t, { process: 'system_u:system_r:svirt_lxc_net_t:s0', file: 'system_u:object_r:svirt_sandbox_file_t:s0', roFile: DEFAULT_TYPES.roFile });
  assert.throws(() => podLabelsFor(DEFAULT_TYPES, 's0:c9,c4', true));
});
