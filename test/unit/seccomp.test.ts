// Unit tests for seccomp: the OCI profile schema (src/schema/seccomp.ts), the native compiler
// (addon/src/seccomp.cc), the helper's profile cache (src/helper/seccomp.ts), and real
// enforcement of policies/seccomp/default.json checked with test/fixtures/probe.c.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { addon, type Addon, type SeccompProgram } from '../../src/native/addon';
import { SeccompProfileSchema, toProgram, type SeccompProfile } from '../../src/schema/seccomp';
import { compileProfile, loadProfile } from '../../src/helper/seccomp';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const native: Pick<Addon, 'compileSeccomp'> = process.env.WARD_ADDON ? require(process.env.WARD_ADDON) : addon();

/** The repository: found upward from this file (src or dist), else the working directory. */
function repoRoot(): string {
  for (let d = __dirname; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'policies', 'seccomp', 'default.json')) && fs.existsSync(path.join(d, 'package.json'))) {
      return d;
    }
  }
  return process.cwd();
}

const root = repoRoot();
const defaultProfile = path.join(root, 'policies', 'seccomp', 'default.json');
const EPERM = 1;
const ENOSYS = 38;
const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_I386 = 0x40000003;
const X32_SYSCALL_BIT = 0x40000000;

let tmp = '';
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-seccomp-'));
});
after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function writeProfile(name: string, profile: unknown): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, JSON.stringify(profile));
  return file;
}

/** The k operands of every instruction of a raw struct sock_filter[] (u16 code, u8 jt, u8 jf, u32 k). */
function operands(bpf: Buffer): Set<number> {
  const ks = new Set<number>();
  for (let off = 0; off + 8 <= bpf.length; off += 8) ks.add(bpf.readUInt32LE(off + 4));
  return ks;
}

