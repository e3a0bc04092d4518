// Volumes through a real helper, as an unprivileged user: empty and host volumes, the policy's
// hostVolumes grant, sources opened with the caller's credentials, read-only all the way down,
// nosuid/nodev and locked mounts, symlinked mount targets, SELinux relabelling (file labels are
// xattrs on this kernel: helper policy selinux.mode "force-files"), and nothing left behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { lgetfilecon } from '../../src/native/selinux';
import { buildBusyboxAci, manifestFor } from '../lib/aci-builder';
import { account, REPO, TestEnv, USERS, type WardResult } from '../lib/env';

const FILE_LABEL_RE = /^system_u:object_r:container_file_t:s0:c(\d+),c(\d+)$/;

describe('pod volumes through a real helper', () => {
  const env = new TestEnv('volumes');
  const a = account(USERS.a);
  let aci = '';
  let mpAci = '';
  let etcLinkAci = '';
  let upLinkAci = '';
  let userAci = '';
  let granted = '';
  let submount = '';
  const run = (flags: string[], args: string[], image = () => aci): Promise<WardResult> =>
    env.ward('a', ['run', '--insecure-options=image', ...flags, image(), '--', ...args]);
  const sh = (flags: string[], script: string) => run(flags, ['-c', script]);
  const hostMounts = () => fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const rmAll = async () => {
    const r = await env.ward('a', ['gc', '--grace-period=0s']);
    assert.equal(r.code, 0, r.stderr);
  };
  const assertNothingLeft = () => {
    assert.deepEqual(env.podDirs(), [], 'no pod directory is left');
    assert.ok(!hostMounts().includes(env.state), 'no mount of the helper\'s state shows on the host');
  };

  before(async () => {
    granted = env.fixture('granted');
    fs.mkdirSync(granted, { mode: 0o755 });
    fs.mkdirSync(path.join(granted, 'data'), { mode: 0o755 });
    fs.writeFileSync(path.join(granted, 'data', 'hello'), 'hello from the host\n', { mode: 0o644 });
    fs.writeFileSync(path.join(granted, 'file'), 'a single file\n', { mode: 0o644 });
    fs.mkdirSync(path.join(granted, 'rootonly'), { mode: 0o700 });
    fs.writeFileSync(path.join(granted, 'rootonly', 'secret'), 'root only\n', { mode: 0o644 });
    fs.symlinkSync('/usr', path.join(granted, 'escape'));
    fs.mkdirSync(path.join(granted, 'mine'), { mode: 0o755 });
    fs.writeFileSync(path.join(granted, 'mine', 'f'), 'x', { mode: 0o644 });
    for (const p of ['mine', 'mine/f']) fs.chownSync(path.join(granted, p), a.uid, a.gid);
    fs.mkdirSync(path.join(granted, 'tree', 'sub'), { recursive: true, mode: 0o755 });
    submount = path.join(granted, 'tree', 'sub');
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'mode=0777,size=1m', 'ward-test-sub', submount], { encoding: 'utf8' });
    assert.equal(m.status, 0, m.stderr);
    fs.writeFileSync(path.join(submount, 'inner'), 'in a submount\n', { mode: 0o666 });
    // A setuid-root copy of busybox on the volume: owned by the pod's root (the caller's first subordinate id).
    fs.mkdirSync(path.join(granted, 'bin'), { mode: 0o755 });
    fs.copyFileSync('/bin/busybox', path.join(granted, 'bin', 'busybox'));
    fs.chownSync(path.join(granted, 'bin', 'busybox'), a.subuid, a.subgid);
    fs.chmodSync(path.join(granted, 'bin', 'busybox'), 0o4755);
    fs.mkdirSync(env.fixture('other'), { mode: 0o755 });

    const base = JSON.parse(fs.readFileSync(path.join(REPO, 'policies', 'helper.json'), 'utf8')) as { groups: Record<string, Record<string, unknown>> };
    base.groups.ward!.hostVolumes = [granted, '/etc'];
    const policy = path.join(env.dir, 'policy.json');
    fs.writeFileSync(policy, JSON.stringify({ ...base, selinux: { mode: 'force-files', requireEnforcing: false, allowOff: false } }), { mode: 0o600 });

    aci = env.fixture('busybox.aci');
    await buildBusyboxAci(aci);
    mpAci = env.fixture('mp.aci');
    const mf = manifestFor({ name: 'example.com/mp' }) as { app: Record<string, unknown> };
    mf.app.mountPoints = [{ name: 'data', path: '/srv/data', readOnly: true }];
    await buildBusyboxAci(mpAci, { manifest: mf });
    etcLinkAci = env.fixture('etc-link.aci');
    await buildBusyboxAci(etcLinkAci, { name: 'example.com/etc-link', entries: [{ name: 'rootfs/data', type: 'symlink', linkname: '/etc' }] });
    upLinkAci = env.fixture('up-link.aci');
    await buildBusyboxAci(upLinkAci, { name: 'example.com/up-link', entries: [{ name: 'rootfs/data', type: 'symlink', linkname: '../../..' }] });
    userAci = env.fixture('user.aci');
    await buildBusyboxAci(userAci, { name: 'example.com/user', user: '1000', group: '1000' });
    await env.start(['--policy', policy]);
  });

  after(async () => {
    if (submount) spawnSync('umount', [submount]);
    await env.stop();
  });

  test('an empty volume: the mode and ids asked for, writable by the app, removed with the pod', async () => {
    const uuidFile = path.join(env.dir, 'users', USERS.a, 'uuid');
    const r = await sh(['--uuid-file-save', uuidFile, '--volume', 'scratch,kind=empty,mode=0770,uid=5,gid=6', '--mount', 'volume=scratch,target=/scratch/here'],
      'stat -c "%a %u %g" /scratch/here && echo written > /scratch/here/f && cat /scratch/here/f');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '770 5 6\nwritten\n');
    const uuid = fs.readFileSync(uuidFile, 'utf8').trim();
    const dir = env.podDir(uuid)!;
    const st = fs.statSync(path.join(dir, 'volumes', 'scratch'));
    assert.deepEqual([st.mode & 0o7777, st.uid, st.gid], [0o770, a.subuid + 5, a.subgid + 6], 'owned by the pod\'s mapped ids');
    assert.match(lgetfilecon(path.join(dir, 'volumes', 'scratch')) ?? '', FILE_LABEL_RE, 'the pod\'s own label');
    const rm = await env.ward('a', ['rm', uuid]);
    assert.equal(rm.code, 0, rm.stderr);
    assertNothingLeft();
  });

  test('an app\'s own --mount (after its image) is its alone; two mounts at one target are refused', async () => {
    const uuidFile = path.join(env.dir, 'users', USERS.a, 'uuid-own-mount');
    const r = await env.ward('a', ['run', '--insecure-options=image', '--uuid-file-save', uuidFile, '--volume', 'shared,kind=empty',
      aci, '--name', 'first', '--', '-c', 'test -e /shared && echo first sees it || echo first does not',
      '---', aci, '--name', 'second', '--mount', 'volume=shared,target=/shared', '--', '-c', 'echo hi > /shared/f && cat /shared/f']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^first does not$/m);
    assert.match(r.stdout, /^hi$/m);
    assert.equal((await env.ward('a', ['rm', fs.readFileSync(uuidFile, 'utf8').trim()])).code, 0);
    const twice = await env.ward('a', ['run', '--insecure-options=image', '--volume', 'x,kind=empty', '--volume', 'y,kind=empty', '--mount', 'volume=x,target=/data',
      aci, '--mount', 'volume=y,target=/data', '--', '-c', 'true']);
    assert.equal(twice.code, 253, twice.stderr);
    assert.match(twice.stderr, /^ward: --mount: the app of image example\.com\/busybox would get volumes x and y both at \/data; give each mount its own target\n$/);
    const bad = await env.ward('a', ['run', '--insecure-options=image', '--volume', 'x,kind=empty', aci, '--mount', 'volume=x', '--', '-c', 'true']);
    assert.equal(bad.code, 253, bad.stderr);
    assert.match(bad.stderr, /^ward: --mount volume=x: target=\/PATH is required \(for image .*busybox\.aci\)\n$/);
    assertNothingLeft();
  });

  test('a host volume the caller can read shows its files; a file volume is mounted on a file', async () => {
    const r = await sh(['--volume', `data,kind=host,source=${granted}/data`, '--mount', 'volume=data,target=/data', '--volume', `one,kind=host,source=${granted}/file`, '--mount', 'volume=one,target=/etc/one'],
      'cat /data/hello /etc/one && test -f /etc/one');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello from the host\na single file\n');
    const audit = fs.readFileSync(path.join(env.state, 'audit.log'), 'utf8');
    assert.ok(audit.includes(`volumes data=host:${JSON.stringify(JSON.stringify(`${granted}/data`)).slice(1, -1)},one=host:`), 'the audit record names the volumes');
    await rmAll();
    assertNothingLeft();
  });

  test('an image\'s mount point takes the volume of its name (read-only as the image says)', async () => {
    const r = await run(['--volume', `data,kind=host,source=${granted}/data`], ['-c', 'cat /srv/data/hello; echo x > /srv/data/new'], () => mpAci);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout, /hello from the host/);
    assert.match(r.stderr, /Read-only file system/);
    assert.ok(!fs.existsSync(path.join(granted, 'data', 'new')));
    await rmAll();
  });

  test('a host path the caller cannot read is refused, although root could read it', async () => {
    fs.accessSync(path.join(granted, 'rootonly'), fs.constants.R_OK); // root can
    const r = await sh(['--volume', `s,kind=host,source=${granted}/rootonly`, '--mount', 'volume=s,target=/s'], 'cat /s/secret');
    assert.equal(r.code, 252, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^ward: host volume s: cannot use .*rootonly: you may not read it \(checked with your own credentials\)/);
    assert.doesNotMatch(r.stdout, /root only/);
    assertNothingLeft();
  });

  test('a host path outside the policy grant is refused, also when a granted symlink leads out', async () => {
    let r = await sh(['--volume', `o,kind=host,source=${env.fixture('other')}`, '--mount', 'volume=o,target=/o'], 'true');
    assert.equal(r.code, 252, r.stderr);
    assert.match(r.stderr, /^ward: host volume o: helper policy does not allow you to mount .*other \(hostVolumes\)/);
    r = await sh(['--volume', `e,kind=host,source=${granted}/escape/share`, '--mount', 'volume=e,target=/e'], 'true');
    assert.equal(r.code, 252, r.stderr);
    assert.match(r.stderr, /escape\/share leads to \/usr\/share, which helper policy does not allow you to mount/);
    assertNothingLeft();
  });

  test('readOnly refuses writes, also in a submount below the volume; without it the submount is there and writable', async () => {
    const flags = ['--volume', `t,kind=host,source=${granted}/tree,readOnly=true`, '--mount', 'volume=t,target=/t'];
    let r = await sh(flags, 'cat /t/sub/inner; echo x > /t/top; echo x > /t/sub/inner2; echo done');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'in a submount\ndone\n');
    assert.equal((r.stderr.match(/Read-only file system/g) ?? []).length, 2, r.stderr);
    assert.ok(!fs.existsSync(path.join(granted, 'tree', 'top')) && !fs.existsSync(path.join(submount, 'inner2')));
    r = await sh(['--volume', `t,kind=host,source=${granted}/tree`, '--mount', 'volume=t,target=/t'], 'echo y > /t/sub/inner2 && cat /t/sub/inner2');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(submount, 'inner2'), 'utf8'), 'y\n');
    fs.rmSync(path.join(submount, 'inner2'));
    r = await sh(['--volume', `t,kind=host,source=${granted}/tree,recursive=false`, '--mount', 'volume=t,target=/t'], 'ls /t/sub | wc -l');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '0', 'recursive=false leaves submounts out');
    await rmAll();
    assertNothingLeft();
  });

  test('host volumes are nosuid and nodev: a setuid binary on one gains nothing', async () => {
    const r = await sh(['--volume', `b,kind=host,source=${granted}/bin`, '--mount', 'volume=b,target=/vbin'],
      'grep " /vbin " /proc/self/mountinfo; /vbin/busybox id -u');
    assert.equal(r.code, 0, r.stderr);
    const [line, uid] = r.stdout.trim().split('\n');
    const opts = line!.split(' ')[5]!.split(',');
    assert.ok(opts.includes('nosuid') && opts.includes('nodev'), line);
    assert.equal(uid, '0', 'the app runs as root of the pod anyway');
    // As a pod user other than root the setuid bit (to the pod's root) must not apply (ward's
    // no_new_privs would also stop it: the mount flags above are the property itself).
    const r2 = await run(['--volume', `b,kind=host,source=${granted}/bin`, '--mount', 'volume=b,target=/vbin'], ['-c', '/vbin/busybox id -u'], () => userAci);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(r2.stdout, '1000\n');
    await rmAll();
  });

  test('the pod cannot make a read-only volume writable: its mount is locked even with CAP_SYS_ADMIN in the pod\'s user namespace', async () => {
    const r = await env.ward('a', ['run', '--insecure-options=image', '--detach', '--volume', `d,kind=host,source=${granted}/data,readOnly=true`, '--mount', 'volume=d,target=/d', aci, '--', '-c', 'sleep 60']);
    assert.equal(r.code, 0, r.stderr);
    const uuid = r.stdout.trim();
    try {
      const status = await env.ward('a', ['status', '--format=json', uuid]);
      const stage1 = (JSON.parse(status.stdout) as { pid: number }).pid;
      const init = Number(fs.readFileSync(`/proc/${stage1}/task/${stage1}/children`, 'utf8').trim().split(' ')[0]);
      // The app (pod init's child), in its own mount namespace, where the volume is mounted.
      const app = Number(fs.readFileSync(`/proc/${init}/task/${init}/children`, 'utf8').trim().split(' ')[0]);
      const enter = (cmd: string) => spawnSync('nsenter', ['-t', String(app), '-U', '-m', '-p', '-r', '-w', '--', '/bin/busybox', 'sh', '-c', cmd], { encoding: 'utf8' });
      // The control: root of the pod's user namespace may remount what the pod mounted itself.
      const control = enter('mount -o remount,bind,ro /dev/shm && grep " /dev/shm " /proc/self/mountinfo');
      assert.equal(control.status, 0, control.stderr);
      assert.match(control.stdout, / \/dev\/shm ro,/);
      const locked = enter('mount -o remount,bind,rw /d; echo x > /d/new; grep " /d " /proc/self/mountinfo');
      assert.match(locked.stderr, /mount: .*(Operation not permitted|Permission denied)/i);
      assert.match(locked.stderr, /Read-only file system/);
      assert.match(locked.stdout, / \/d ro,/);
      assert.ok(!fs.existsSync(path.join(granted, 'data', 'new')));
    } finally {
      await env.ward('a', ['stop', '--force', uuid]);
      await env.ward('a', ['status', '--wait', uuid]);
      await rmAll();
    }
    assertNothingLeft();
  });

  test('a mount target through a symlink in the image is refused, naming it, and nothing is left', async () => {
    const flags = ['--volume', 'x,kind=empty', '--mount', 'volume=x,target=/data'];
    let r = await run(flags, ['-c', 'true'], () => etcLinkAci);
    assert.equal(r.code, 254, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /mount target \/data: \/data is a symlink in the image; ward never mounts through a symlink \(CVE-2021-30465\)/);
    r = await run(['--volume', 'x,kind=empty', '--mount', 'volume=x,target=/data/deeper/x'], ['-c', 'true'], () => upLinkAci);
    assert.equal(r.code, 254, r.stderr);
    assert.match(r.stderr, /mount target \/data\/deeper\/x: \/data is a symlink in the image/);
    assertNothingLeft();
    assert.ok(!fs.existsSync('/deeper') && !fs.existsSync('/etc/deeper'), 'nothing was made on the host');
  });

  test('malformed --volume and --mount values: one line each, usage exit status', async () => {
    const cases: [string[], RegExp][] = [
      [['--volume', 'Bad,kind=empty'], /--volume Bad,kind=empty: 'Bad' is not a volume name/],
      [['--volume', 'v,kind=nfs'], /unknown kind 'nfs'; use host or empty/],
      [['--volume', 'v'], /kind=host or kind=empty is required/],
      [['--volume', 'v,kind=host'], /source=\/PATH is required/],
      [['--volume', 'v,kind=host,source=rel'], /source must be absolute/],
      [['--volume', 'v,kind=host,source=/a/../etc'], /source must not contain empty, "\." or "\.\." components/],
      [['--volume', 'v,kind=host,source=/x,readOnly=yes'], /readOnly must be true or false, not 'yes'/],
      [['--volume', 'v,kind=host,source=/x,selinuxRelabel=z'], /selinuxRelabel must be shared \(:z\) or private \(:Z\)/],
      [['--volume', 'v,kind=empty,mode=999'], /mode must be octal permission bits/],
      [['--volume', 'v,kind=empty,uid=70000'], /uid must be a number from 0 to 65535/],
      [['--volume', 'v,kind=empty,source=/x'], /unknown key 'source'/],
      [['--volume', 'v,kind=empty', '--volume', 'v,kind=empty'], /--volume v: given twice/],
      [['--mount', 'volume=v,target=/x'], /--mount volume=v: the pod has no such volume/],
      [['--volume', 'v,kind=empty', '--mount', 'volume=v'], /target=\/PATH is required/],
      [['--volume', 'v,kind=empty', '--mount', 'volume=v,target=/x,extra=1'], /unknown key 'extra'/],
    ];
    for (const [flags, re] of cases) {
      const r = await sh(flags, 'true');
      assert.equal(r.code, 253, `${flags.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, re);
    }
    const r = await sh(['--volume', 'v,kind=empty', '--mount', 'volume=v,target=/proc/x'], 'true');
    assert.equal(r.code, 252, r.stderr);
    assert.match(r.stderr, /volumes cannot be mounted on \/ or inside \/proc or \/sys/);
    assertNothingLeft();
  });

  test('SELinux relabel: private gives the pod\'s own label, shared the file type at s0; /etc is refused', async () => {
    const uuidFile = path.join(env.dir, 'users', USERS.a, 'uuid-rl');
    let r = await sh(['--uuid-file-save', uuidFile, '--volume', `m,kind=host,source=${granted}/mine,selinuxRelabel=private`, '--mount', 'volume=m,target=/m'], 'cat /m/f');
    assert.equal(r.code, 0, r.stderr);
    const uuid = fs.readFileSync(uuidFile, 'utf8').trim();
    const status = await env.ward('a', ['status', '--format=json', uuid]);
    const podFile = (JSON.parse(status.stdout) as { selinux: { file: string } }).selinux.file;
    assert.match(podFile, FILE_LABEL_RE);
    for (const p of ['mine', 'mine/f']) assert.equal(lgetfilecon(path.join(granted, p)), podFile, p);
    r = await sh(['--volume', `m,kind=host,source=${granted}/mine,selinuxRelabel=shared`, '--mount', 'volume=m,target=/m'], 'true');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(lgetfilecon(path.join(granted, 'mine', 'f')), 'system_u:object_r:container_file_t:s0');
    const etcBefore = lgetfilecon('/etc');
    r = await sh(['--volume', 'e,kind=host,source=/etc,selinuxRelabel=shared', '--mount', 'volume=e,target=/e'], 'true');
    assert.equal(r.code, 252, r.stderr);
    assert.match(r.stderr, /^ward: host volume e: refusing to relabel \/etc: \/etc is a system path/);
    assert.equal(lgetfilecon('/etc'), etcBefore);
    // Relabelling what the caller does not own is refused before anything is labelled.
    const dataBefore = lgetfilecon(path.join(granted, 'data', 'hello'));
    r = await sh(['--volume', `d,kind=host,source=${granted}/data,selinuxRelabel=private`, '--mount', 'volume=d,target=/d'], 'true');
    assert.equal(r.code, 252, r.stderr);
    assert.match(r.stderr, /refusing to relabel .*data: it is owned by uid 0, not by you/);
    assert.equal(lgetfilecon(path.join(granted, 'data', 'hello')), dataBefore);
    // Mounting /etc without a relabel is what the grant allows.
    r = await sh(['--volume', 'e,kind=host,source=/etc,readOnly=true', '--mount', 'volume=e,target=/hostetc'], 'test -f /hostetc/hostname && echo ok');
    assert.equal(r.code, 0, r.stderr);
    await rmAll();
    assertNothingLeft();
  });

  test('ward cat-manifest shows the pod\'s volumes and the app\'s mounts in appc\'s shape', async () => {
    const r = await env.ward('a', ['prepare', '--insecure-options=image', '--volume', 'scratch,kind=empty,mode=0700,uid=1', '--volume', `d,kind=host,source=${granted}/data,readOnly=true`, '--mount', 'volume=scratch,target=/s', '--mount', 'volume=d,target=/d', aci]);
    assert.equal(r.code, 0, r.stderr);
    const uuid = r.stdout.trim();
    const m = await env.ward('a', ['cat-manifest', uuid]);
    const manifest = JSON.parse(m.stdout) as { volumes: unknown[]; apps: { mounts: unknown[] }[] };
    assert.deepEqual(manifest.volumes, [
      { name: 'scratch', kind: 'empty', readOnly: false, mode: '0700', uid: 1, gid: 0 },
      { name: 'd', kind: 'host', source: `${granted}/data`, readOnly: true, recursive: true },
    ]);
    assert.deepEqual(manifest.apps[0]!.mounts, [{ volume: 'scratch', path: '/s' }, { volume: 'd', path: '/d' }]);
    const run2 = await env.ward('a', ['run-prepared', uuid], {});
    assert.equal(run2.code, 0, run2.stderr);
    await rmAll();
    assertNothingLeft();
  });
});
