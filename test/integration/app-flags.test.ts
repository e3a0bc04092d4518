// Per-app flags end to end, as an unprivileged user through a real helper: users and groups by
// name from the image's own /etc/passwd and /etc/group (never the host's), capabilities and
// seccomp per app against the helper's grants, the environment's precedence, --name and
// --readonly-rootfs reaching the helper, bad command lines refused in one line, and pods of
// several apps.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxAci, manifestFor } from '../lib/aci-builder';
import { REPO, TestEnv } from '../lib/env';

const APPC_CAPS = 0xa80425fbn; // the appc default set
const CAP_NET_RAW = 13n;
const CAP_NET_ADMIN = 12n;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function capEff(stdout: string): bigint {
  const m = /CapEff:\s*([0-9a-f]+)/.exec(stdout);
  assert.ok(m, stdout);
  return BigInt(`0x${m[1]}`);
}

describe('per-app flags', () => {
  const env = new TestEnv('app-flags');
  let aci = '';
  let named = '';
  let hostLink = '';
  let innerLink = '';
  let envImage = '';
  const ward = (args: string[], opts: Parameters<TestEnv['ward']>[2] = {}) => env.ward('a', args, opts);
  const run = (flags: string[], script: string, opts: Parameters<TestEnv['ward']>[2] = {}, image = aci) => ward(['run', '--insecure-options=image', image, ...flags, '--', '-c', script], opts);
  const oneLine = (stderr: string) => assert.equal(stderr.trim().split('\n').length, 1, stderr);

  before(async () => {
    // User b is granted CAP_NET_ADMIN and keyctl beyond the defaults; a is not.
    const policy = JSON.parse(fs.readFileSync(path.join(REPO, 'policies', 'helper.json'), 'utf8')) as Record<string, unknown>;
    policy.users = { 'ward-test-b': { caps: ['CAP_NET_ADMIN'], seccompAllow: ['keyctl'] } };
    const policyFile = path.join(env.dir, 'helper-grants.json');
    fs.writeFileSync(policyFile, JSON.stringify(policy));
    await env.start(['--policy', policyFile]);
    const users = { name: 'etc/passwd', body: 'root:x:0:0:root:/root:/bin/sh\nweb:x:1234:2345::/:/bin/sh\n' };
    const groups = { name: 'etc/group', body: 'root:x:0:\nwebgrp:x:4321:web\n' };
    aci = env.fixture('busybox.aci');
    await buildBusyboxAci(aci, { entries: [{ ...users, name: `rootfs/${users.name}`, mode: 0o644 }, { ...groups, name: `rootfs/${groups.name}`, mode: 0o644 }] });
    named = env.fixture('named.aci');
    await buildBusyboxAci(named, { name: 'example.com/named', user: 'web', group: 'webgrp', entries: [{ ...users, name: `rootfs/${users.name}`, mode: 0o644 }, { ...groups, name: `rootfs/${groups.name}`, mode: 0o644 }] });
    // /etc/passwd is a symlink aimed at the host's, absolutely and relatively.
    hostLink = env.fixture('hostlink.aci');
    await buildBusyboxAci(hostLink, { name: 'example.com/hostlink', entries: [{ name: 'rootfs/etc/passwd', type: 'symlink', linkname: '/../../../../../../../../etc/passwd' }, { name: 'rootfs/etc/group', type: 'symlink', linkname: '../../../../../../../../../etc/group' }] });
    innerLink = env.fixture('innerlink.aci');
    await buildBusyboxAci(innerLink, { name: 'example.com/innerlink', entries: [{ name: 'rootfs/usr/passwd.real', mode: 0o644, body: 'inner:x:1500:1500::/:/bin/sh\n' }, { name: 'rootfs/etc/passwd', type: 'symlink', linkname: '/usr/passwd.real' }] });
    envImage = env.fixture('env.aci');
    await buildBusyboxAci(envImage, { name: 'example.com/env', env: { I: 'image', E: 'image', F: 'image', S: 'image', H: 'image' } });
  });
  after(() => env.stop());

  test('--user and --group by name come from the image\'s /etc/passwd and /etc/group', async () => {
    const r = await run(['--user=web', '--group=webgrp'], 'id -u; id -g');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '1234\n4321\n');
    const n = await run(['--user=1000', '--group=0'], 'id -u; id -g');
    assert.equal(n.stdout, '1000\n0\n', n.stderr);
  });

  test('the image manifest\'s own user and group names are resolved the same way', async () => {
    const r = await run([], 'id -u; id -g', {}, named);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '1234\n4321\n');
  });

  test('an unknown name is refused in one line, nothing is run', async () => {
    const r = await run(['--user=nosuchuser'], 'echo ran');
    assert.equal(r.code, 251, r.stderr);
    assert.match(r.stderr, /^ward: user 'nosuchuser' is not in \/etc\/passwd of image example.com\/busybox; give a numeric uid/);
    assert.equal(r.stdout, '');
    oneLine(r.stderr);
  });

  test('a symlinked /etc/passwd aimed at the host is never read from the host', async () => {
    // Every one of these names exists in the host's files.
    for (const flags of [['--user=root'], ['--user=ward-test-a'], ['--group=root']]) {
      const r = await run(flags, 'id -u', {}, hostLink);
      assert.equal(r.code, 251, `${flags}: ${r.stderr}`);
      assert.match(r.stderr, /^ward: cannot look up '[a-z-]+' in \/etc\/(passwd|group) of image example.com\/hostlink: /);
      oneLine(r.stderr);
    }
  });

  test('a symlinked /etc/passwd that stays inside the tree is followed there', async () => {
    const r = await run(['--user=inner'], 'id -u', {}, innerLink);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '1500\n');
  });

  test('the image\'s supplementaryGIDs are the app\'s supplementary groups', async () => {
    const img = env.fixture('groups.aci');
    await buildBusyboxAci(img, { name: 'example.com/groups', manifest: { ...(manifestFor({ name: 'example.com/groups' }) as { app: object }), app: { ...(manifestFor({}) as { app: object }).app, supplementaryGIDs: [10, 20, 4321] } } });
    const r = await run([], 'grep ^Groups: /proc/self/status', {}, img);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Groups:\s+10 20 4321\s*$/m);
    const none = await run([], 'grep ^Groups: /proc/self/status');
    assert.match(none.stdout, /^Groups:\s*$/m, none.stderr);
  });

  test('--exec replaces the command, --working-dir the directory', async () => {
    const r = await ward(['run', '--insecure-options=image', aci, '--exec=/bin/echo', '--working-dir=/tmp', '--', 'from', 'echo']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'from echo\n');
    const cwd = await run(['--working-dir=/usr/bin'], 'pwd');
    assert.equal(cwd.stdout, '/usr/bin\n', cwd.stderr);
  });

  test('--caps-remove takes a capability out of the app\'s effective set', async () => {
    const base = await run([], 'grep CapEff /proc/self/status');
    assert.equal(capEff(base.stdout), APPC_CAPS, base.stderr);
    const r = await run(['--caps-remove=CAP_NET_RAW'], 'grep CapEff /proc/self/status');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(capEff(r.stdout), APPC_CAPS & ~(1n << CAP_NET_RAW));
  });

  test('--caps-retain within the default set gives exactly those', async () => {
    const r = await run(['--caps-retain=CAP_KILL,CAP_CHOWN'], 'grep CapEff /proc/self/status');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(capEff(r.stdout), (1n << 5n) | 1n);
  });

  test('--caps-retain beyond the default set is refused without a grant, and works with one', async () => {
    const r = await run(['--caps-retain=CAP_NET_ADMIN'], 'echo ran');
    assert.equal(r.code, 252, r.stderr);
    assert.match(r.stderr, /^ward: helper policy does not let you retain CAP_NET_ADMIN .*"caps"/);
    assert.equal(r.stdout, '');
    oneLine(r.stderr);
    const b = await env.ward('b', ['run', '--insecure-options=image', aci, '--caps-retain=CAP_NET_ADMIN', '--', '-c', 'grep CapEff /proc/self/status']);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(capEff(b.stdout), 1n << CAP_NET_ADMIN);
  });

  test('--seccomp mode=remove,errno=EPERM denies the calls: the app sees EPERM', async () => {
    const allowed = await run([], 'mkdir /tmp/d && echo made');
    assert.equal(allowed.stdout, 'made\n', allowed.stderr);
    const r = await run(['--seccomp', 'mode=remove,errno=EPERM,mkdir,mkdirat'], 'mkdir /tmp/d 2>&1; echo "exit $?"');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Operation not permitted\nexit 1\n$/);
    const other = await run(['--seccomp', 'mode=remove,errno=ENOTSUP,mkdir,mkdirat'], 'mkdir /tmp/d 2>&1; true');
    assert.match(other.stdout, /Operation not supported/, other.stderr);
  });

  test('--seccomp mode=retain keeps only the named calls; the others get the errno', async () => {
    const groups = JSON.parse(fs.readFileSync(path.join(REPO, 'policies', 'seccomp', 'groups.json'), 'utf8')) as { groups: Record<string, { syscalls: string[] }> };
    const all = groups.groups['@docker/default-whitelist']!.syscalls;
    const whole = await run(['--seccomp', 'mode=retain,errno=ENOSYS,@docker/default-whitelist'], 'mkdir /tmp/d && echo made');
    assert.equal(whole.stdout, 'made\n', whole.stderr);
    const some = all.filter((n) => n !== 'mkdir' && n !== 'mkdirat');
    const r = await run(['--seccomp', `mode=retain,errno=ENOSYS,${some.join(',')}`], 'mkdir /tmp/d 2>&1; echo "exit $?"');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Function not implemented\nexit 1\n$/);
  });

  test('--seccomp loosening beyond the default profile is refused without a grant, allowed with one', async () => {
    const r = await run(['--seccomp', 'mode=retain,@docker/default-whitelist,keyctl'], 'echo ran');
    assert.equal(r.code, 252, r.stderr);
    assert.match(r.stderr, /^ward: helper policy does not let you allow keyctl \(the default seccomp profile denies it\).*"seccompAllow"/);
    oneLine(r.stderr);
    const b = await env.ward('b', ['run', '--insecure-options=image', aci, '--seccomp', 'mode=retain,@docker/default-whitelist,keyctl', '--', '-c', 'echo ran']);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(b.stdout, 'ran\n');
    const unknown = await run(['--seccomp', 'mode=remove,not_a_syscall'], 'echo ran');
    assert.equal(unknown.code, 252, unknown.stderr);
    assert.match(unknown.stderr, /does not know: not_a_syscall/);
  });

  test('ward enter confines its command as the app: its capabilities, seccomp filter and groups', async () => {
    const img = env.fixture('groups-enter.aci');
    await buildBusyboxAci(img, { name: 'example.com/groups-enter', manifest: { ...(manifestFor({ name: 'example.com/groups-enter' }) as { app: object }), app: { ...(manifestFor({}) as { app: object }).app, supplementaryGIDs: [30] } } });
    const d = await ward(['run', '--insecure-options=image', '--detach', img, '--caps-remove=CAP_NET_RAW', '--seccomp', 'mode=remove,errno=EPERM,mkdir,mkdirat', '--', '-c', 'while :; do sleep 0.1; done']);
    assert.equal(d.code, 0, d.stderr);
    const uuid = d.stdout.trim();
    try {
      const r = await ward(['enter', uuid, '--', '/bin/sh', '-c', 'grep -E "^(CapEff|Groups):" /proc/self/status; mkdir /tmp/e 2>&1; true']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(capEff(r.stdout), APPC_CAPS & ~(1n << CAP_NET_RAW));
      assert.match(r.stdout, /^Groups:\s+30\s*$/m);
      assert.match(r.stdout, /Operation not permitted/);
    } finally {
      await ward(['stop', '--force', uuid]);
      await ward(['status', '--wait', uuid]);
      await ward(['rm', uuid]);
    }
  });

  test('environment precedence inside the pod, as rkt: image < --environment, --inherit-env fills gaps, then --set-env-file, then --set-env', async () => {
    const file = env.fixture('env.list');
    fs.writeFileSync(file, '# pod-level\nF=file\nS=file\nFILEONLY=file\n', { mode: 0o644 });
    const r = await ward(['run', '--insecure-options=image', '--inherit-env', '--set-env-file', file, '--set-env=S=set-env', envImage, '--environment=E=environment', '--environment=F=environment', '--', '-c', 'for v in I E F S H ONLYHOST FILEONLY AC_APP_NAME; do eval "echo $v=\\$$v"; done'], { env: { H: 'host', ONLYHOST: 'host', F: 'host' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'I=image\nE=environment\nF=file\nS=set-env\nH=image\nONLYHOST=host\nFILEONLY=file\nAC_APP_NAME=env\n');
    const plain = await ward(['run', '--insecure-options=image', envImage, '--', '-c', 'echo "H=$H ONLYHOST=$ONLYHOST"'], { env: { ONLYHOST: 'host' } });
    assert.equal(plain.stdout, 'H=image ONLYHOST=\n', 'without --inherit-env nothing of the frontend\'s environment goes in');
  });

  test('--name reaches the helper: the pod\'s app and AC_APP_NAME carry it', async () => {
    const p = await ward(['prepare', '--insecure-options=image', aci, '--name=custom-name', '--', '-c', 'true']);
    assert.equal(p.code, 0, p.stderr);
    const uuid = p.stdout.trim();
    assert.match(uuid, UUID);
    const s = await ward(['status', '--format=json', uuid]);
    assert.equal((JSON.parse(s.stdout) as { apps: { name: string }[] }).apps[0]?.name, 'custom-name', s.stdout);
    const m = await ward(['cat-manifest', uuid]);
    const manifest = JSON.parse(m.stdout) as { apps: { name: string; app: { environment: { name: string; value: string }[] } }[] };
    assert.equal(manifest.apps[0]?.name, 'custom-name');
    assert.ok(manifest.apps[0]?.app.environment.some((e) => e.name === 'AC_APP_NAME' && e.value === 'custom-name'));
    assert.equal((await ward(['rm', uuid])).code, 0);
  });

  test('--readonly-rootfs reaches the helper: honoured, or refused in one line with nothing left', async () => {
    const before = env.podDirs().length;
    const r = await run(['--readonly-rootfs'], 'touch /file 2>&1; echo "exit $?"');
    if (r.code === 0) {
      assert.match(r.stdout, /Read-only file system\nexit 1\n$/);
    } else {
      // A helper without read-only roots must not run the app with a writable one.
      assert.equal(r.code, 253, r.stderr);
      assert.match(r.stderr, /^ward: --readonly-rootfs: this ward-helper cannot make an app's root read-only .*readonlyRootfs/);
      assert.equal(r.stdout, '');
      oneLine(r.stderr);
      assert.equal(env.podDirs().length, before);
    }
  });

  test('bad command lines: one usage line, exit 253, nothing run', async () => {
    const cases: [string[], RegExp][] = [
      [[aci, '--bogus'], /^ward: unknown per-app flag --bogus for image .*; per-app flags: --exec/],
      [[aci, '--exec'], /^ward: --exec needs a value/],
      [[aci, '---'], /^ward: '---' at the end names no image/],
      [[aci, '--hostname=x'], /^ward: --hostname is a pod-level flag: give it before the first image/],
      [[aci, '--name=x', '---', aci, '--name=x'], /^ward: two apps are named 'x'/],
      [[aci, '--seccomp', 'mode=retain,@appc.io/all'], /^ward: --seccomp: group @appc.io\/all is not supported/],
      [[aci, '---', aci], /^ward: two apps of this pod are named 'busybox'; give each image its own --name/],
    ];
    for (const [args, re] of cases) {
      const r = await ward(['run', '--insecure-options=image', ...args]);
      assert.equal(r.code, 253, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      oneLine(r.stderr);
    }
  });

  describe('pods of several apps', () => {
    test('two images separated by ---, each with its own flags and arguments', async () => {
      const r = await ward(['run', '--insecure-options=image', aci, '--name=one', '--user=web', '--', '-c', 'echo "one $(id -u) $AC_APP_NAME"', '---', envImage, '--name=two', '--environment=E=two', '--', '-c', 'echo "two $E $AC_APP_NAME"']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n').sort(), ['one 1234 one', 'two two two']);
    });
    test('per-app capabilities and seccomp apply to their own app only', async () => {
      const r = await ward(['run', '--insecure-options=image', aci, '--name=strict', '--caps-remove=CAP_NET_RAW', '--seccomp', 'mode=remove,errno=EPERM,mkdir,mkdirat', '--', '-c', 'grep CapEff /proc/self/status; mkdir /tmp/s 2>&1 || echo denied', '---', aci, '--name=loose', '--', '-c', 'sleep 0.2; grep CapEff /proc/self/status; mkdir /tmp/l && echo made']);
      assert.equal(r.code, 0, r.stderr);
      const caps = [...r.stdout.matchAll(/CapEff:\s*([0-9a-f]+)/g)].map((m) => BigInt(`0x${m[1]}`)).sort();
      assert.deepEqual(caps, [APPC_CAPS & ~(1n << CAP_NET_RAW), APPC_CAPS].sort());
      assert.match(r.stdout, /denied/);
      assert.match(r.stdout, /made/);
    });
  });
});
