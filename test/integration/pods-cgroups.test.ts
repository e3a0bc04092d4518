// Pods in cgroups through a real helper, as an unprivileged user, on this machine's hierarchies
// (hybrid here: v1 memory, cpu and pids): a cgroup per pod with a supervisor leaf (ward-stage1
// and pod init) and a leaf per app; --memory and an OOM kill that status reports; --cpu as the
// CFS quota; the image's own isolators; a fork bomb held at the pids limit; an app that cannot
// leave its cgroup; nothing left after stop and gc.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxAci, manifestFor } from '../lib/aci-builder';
import { TestEnv } from '../lib/env';
import { hostLeftovers, stopAllAndCollect, waitFor } from '../lib/pods';
import { netLeftovers, NOTHING_LEFT } from '../lib/pods-net';

const PIDS_MAX = 24;

interface Status {
  state: string;
  pid: number | null;
  apps: { name: string; exitCode: number | null; signal: string | null; oomKilled?: boolean }[];
}

/** The dir of a pod's cgroup (or one of its leaves) in the hierarchy that has the controller. */
function cgroupDir(env: TestEnv, controller: 'memory' | 'cpu' | 'pids', uuid: string, leaf = ''): string {
  const dirs = env.cgroupParentDirs();
  const v2 = dirs.find((d) => fs.existsSync(path.join(d, '..', 'cgroup.controllers')) && fs.readFileSync(path.join(d, '..', 'cgroup.controllers'), 'utf8').includes(controller));
  const v1 = dirs.find((d) => path.basename(path.dirname(d)).split(',').includes(controller));
  const base = v1 ?? v2;
  assert.ok(base, `a hierarchy with ${controller} holds the env's cgroup parent: ${dirs.join(' ')}`);
  return path.join(base, uuid, leaf);
}

function procsOf(dir: string): number[] {
  return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
}