function compileDefault(): { bpf: Buffer; unknown: string[]; ms: number } {
  const t0 = process.hrtime.bigint();
  const out = native.compileSeccomp(toProgram(loadProfile(defaultProfile)));
  return { ...out, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

// --- the default profile -------------------------------------------------------------------

test('default.json validates strictly and compiles to a whole BPF program', (t) => {
  const profile = loadProfile(defaultProfile);
  assert.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(profile.defaultErrnoRet, EPERM);
  assert.deepEqual(profile.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  const allowed = new Set(
    (profile.syscalls ?? []).filter((s) => s.action === 'SCMP_ACT_ALLOW').flatMap((s) => s.names),
  );
  assert.ok(allowed.size > 300, `allowlist has ${allowed.size} names`);
  const never = [
    'add_key', 'keyctl', 'request_key', 'userfaultfd', 'io_uring_setup', 'io_uring_enter', 'io_uring_register',
    'kexec_load', 'kexec_file_load', 'pivot_root', 'mount', 'umount2', 'unshare', 'setns', 'bpf',
    'perf_event_open', 'ptrace', 'chroot', 'init_module', 'finit_module', 'delete_module', 'swapon', 'swapoff',
    'reboot', 'acct', 'clock_settime', 'settimeofday', 'adjtimex', 'clock_adjtime', 'move_pages',
    'migrate_pages', 'mbind', 'set_mempolicy', 'open_by_handle_at', 'name_to_handle_at', 'lookup_dcookie',
    'quotactl', 'nfsservctl', 'uselib', 'ustat', 'sysfs', '_sysctl', 'vm86', 'vm86old', 'fsopen', 'fsconfig',
    'fsmount', 'fspick', 'move_mount', 'open_tree', 'mount_setattr', 'pidfd_getfd', 'process_vm_readv',
    'process_vm_writev', 'kcmp', 'syslog', 'iopl', 'ioperm', 'create_module', 'get_kernel_syms', 'query_module',
    'vhangup', 'fanotify_init', 'socketcall', 'ipc', 'clone3',
  ];
  for (const name of never) assert.ok(!allowed.has(name), `${name} must not be allowed unconditionally`);
  // Filtered by arguments only.
  for (const name of ['personality', 'socket', 'clone']) {
    const rules = (profile.syscalls ?? []).filter((s) => s.names.includes(name));
    assert.ok(rules.length > 0 && rules.every((r) => (r.args ?? []).length > 0), `${name} is argument-filtered`);
  }

  const { bpf, unknown, ms } = compileDefault();
  assert.equal(bpf.length % 8, 0);
  assert.ok(bpf.length > 2000 && bpf.length <= 4096 * 8, `BPF is ${bpf.length} bytes`);
  for (const name of ['read', 'write', 'execve', 'clone', 'socket', 'personality', 'futex', 'openat']) {
    assert.ok(!unknown.includes(name), `${name} resolved`);
  }
  t.diagnostic(`allowed names ${allowed.size}, BPF ${bpf.length} bytes (${bpf.length / 8} insns), compile ${ms.toFixed(1)} ms, unknown to this libseccomp: ${unknown.join(' ') || 'none'}`);
});

test('the BPF checks every x86 sub-architecture', () => {
  const { bpf } = compileDefault();
  const ks = operands(bpf);
  assert.ok(ks.has(AUDIT_ARCH_X86_64), 'AUDIT_ARCH_X86_64 (x86_64 and x32)');
  assert.ok(ks.has(AUDIT_ARCH_I386), 'AUDIT_ARCH_I386');
  assert.ok(ks.has(X32_SYSCALL_BIT), 'the x32 syscall bit splits x86_64 from x32');

  // Without architectures only the native one is filtered.
  const nativeOnly = native.compileSeccomp({ ...toProgram(loadProfile(defaultProfile)), architectures: [] });
  assert.ok(!operands(nativeOnly.bpf).has(AUDIT_ARCH_I386));
  // SCMP_ARCH_NATIVE and its concrete name are the same arch.
  const both = native.compileSeccomp({ ...toProgram(loadProfile(defaultProfile)), architectures: ['SCMP_ARCH_NATIVE', 'SCMP_ARCH_X86_64'] });
  assert.deepEqual(both.bpf, nativeOnly.bpf);
  // A foreign arch alone: the native one is removed.
  const foreign = native.compileSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrno: 1, architectures: ['SCMP_ARCH_X86'], rules: [] });
  assert.ok(operands(foreign.bpf).has(AUDIT_ARCH_I386));
  assert.ok(!operands(foreign.bpf).has(AUDIT_ARCH_X86_64));
});

// --- schema ---------------------------------------------------------------------------------

const minimal: SeccompProfile = {
  defaultAction: 'SCMP_ACT_ERRNO',
  architectures: ['SCMP_ARCH_X86_64'],
  syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ALLOW' }],
};

test('toProgram applies the OCI defaults and keeps u64 values exact', () => {
  const p = toProgram(SeccompProfileSchema.parse({
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
      { names: ['kill'], action: 'SCMP_ACT_ERRNO' },
      { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 4294967295, op: 'SCMP_CMP_EQ' }] },
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      { names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 2, value: Number.MAX_SAFE_INTEGER, op: 'SCMP_CMP_LE' }] },
    ],
  }));
  const expected: SeccompProgram = {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrno: EPERM,
    architectures: [],
    rules: [
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errno: ENOSYS, args: [] },
      { names: ['kill'], action: 'SCMP_ACT_ERRNO', errno: EPERM, args: [] },
      { names: ['personality'], action: 'SCMP_ACT_ALLOW', errno: EPERM, args: [{ index: 0, value: '4294967295', valueTwo: '0', op: 'SCMP_CMP_EQ' }] },
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', errno: EPERM, args: [{ index: 0, value: '2114060288', valueTwo: '0', op: 'SCMP_CMP_MASKED_EQ' }] },
      { names: ['read'], action: 'SCMP_ACT_ALLOW', errno: EPERM, args: [{ index: 2, value: '9007199254740991', valueTwo: '0', op: 'SCMP_CMP_LE' }] },
    ],
  };
  assert.deepEqual(p, expected);
  native.compileSeccomp(p);
});

