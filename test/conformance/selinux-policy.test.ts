// policies/selinux compiles into a policy package against Debian's refpolicy headers
// (selinux-policy-dev), with checkmodule and semodule_package through the devel Makefile, and its
// file contexts cover ward's binaries, socket and state.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const REPO = path.resolve(__dirname, '..', '..', '..');
const SRC = path.join(REPO, 'policies', 'selinux');
const DEVEL = '/usr/share/selinux/devel/Makefile';

test('the ward policy module compiles into ward.pp', () => {
  assert.ok(fs.existsSync(DEVEL), `${DEVEL} is missing: install selinux-policy-dev (scripts/setup.sh does)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-pol-'));
  try {
    for (const f of ['ward.te', 'ward.fc', 'ward.if']) fs.copyFileSync(path.join(SRC, f), path.join(dir, f));
    const r = spawnSync('make', ['-f', DEVEL, 'ward.pp'], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /warning|error/i, r.stderr);
    const pp = fs.readFileSync(path.join(dir, 'ward.pp'));
    assert.ok(pp.length > 1000);
    // A policy package starts with the module package magic (SELinux PP, 0xf97cff8f little-endian).
    assert.equal(pp.readUInt32LE(0), 0xf97cff8f);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the module gives the helper its domain, the nnp transition to containers and the relabel rights', () => {
  const te = fs.readFileSync(path.join(SRC, 'ward.te'), 'utf8');
  assert.match(te, /^policy_module\(ward, /m);
  assert.match(te, /container_engine_domain_template\(ward_helper\)/);
  assert.match(te, /init_daemon_domain\(ward_helper_t, ward_helper_exec_t\)/);
  assert.match(te, /container_domtrans\(ward_helper_t\)/);
  assert.match(te, /allow ward_helper_t container_domain:process2 \{ nnp_transition nosuid_transition \};/);
  assert.match(te, /allow ward_helper_t self:process [^;]*setexec/);
  assert.match(te, /container_relabel_all_content\(ward_helper_t\)/);
  assert.match(te, /container_relabel_fs\(ward_helper_t\)/);
  const fc = fs.readFileSync(path.join(SRC, 'ward.fc'), 'utf8');
  for (const [p, t] of [['/usr/bin/ward-helper', 'ward_helper_exec_t'], ['/run/ward/helper\\.sock', 'ward_runtime_t'], ['/var/lib/ward(/.*)?', 'ward_var_lib_t'], ['/etc/ward(/.*)?', 'ward_conf_t']] as const) {
    assert.ok(fc.split('\n').some((l) => l.startsWith(p) && l.includes(`:${t},s0)`)), `${p} -> ${t}`);
  }
  assert.match(fc, /^\/var\/lib\/ward\/trees\/\[0-9\]\+\/\[0-9a-f\]\{64\}\(\/\.\*\)\?\s+gen_context\(system_u:object_r:container_ro_file_t,s0\)$/m, 'sealed trees are read-only content, as the helper labels them');
});
