// The pod lifecycle through a real helper, as an unprivileged user: run in the foreground and
// detached, prepare and run-prepared, list, status, stop, rm, gc, cat-manifest, and what is
// left (or not) on the host afterwards. Each test names the property it would catch breaking.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxAci } from '../lib/aci-builder';
import { account, TestEnv, USERS } from '../lib/env';
import { hostLeftovers, waitFor } from '../lib/pods';

const APPC_CAPS = 0xa80425fbn; // the appc default set, as the spine test checks
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('pod lifecycle', () => {
  const env = new TestEnv('pods');
  let aci = '';
  const ward = (args: string[], opts: Parameters<TestEnv['ward']>[2] = {}) => env.ward('a', args, opts);
  const detach = async (script: string, extra: string[] = []) => {
    const r = await ward(['run', '--insecure-options=image', '--detach', ...extra, aci, '--', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    const uuid = r.stdout.trim();
    assert.match(uuid, UUID);
    return uuid;
  };
  const status = async (uuid: string, extra: string[] = []) => {
    const r = await ward(['status', '--format=json', ...extra, uuid]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { uuid: string; state: string; pid: number | null; apps: { name: string; exitCode: number | null; signal: string | null }[]; owner: number; started: string | null; exited: string | null; selinux: unknown; measured: boolean | null; image: string; signer: string };
  };

  before(async () => {
    await env.start();
    aci = env.fixture('busybox.aci');
    await buildBusyboxAci(aci);
  });
  after(() => env.stop());

  test('--detach returns while the pod runs; status and list show it; stop ends it; status shows the exit code', async () => {
    const uuid = await detach('trap "exit 7" TERM; while :; do sleep 0.1; done');
    const s = await status(uuid);
    assert.equal(s.state, 'running');
    assert.ok(s.pid && s.pid > 0, 'a running pod has a pid');
    assert.equal(s.owner, account(USERS.a).uid);
    assert.equal(s.apps[0]?.exitCode, null);
    const l = await ward(['list', '--format=json']);
    assert.ok((JSON.parse(l.stdout) as { uuid: string; state: string }[]).some((p) => p.uuid === uuid && p.state === 'running'));
    const table = await ward(['list', '--full']);
    assert.match(table.stdout, /^UUID\s+APP\s+IMAGE NAME\s+STATE/);
    assert.match(table.stdout, new RegExp(`${uuid}.*running`));
    const stop = await ward(['stop', uuid.slice(0, 8)]);
    assert.equal(stop.code, 0, stop.stderr);
    const done = await status(uuid, ['--wait']);
    assert.equal(done.state, 'exited');
    assert.equal(done.pid, null);
    assert.equal(done.apps[0]?.exitCode, 7);
    assert.ok(done.exited);
    const again = await ward(['stop', uuid]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /^ward: pod .* is not running \(it is exited\)\n$/);
  });

  test('stop --force kills the pod: the status shows the signal', async () => {
    const uuid = await detach('trap "" TERM; while :; do sleep 0.1; done');
    assert.equal((await ward(['stop', '--force', uuid])).code, 0);
    const done = await status(uuid, ['--wait']);
    assert.equal(done.state, 'exited');
    assert.equal(done.apps[0]?.exitCode, 137);
    assert.equal(done.apps[0]?.signal, 'SIGKILL');
  });

  test('a foreground run ends with its pod, which stays listed as exited with its status until rm', async () => {
    const file = path.join(env.dir, 'users', USERS.a, 'uuid');
    const r = await ward(['run', '--insecure-options=image', '--uuid-file-save', file, aci, '--', '-c', 'exit 3']);
    assert.equal(r.code, 3);
    const uuid = fs.readFileSync(file, 'utf8').trim();
    assert.match(uuid, UUID);
    const s = await status(uuid);
    assert.equal(s.state, 'exited');
    assert.equal(s.apps[0]?.exitCode, 3);
    assert.deepEqual(hostLeftovers(env, uuid), { mounts: [], processes: [] });
    const rm = await ward(['rm', uuid]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(env.podDir(uuid), null, 'rm removes the pod\'s state');
    const gone = await ward(['status', uuid]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /^ward: no pod [0-9a-f-]+; see ward list\n$/);
    const prefix = await ward(['status', uuid.slice(0, 8)]);
    assert.match(prefix.stderr, /^ward: no pod of yours has a uuid starting with [0-9a-f]{8}; see ward list\n$/);
  });

  test('prepare, then run-prepared: the pod runs once; a second run-prepared is refused', async () => {
    const p = await ward(['prepare', '--insecure-options=image', aci, '--', '-c', 'echo prepared ran']);
    assert.equal(p.code, 0, p.stderr);
    const uuid = p.stdout.trim();
    assert.match(uuid, UUID);
    assert.equal((await status(uuid)).state, 'prepared');
    const r = await ward(['run-prepared', uuid]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'prepared ran\n');
    const again = await ward(['run-prepared', uuid]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /^ward: pod .* is not prepared \(it is exited\); prepare another with ward prepare\n$/);
  });

  test('two concurrent run-prepared of one pod: exactly one starts it, the other gets a clear error', async () => {
    for (let round = 0; round < 3; round++) {
      const p = await ward(['prepare', '--insecure-options=image', aci, '--', '-c', 'echo ran once']);
      const uuid = p.stdout.trim();
      const [x, y] = await Promise.all([ward(['run-prepared', uuid]), ward(['run-prepared', uuid])]);
      const winners = [x, y].filter((r) => r.code === 0);
      const losers = [x, y].filter((r) => r.code !== 0);
      assert.equal(winners.length, 1, `${x.stderr} | ${y.stderr}`);
      assert.equal(winners[0]!.stdout, 'ran once\n');
      assert.equal(losers.length, 1);
      assert.equal(losers[0]!.stdout, '');
      assert.match(losers[0]!.stderr, /^ward: pod .* (is already being started by another run-prepared|is not prepared \(it is (running|exited)\)).*\n$/);
    }
  });

  test('run-prepared --detach, then cat-manifest shows the appc pod manifest', async () => {
    const p = await ward(['prepare', '--insecure-options=image', aci, '--', '-c', 'sleep 30']);
    const uuid = p.stdout.trim();
    const r = await ward(['run-prepared', '--detach', uuid]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await status(uuid)).state, 'running');
    const m = await ward(['cat-manifest', '--pretty-print', uuid]);
    assert.equal(m.code, 0, m.stderr);
    const manifest = JSON.parse(m.stdout) as { acKind: string; acVersion: string; apps: { name: string; app: { exec: string[] } }[] };
    assert.equal(manifest.acKind, 'PodManifest');
    assert.equal(manifest.acVersion, '0.8.11');
    assert.deepEqual(manifest.apps[0]?.app.exec.slice(-2), ['-c', 'sleep 30']);
    await ward(['stop', '--force', uuid]);
    await status(uuid, ['--wait']);
  });

  test('rm refuses a running pod; gc marks exited pods, then removes them after the grace period', async () => {
    const uuid = await detach('sleep 30');
    const rm = await ward(['rm', uuid]);
    assert.notEqual(rm.code, 0);
    assert.match(rm.stderr, /^ward: pod .* is running; stop it first \(ward stop .*\)\n$/);
    const gcRunning = await ward(['gc', '--grace-period=0s']);
    assert.equal(gcRunning.code, 0, gcRunning.stderr);
    assert.equal((await status(uuid)).state, 'running', 'gc leaves running pods alone');
    await ward(['stop', '--force', uuid]);
    await status(uuid, ['--wait']);
    const mark = await ward(['gc', '--mark-only']);
    assert.match(mark.stdout, new RegExp(`marked ${uuid}`));
    assert.equal((await status(uuid)).state, 'exited-garbage');
    const keep = await ward(['gc']);
    assert.doesNotMatch(keep.stdout, new RegExp(`removed ${uuid}`), 'the default grace period keeps a just-marked pod');
    assert.ok(env.podDir(uuid));
    const sweep = await ward(['gc', '--grace-period=0s']);
    assert.match(sweep.stdout, new RegExp(`removed ${uuid}`));
    assert.equal(env.podDir(uuid), null);
  });

  test('gc --expire-prepared removes old prepared pods; prepared pods younger than that stay', async () => {
    const p = await ward(['prepare', '--insecure-options=image', aci, '--', '-c', 'true']);
    const uuid = p.stdout.trim();
    await ward(['gc', '--grace-period=0s']);
    assert.equal((await status(uuid)).state, 'prepared');
    const r = await ward(['gc', '--expire-prepared=0s']);
    assert.match(r.stdout, new RegExp(`removed ${uuid}`));
    assert.equal(env.podDir(uuid), null);
  });

  test('bad durations and unknown pods are one clear line each', async () => {
    const d = await ward(['gc', '--grace-period=soon']);
    assert.equal(d.code, 253);
    assert.match(d.stderr, /^ward: --grace-period=soon: not a duration; write it like 30m, 1h30m, 45s or 0\n$/);
    const u = await ward(['status', '00000000-0000-4000-8000-000000000000']);
    assert.equal(u.code, 254);
    assert.match(u.stderr, /^ward: no pod 00000000-0000-4000-8000-000000000000; see ward list\n$/);
  });

  test('enter runs a command inside the running pod, confined as its app is', async () => {
    const uuid = await detach('echo from-the-app > /tmp/mark; sleep 60');
    await waitFor(() => fs.existsSync(path.join(env.podDir(uuid)!, 'apps', 'busybox', 'upper', 'tmp', 'mark')));
    const r = await ward(['enter', uuid, '--', '/bin/sh', '-c', 'hostname; cat /tmp/mark; cat /proc/1/comm; cat /proc/self/uid_map; id -u; grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; exit 6']);
    assert.equal(r.code, 6, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => l.trim());
    assert.equal(lines[0], `ward-${uuid}`, 'the pod\'s uts namespace');
    assert.equal(lines[1], 'from-the-app', 'the pod\'s mount namespace and root');
    assert.equal(lines[2], 'ward-stage1', 'the pod\'s pid namespace: pid 1 is its init');
    assert.deepEqual(lines[3]!.split(/\s+/).map(Number), [0, account(USERS.a).subuid, 65536], 'the pod\'s user namespace');
    assert.equal(lines[4], '0');
    const f = Object.fromEntries(lines.slice(5).map((l) => l.split(/:\s+/)));
    assert.equal(BigInt('0x' + f.CapEff), APPC_CAPS);
    assert.equal(BigInt('0x' + f.CapBnd), APPC_CAPS);
    assert.equal(f.NoNewPrivs, '1');
    assert.equal(f.Seccomp, '2');
    const denied = await ward(['enter', uuid, '--', '/bin/sh', '-c', 'cat /proc/1/environ >/dev/null 2>&1 || echo no-init-memory; ls /proc/1/root >/dev/null 2>&1 || echo no-init-root']);
    assert.match(denied.stdout, /no-init-memory/);
    const bad = await ward(['enter', '--app', 'nope', uuid]);
    assert.equal(bad.code, 254);
    assert.match(bad.stderr, /^ward: pod [0-9a-f-]+ has no app nope; its apps: busybox\n$/);
    await ward(['stop', '--force', uuid]);
    await status(uuid, ['--wait']);
    const gone = await ward(['enter', uuid, '--', '/bin/true']);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /^ward: pod .* is not running \(it is exited\); only running pods can be entered\n$/);
  });

  test('export: an exited pod\'s root filesystem as an ACI that runs again; running pods and others\' pods are refused', async () => {
    const uuid = await detach('echo written-in-the-pod > /made-here; chown 123:456 /made-here; rm /bin/false; sleep 60');
    const file = path.join(env.dir, 'users', USERS.a, 'pod.aci');
    await waitFor(() => fs.existsSync(path.join(env.podDir(uuid)!, 'apps', 'busybox', 'upper', 'made-here')));
    const running = await ward(['export', uuid, file]);
    assert.equal(running.code, 254);
    assert.match(running.stderr, /^ward: pod .* is running; only exited pods can be exported \(stop it first\)\n$/);
    const other = await env.ward('b', ['export', uuid, path.join(env.dir, 'users', USERS.b, 'x.aci')]);
    assert.equal(other.code, 252);
    assert.match(other.stderr, /^ward: pod [0-9a-f-]+ is not yours: only its owner or a member of group ward-admin may see it\n$/);
    await ward(['stop', '--force', uuid]);
    await status(uuid, ['--wait']);
    const mountsBefore = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    const r = await ward(['export', uuid, file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync('/proc/self/mountinfo', 'utf8'), mountsBefore, 'the export mount never enters the host\'s table');
    const listing = (await import('node:child_process')).spawnSync('tar', ['-tvf', file], { encoding: 'utf8' }).stdout;
    assert.match(listing, /^-rw-r--r-- 0\/0 .* manifest$/m);
    assert.match(listing, /^-\S+ 123\/456 .* rootfs\/made-here$/m, 'the pod\'s ids, not the host\'s');
    assert.doesNotMatch(listing, /rootfs\/bin\/false$/m, 'what the pod removed is not exported');
    assert.match(listing, /rootfs\/bin\/busybox$/m);
    const again = await ward(['run', '--insecure-options=image', file, '--', '-c', 'cat /made-here; stat -c %u:%g /made-here']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'written-in-the-pod\n123:456\n');
    const exists = await ward(['export', uuid, file]);
    assert.equal(exists.code, 253);
    assert.match(exists.stderr, /exists; pass --overwrite/);
  });

  test('a helper restart finds detached pods still running, and they can be stopped', async () => {
    const uuid = await detach('trap "exit 9" TERM; while :; do sleep 0.1; done');
    await env.stopHelper();
    await env.start();
    const s = await status(uuid);
    assert.equal(s.state, 'running');
    assert.equal((await ward(['stop', uuid])).code, 0);
    const done = await status(uuid, ['--wait']);
    assert.equal(done.state, 'exited');
    assert.equal(done.apps[0]?.exitCode, 9);
  });

  test('gc leaves nothing: no pod state, no mounts, no processes, no MCS reservation', async () => {
    const r = await ward(['gc', '--grace-period=0s', '--expire-prepared=0s']);
    assert.equal(r.code, 0, r.stderr);
    await waitFor(() => env.podDirs().length === 0);
    assert.deepEqual(env.podDirs(), []);
    assert.deepEqual(hostLeftovers(env), { mounts: [], processes: [] });
  });
});