test('unknown fields are rejected, at every level', () => {
  assert.equal(SeccompProfileSchema.safeParse(minimal).success, true);
  const bad: unknown[] = [
    { ...minimal, comment: 'x' },
    { ...minimal, flags: ['SECCOMP_FILTER_FLAG_LOG'] },
    { ...minimal, listenerPath: '/run/notify.sock' },
    { ...minimal, syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ALLOW', comment: 'x' }] },
    { ...minimal, syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ', extra: 1 }] }] },
  ];
  for (const b of bad) assert.equal(SeccompProfileSchema.safeParse(b).success, false, JSON.stringify(b));

  const file = writeProfile('unknown-field.json', { ...minimal, syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ALLOW', includes: {} }] });
  assert.throws(() => loadProfile(file), (e: Error) => {
    assert.match(e.message, /^seccomp profile .*unknown-field\.json: syscalls\[0\]: .*includes/);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
});

test('invalid actions, arches, operators, values and errnos are rejected', () => {
  const cases: [unknown, RegExp][] = [
    [{ ...minimal, defaultAction: 'SCMP_ACT_NOTIFY' }, /defaultAction/],
    [{ ...minimal, syscalls: [{ names: ['getpid'], action: 'ALLOW' }] }, /syscalls\[0\]\.action/],
    [{ ...minimal, architectures: ['SCMP_ARCH_Z80'] }, /architectures\[0\]/],
    [{ ...minimal, syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_LIKE' }] }] }, /args\[0\]\.op/],
    [{ ...minimal, syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ALLOW', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }] }, /args\[0\]\.index/],
    [{ ...minimal, syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2 ** 64 - 1, op: 'SCMP_CMP_EQ' }] }] }, /args\[0\]\.value: .*2\^53/],
    [{ ...minimal, syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: -1, op: 'SCMP_CMP_EQ' }] }] }, /args\[0\]\.value/],
    [{ ...minimal, syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1.5, op: 'SCMP_CMP_EQ' }] }] }, /args\[0\]\.value/],
    [{ ...minimal, syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: '1', op: 'SCMP_CMP_EQ' }] }] }, /args\[0\]\.value/],
    [{ ...minimal, syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ALLOW', errnoRet: 1 }] }, /syscalls\[0\]\.errnoRet/],
    [{ ...minimal, syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ERRNO', errnoRet: 5000 }] }, /syscalls\[0\]\.errnoRet/],
    [{ ...minimal, defaultAction: 'SCMP_ACT_KILL', defaultErrnoRet: 1 }, /defaultErrnoRet/],
    [{ ...minimal, syscalls: [{ names: [], action: 'SCMP_ACT_ALLOW' }] }, /syscalls\[0\]\.names/],
    [{ ...minimal, syscalls: [{ names: ['get pid'], action: 'SCMP_ACT_ALLOW' }] }, /syscalls\[0\]\.names\[0\]/],
    [
      { ...minimal, syscalls: [{ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 38, op: 'SCMP_CMP_NE' }, { index: 0, value: 40, op: 'SCMP_CMP_NE' }] }] },
      /args\[1\]\.index: a second comparison on argument 0/,
    ],
    // libseccomp would keep the first unconditional rule and drop the rest without a word.
    [
      { ...minimal, syscalls: [{ names: ['getpid', 'socket'], action: 'SCMP_ACT_ALLOW' }, { names: ['socket'], action: 'SCMP_ACT_KILL' }] },
      /syscalls\[1\]: SCMP_ACT_KILL rule for "socket" is shadowed by the unconditional SCMP_ACT_ALLOW rule syscalls\[0\]/,
    ],
    [
      { ...minimal, syscalls: [{ names: ['socket'], action: 'SCMP_ACT_ALLOW' }, { names: ['socket'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 40, op: 'SCMP_CMP_EQ' }] }] },
      /syscalls\[1\]: SCMP_ACT_ERRNO\(1\) rule for "socket" is shadowed/,
    ],
  ];
  for (const [i, [profile, where]] of cases.entries()) {
    const file = writeProfile(`bad-${i}.json`, profile);
    assert.throws(() => loadProfile(file), (e: Error) => {
      assert.match(e.message, new RegExp(`^seccomp profile ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
      assert.match(e.message, where);
      return true;
    }, JSON.stringify(profile));
  }
  fs.writeFileSync(path.join(tmp, 'broken.json'), '{"defaultAction": ');
  assert.throws(() => loadProfile(path.join(tmp, 'broken.json')), /broken\.json: invalid JSON/);
  assert.throws(() => loadProfile(path.join(tmp, 'missing.json')), /missing\.json: cannot open: ENOENT/);
});

// --- the native compiler --------------------------------------------------------------------

const program = (rules: SeccompProgram['rules']): SeccompProgram => ({
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrno: EPERM,
  architectures: ['SCMP_ARCH_X86_64'],
  rules,
});

test('unknown syscall names are reported, not fatal', () => {
  const out = native.compileSeccomp(program([
    { names: ['getpid', 'no_such_syscall_ward', 'getppid', 'no_such_syscall_ward'], action: 'SCMP_ACT_ALLOW', errno: 0, args: [] },
  ]));
  assert.deepEqual(out.unknown, ['no_such_syscall_ward']);
  assert.equal(out.bpf.length % 8, 0);
  const file = writeProfile('unknown-name.json', { ...minimal, syscalls: [{ names: ['getpid', 'no_such_syscall_ward'], action: 'SCMP_ACT_ALLOW' }] });
  assert.deepEqual(compileProfile(path.join(tmp, 'state-unknown'), file, native).unknown, ['no_such_syscall_ward']);
});

test('a rule with the default action is skipped, not an error', () => {
  const a = native.compileSeccomp(program([{ names: ['getpid'], action: 'SCMP_ACT_ALLOW', errno: 0, args: [] }]));
  const b = native.compileSeccomp(program([
    { names: ['getpid'], action: 'SCMP_ACT_ALLOW', errno: 0, args: [] },
    { names: ['keyctl'], action: 'SCMP_ACT_ERRNO', errno: EPERM, args: [] },
  ]));
  assert.deepEqual(b.bpf, a.bpf);
});

test('the native compiler rejects malformed programs with a TypeError', () => {
  const arg = (value: unknown, valueTwo: unknown = '0') =>
    program([{ names: ['socket'], action: 'SCMP_ACT_ALLOW', errno: 0, args: [{ index: 0, op: 'SCMP_CMP_EQ', value, valueTwo } as never] }]);
  for (const v of ['-1', '1x', ' 1', '0x10', '', '18446744073709551616', 1, null]) {
    assert.throws(() => native.compileSeccomp(arg(v)), TypeError, String(v));
  }
  assert.throws(() => native.compileSeccomp(arg('1', '+1')), TypeError);
  native.compileSeccomp(arg('18446744073709551615'));
  assert.throws(() => native.compileSeccomp({ ...program([]), defaultAction: 'SCMP_ACT_NOTIFY' }), TypeError);
  assert.throws(() => native.compileSeccomp({ ...program([]), architectures: ['SCMP_ARCH_Z80'] }), TypeError);
  assert.throws(() => native.compileSeccomp({ ...program([]), defaultErrno: 5000 }), TypeError);
  assert.throws(() => native.compileSeccomp(null as never), TypeError);
  // Two comparisons on one argument: libseccomp refuses; the message names the syscall and the cause.
  assert.throws(
    () => native.compileSeccomp(program([{
      names: ['socket'], action: 'SCMP_ACT_ALLOW', errno: 0,
      args: [{ index: 0, op: 'SCMP_CMP_NE', value: '38', valueTwo: '0' }, { index: 0, op: 'SCMP_CMP_NE', value: '40', valueTwo: '0' }],
    }])),
    (e: Error) => !(e instanceof TypeError) && /"socket".*Invalid argument \(-22\)/.test(e.message),
  );
});

// --- the helper's cache ---------------------------------------------------------------------

test('compileProfile caches by digest and survives a damaged cache file', () => {
  const state = path.join(tmp, 'state');
  const first = compileProfile(state, defaultProfile, native);
  assert.match(first.digest, /^sha256:[0-9a-f]{64}$/);
  const hex = first.digest.slice('sha256:'.length);
  const cached = path.join(state, 'seccomp', `${hex}.bpf`);
  assert.deepEqual(fs.readFileSync(cached), first.bpf);
  assert.equal(fs.statSync(path.join(state, 'seccomp')).mode & 0o777, 0o700);
  assert.equal(fs.statSync(cached).mode & 0o777, 0o600);
  assert.deepEqual(fs.readdirSync(path.join(state, 'seccomp')).filter((n) => n.endsWith('.tmp')), []);

  const again = compileProfile(state, defaultProfile, native);
  assert.equal(again.digest, first.digest);
  assert.deepEqual(again.bpf, first.bpf);
  assert.deepEqual(again.unknown, first.unknown);

  // A hit must not need the compiler at all.
  const refuse: Pick<Addon, 'compileSeccomp'> = { compileSeccomp: () => assert.fail('compiled on a cache hit') };
  assert.deepEqual(compileProfile(state, defaultProfile, refuse).bpf, first.bpf);

  for (const damage of [first.bpf.subarray(0, 13), Buffer.alloc(0)]) {
    fs.writeFileSync(cached, damage);
    const repaired = compileProfile(state, defaultProfile, native);
    assert.deepEqual(repaired.bpf, first.bpf);
    assert.deepEqual(fs.readFileSync(cached), first.bpf);
  }

  // The digest is of the file's bytes: the same profile written differently is another entry.
  const reformatted = writeProfile('default-compact.json', JSON.parse(fs.readFileSync(defaultProfile, 'utf8')));
  const other = compileProfile(state, reformatted, native);
  assert.notEqual(other.digest, first.digest);
  assert.deepEqual(other.bpf, first.bpf);

  // A profile that does not compile is refused, naming the file.
  const bad = writeProfile('refused.json', {
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [{ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }] }],
  });
  const failing: Pick<Addon, 'compileSeccomp'> = { compileSeccomp: () => { throw new Error('compileSeccomp: boom'); } };
  assert.throws(() => compileProfile(state, bad, failing), /refused\.json: does not compile: compileSeccomp: boom/);
});

// --- real enforcement -----------------------------------------------------------------------

let probe = '';
function buildProbe(): string {
  if (!probe) {
    probe = path.join(tmp, 'probe');
    execFileSync('cc', ['-static', '-O2', '-Wall', '-Werror', '-o', probe, path.join(root, 'test', 'fixtures', 'probe.c')], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  }
  return probe;
}

/** Runs the probe; each result is an errno (0: success) or 'unsupported'. */
function runProbe(args: string[]): Map<string, number | 'unsupported'> {
  const r = spawnSync(buildProbe(), args, { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `probe ${args.join(' ')}: status ${r.status} signal ${r.signal} stderr ${r.stderr}`);
  const results = new Map<string, number | 'unsupported'>();
  for (const line of r.stdout.trim().split('\n')) {
    const m = /^(\w+) (?:errno=(\d+)|unsupported)$/.exec(line);
    assert.ok(m, `probe line "${line}"`);
    results.set(m[1]!, m[2] === undefined ? 'unsupported' : Number(m[2]));
  }
  return results;
}

test('default.json is enforced by the kernel', (t) => {
  const unfiltered = runProbe(['syscall', 'getpid', 'uname', 'clone_plain', 'int80_getpid']);
  assert.equal(unfiltered.get('getpid'), 0);
  assert.equal(unfiltered.get('uname'), 0);

  const bpfFile = path.join(tmp, 'default.bpf');
  fs.writeFileSync(bpfFile, compileProfile(path.join(tmp, 'state-probe'), defaultProfile, native).bpf);

  const expectations: Record<string, number> = {
    keyctl: EPERM,
    unshare: EPERM,
    mount: EPERM,
    pivot_root: EPERM,
    ptrace: EPERM,
    bpf: EPERM,
    io_uring_setup: EPERM,
    userfaultfd: EPERM,
    socket_alg: EPERM,
    socket_vsock: EPERM,
    // The kernel truncates socket()'s int domain: the high half must not smuggle a family past.
    socket_alg_hi: EPERM,
    socket_vsock_hi: EPERM,
    clone_newuser: EPERM,
    personality_bad: EPERM,
    chroot: EPERM,
    setns: EPERM,
    perf_event_open: EPERM,
    open_by_handle_at: EPERM,
    clone3: ENOSYS,
    getpid: 0,
    uname: 0,
    socket_inet: 0,
    clone_plain: 0,
    personality_query: 0,
    // x32 syscall numbers are filtered too (the kernel itself may answer ENOSYS after the filter).
    x32_keyctl: EPERM,
  };
  // i386 syscalls through int $0x80, when this kernel runs 32-bit code at all.
  if (unfiltered.get('int80_getpid') === 0) {
    Object.assign(expectations, { int80_getpid: 0, int80_keyctl: EPERM, int80_unshare: EPERM });
  } else {
    t.diagnostic('this kernel has no IA-32 emulation: int $0x80 probes left out');
  }
  const names = Object.keys(expectations);
  const got = runProbe(['seccomp-load', bpfFile, '--', ...names]);
  assert.deepEqual(Object.fromEntries(names.map((n) => [n, got.get(n)])), expectations);

  // What the filter allows through keeps working: x32 getpid reaches the kernel (ENOSYS when x32 is off).
  const x32 = runProbe(['seccomp-load', bpfFile, '--', 'x32_getpid']).get('x32_getpid');
  assert.ok(x32 === 0 || x32 === ENOSYS, `x32_getpid errno=${x32}`);

  // Known gap, shared with Docker's profile: libseccomp turns a "socket" rule into an i386
  // socketcall(SYS_SOCKET) rule without the argument checks (the arguments are in memory), so a
  // 32-bit process can still open AF_VSOCK/AF_ALG sockets. Reported here, not asserted.
  const gap = runProbe(['seccomp-load', bpfFile, '--', 'int80_socketcall_vsock']).get('int80_socketcall_vsock');
  t.diagnostic(`i386 socketcall(SYS_SOCKET, AF_VSOCK) under default.json: ${gap === 'unsupported' ? 'unsupported here' : `errno=${gap}`}`);
});