describe('pods in cgroups', () => {
  const env = new TestEnv('pods-cgroups');
  let aci = '';
  let limited = '';
  const ward = (args: string[], opts: Parameters<TestEnv['ward']>[2] = {}) => env.ward('a', args, opts);
  const detach = async (args: string[], script: string, image = aci) => {
    const r = await ward(['run', '--insecure-options=image', '--detach', ...args, image, '--', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  const statusOf = async (uuid: string, wait = false): Promise<Status> => {
    const r = await ward(['status', '--format=json', ...(wait ? ['--wait'] : []), uuid]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Status;
  };
  const gcLeavesNothing = async () => {
    await stopAllAndCollect(env);
    assert.deepEqual(netLeftovers(env), NOTHING_LEFT, 'no cgroup dirs');
  };

  before(async () => {
    await env.start(['--pids-max', String(PIDS_MAX)]);
    aci = env.fixture('busybox.aci');
    await buildBusyboxAci(aci, { entries: [{ name: 'rootfs/bin/seq', type: 'symlink', linkname: 'busybox' }] });
    // An image asking for its own limits (appc resource isolators).
    const manifest = manifestFor({ name: 'example.com/limited' }) as { app: Record<string, unknown> };
    manifest.app.isolators = [
      { name: 'resource/memory', value: { limit: '64Mi' } },
      { name: 'resource/cpu', value: { limit: '250m' } },
    ];
    limited = env.fixture('limited.aci');
    await buildBusyboxAci(limited, { manifest });
  });
  after(() => env.stop());

  test('stage1 and pod init sit in the supervisor leaf, the app in its own leaf, which it sees as its cgroup root', async () => {
    const uuid = await detach([], 'cat /proc/self/cgroup > /tmp/cg; ls /proc/self/fd > /tmp/fds; sleep 60');
    const s = await statusOf(uuid);
    const sup = procsOf(cgroupDir(env, 'memory', uuid, 'supervisor'));
    assert.ok(sup.includes(s.pid!), `ward-stage1 ${s.pid} in the supervisor leaf (${sup.join(' ')})`);
    const appDir = cgroupDir(env, 'memory', uuid, 'app-busybox');
    await waitFor(() => procsOf(appDir).length >= 1);
    const app = procsOf(appDir);
    assert.ok(app.length >= 1, 'the app in the app leaf');
    for (const pid of app) assert.ok(!sup.includes(pid));
    // Inside: every hierarchy's path is "/" (the app's cgroup namespace is rooted at its leaf).
    const r = await ward(['enter', uuid, '/bin/cat', '/tmp/cg']);
    assert.equal(r.code, 0, r.stderr);
    for (const line of r.stdout.trim().split('\n')) assert.match(line, /:\/$/, `no path above the app's leaf: ${line}`);
    // An entered command joins the app's leaf too (it counts against the app's limits): seen
    // from the pod's cgroup namespace, rooted at the supervisor leaf, it is the app leaf beside it.
    const entered = await ward(['enter', uuid, '/bin/cat', '/proc/self/cgroup']);
    assert.equal(entered.code, 0, entered.stderr);
    assert.match(entered.stdout, /^\d+:memory:\/\.\.\/app-busybox$/m, entered.stdout);
    assert.match(entered.stdout, /^\d+:pids:\/\.\.\/app-busybox$/m, entered.stdout);
    // The cgroup fds stage1 was given are closed before the app runs: only stdio (and ls's own dir fd).
    const fds = await ward(['enter', uuid, '/bin/cat', '/tmp/fds']);
    assert.equal(fds.stdout, '0\n1\n2\n3\n');
    // The cgroup files are the host's root's: nothing in the pod can move itself out.
    const st = fs.statSync(path.join(appDir, 'cgroup.procs'));
    assert.equal(st.uid, 0);
    assert.equal(st.mode & 0o022, 0);
    await gcLeavesNothing();
  });

  test('--memory: an app allocating beyond it is OOM-killed and status says so', async () => {
    const r = await ward(['run', '--insecure-options=image', '--memory=32M', aci, '--', '-c', 'dd if=/dev/zero of=/dev/null bs=96M count=1; echo after $?']);
    assert.match(r.stdout, /^after 137$/m, 'dd was killed (SIGKILL)');
    const pods = JSON.parse((await ward(['list', '--format=json'])).stdout) as { uuid: string }[];
    const s = await statusOf(pods[pods.length - 1]!.uuid);
    assert.equal(s.state, 'exited');
    assert.equal(s.apps[0]?.oomKilled, true, JSON.stringify(s));
    const table = await ward(['status', pods[pods.length - 1]!.uuid]);
    assert.match(table.stdout, /oom-killed/);
    await gcLeavesNothing();
  });

  test('an app within its memory limit is not reported OOM-killed', async () => {
    const r = await ward(['run', '--insecure-options=image', '--memory=64M', aci, '--', '-c', 'dd if=/dev/zero of=/dev/null bs=1M count=8 2>/dev/null; echo ok']);
    assert.equal(r.code, 0, r.stderr);
    const pods = JSON.parse((await ward(['list', '--format=json'])).stdout) as { uuid: string }[];
    const s = await statusOf(pods[pods.length - 1]!.uuid);
    assert.notEqual(s.apps[0]?.oomKilled, true);
    await gcLeavesNothing();
  });

  test('--memory and --cpu set the app leaf\'s limits; the image\'s isolators apply when no flag overrides them', async () => {
    const uuid = await detach(['--memory=48Mi', '--cpu=500m'], 'sleep 60');
    assert.equal(fs.readFileSync(path.join(cgroupDir(env, 'memory', uuid, 'app-busybox'), 'memory.limit_in_bytes'), 'utf8').trim(), String(48 * 2 ** 20));
    assert.equal(fs.readFileSync(path.join(cgroupDir(env, 'cpu', uuid, 'app-busybox'), 'cpu.cfs_quota_us'), 'utf8').trim(), '50000');
    assert.equal(fs.readFileSync(path.join(cgroupDir(env, 'cpu', uuid, 'app-busybox'), 'cpu.cfs_period_us'), 'utf8').trim(), '100000');
    const img = await detach([], 'sleep 60', limited);
    assert.equal(fs.readFileSync(path.join(cgroupDir(env, 'memory', img, 'app-limited'), 'memory.limit_in_bytes'), 'utf8').trim(), String(64 * 2 ** 20));
    assert.equal(fs.readFileSync(path.join(cgroupDir(env, 'cpu', img, 'app-limited'), 'cpu.cfs_quota_us'), 'utf8').trim(), '25000');
    const over = await detach(['--cpu=1'], 'sleep 60', limited);
    assert.equal(fs.readFileSync(path.join(cgroupDir(env, 'cpu', over, 'app-limited'), 'cpu.cfs_quota_us'), 'utf8').trim(), '100000');
    await gcLeavesNothing();
  });

  test('an app\'s own --memory and --cpu (after its image) are its alone, over the pod-level ones', async () => {
    const r = await ward(['run', '--insecure-options=image', '--detach', '--memory=96Mi', aci, '--name', 'first', '--', '-c', 'sleep 60',
      '---', aci, '--name', 'second', '--memory', '64Mi', '--cpu=250m', '--', '-c', 'sleep 60']);
    assert.equal(r.code, 0, r.stderr);
    const uuid = r.stdout.trim();
    const read = (c: 'memory' | 'cpu', app: string, file: string) => fs.readFileSync(path.join(cgroupDir(env, c, uuid, `app-${app}`), file), 'utf8').trim();
    assert.equal(read('memory', 'second', 'memory.limit_in_bytes'), String(64 * 2 ** 20));
    assert.equal(read('cpu', 'second', 'cpu.cfs_quota_us'), '25000');
    assert.equal(read('memory', 'first', 'memory.limit_in_bytes'), String(96 * 2 ** 20), 'the pod-level limit where the app has none of its own');
    assert.equal(read('cpu', 'first', 'cpu.cfs_quota_us'), '-1', 'no CPU limit for the first app');
    const bad = await ward(['run', '--insecure-options=image', aci, '--', '-c', 'true', '---', aci, '--name', 'x', '--cpu=fast', '--', '-c', 'true']);
    assert.equal(bad.code, 253, bad.stderr);
    assert.match(bad.stderr, new RegExp(`^ward: --cpu for image ${aci.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: fast: expected cores`));
    await gcLeavesNothing();
  });

  test('bad --memory and --cpu are refused before anything is made', async () => {
    for (const [flag, msg] of [['--memory=lots', /^ward: --memory lots: expected bytes/], ['--memory=1k', /at least 4Mi/], ['--cpu=fast', /^ward: --cpu fast: expected cores/]] as const) {
      const r = await ward(['run', '--insecure-options=image', flag, aci, '--', '-c', 'true']);
      assert.equal(r.code, 253, r.stderr);
      assert.match(r.stderr, msg);
    }
    assert.deepEqual(env.podDirs(), []);
  });

  test('a fork bomb stops at the pods limit', async () => {
    // In a subshell: a shell whose fork fails may give up, the pod must go on to be looked at.
    const uuid = await detach([], `(for i in $(seq 1 ${PIDS_MAX * 3}); do sleep 60 & done) 2>/tmp/err; sleep 60`);
    const pidsDir = cgroupDir(env, 'pids', uuid);
    assert.equal(fs.readFileSync(path.join(pidsDir, 'pids.max'), 'utf8').trim(), String(PIDS_MAX));
    await waitFor(() => Number(fs.readFileSync(path.join(pidsDir, 'pids.current'), 'utf8')) >= PIDS_MAX);
    const current = Number(fs.readFileSync(path.join(pidsDir, 'pids.current'), 'utf8'));
    assert.ok(current <= PIDS_MAX, `${current} processes, limit ${PIDS_MAX}`);
    await gcLeavesNothing();
  });

  test('at the pids limit forks fail in the pod', async () => {
    const r = await ward(['run', '--insecure-options=image', aci, '--', '-c', `(for i in $(seq 1 ${PIDS_MAX * 3}); do sleep 5 & done) 2>&1 | head -n 1; echo done`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /can't fork: Resource temporarily unavailable\ndone\n$/);
    await gcLeavesNothing();
  });
});
