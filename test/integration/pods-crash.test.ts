// Crash safety of pods (DESIGN §3.9, Pods issue §8): kill -9 of ward-stage1, of the frontend and
// of the helper at each step of a pod's life (WARD_FAULT crash points), then ward gc leaves no
// mounts in the host's table, no processes, no MCS reservation and no pod state. The helper runs
// with SELinux mode force-files so every pod holds an MCS pair that must be released.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxAci } from '../lib/aci-builder';
import { REPO, TestEnv, USERS } from '../lib/env';
import { hostLeftovers, mcsHeld, stopAllAndCollect, waitFor } from '../lib/pods';

describe('pods after kill -9', () => {
  const env = new TestEnv('pods-crash');
  let aci = '';
  let policy = '';
  const ward = (args: string[], opts: Parameters<TestEnv['ward']>[2] = {}) => env.ward('a', args, opts);
  const start = (fault?: string) => {
    if (fault) process.env.WARD_FAULT = fault;
    try {
      return env.start(['--policy', policy]);
    } finally {
      delete process.env.WARD_FAULT;
    }
  };
  const statusOf = async (uuid: string, wait = false) => {
    const r = await ward(['status', '--format=json', ...(wait ? ['--wait'] : []), uuid]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { state: string; pid: number | null; apps: { exitCode: number | null }[] };
  };
  /** Stops whatever still runs, then gc: nothing of any pod may remain. */
  const gcLeavesNothing = async () => {
    await stopAllAndCollect(env);
    assert.deepEqual(mcsHeld(env), [], 'no MCS reservation');
    assert.deepEqual(hostLeftovers(env), { mounts: [], processes: [] }, 'no mounts, no processes');
  };

  before(async () => {
    const base = JSON.parse(fs.readFileSync(path.join(REPO, 'policies', 'helper.json'), 'utf8')) as Record<string, unknown>;
    policy = path.join(env.dir, 'force-files.json');
    fs.writeFileSync(policy, JSON.stringify({ ...base, selinux: { mode: 'force-files' } }), { mode: 0o600 });
    aci = env.fixture('busybox.aci');
    await buildBusyboxAci(aci);
    await start();
  });
  after(() => env.stop());

  test('kill -9 of ward-stage1: the pod shows as exited, and gc leaves nothing', async () => {
    const r = await ward(['run', '--insecure-options=image', '--detach', aci, '--', '-c', 'sleep 60']);
    assert.equal(r.code, 0, r.stderr);
    const uuid = r.stdout.trim();
    const s = await statusOf(uuid);
    assert.equal(s.state, 'running');
    assert.equal(mcsHeld(env).length, 1);
    assert.equal(fs.readFileSync(`/proc/${s.pid}/comm`, 'utf8').trim(), 'ward-stage1');
    process.kill(s.pid!, 'SIGKILL');
    const done = await statusOf(uuid, true);
    assert.equal(done.state, 'exited');
    await gcLeavesNothing();
  });

  test('kill -9 of the frontend of a foreground pod: the pod ends, and gc leaves nothing', async () => {
    const r = await ward(['run', '--insecure-options=image', aci, '--', '-c', 'echo ready; sleep 60'], {
      onSpawn: (c) => c.stdout!.once('data', () => c.kill('SIGKILL')),
    });
    assert.equal(r.signal, 'SIGKILL');
    await waitFor(() => hostLeftovers(env).processes.length === 0);
    await gcLeavesNothing();
  });

  test('kill -9 of the helper while a detached pod runs: after a restart it is found running, stopped, and gc leaves nothing', async () => {
    const r = await ward(['run', '--insecure-options=image', '--detach', aci, '--', '-c', 'sleep 60']);
    const uuid = r.stdout.trim();
    await env.killHelper();
    await start();
    assert.equal((await statusOf(uuid)).state, 'running');
    await gcLeavesNothing();
  });

  test('kill -9 of the helper under a foreground pod: the restarted helper stops the pod, whose caller is gone', async () => {
    const uuidFile = path.join(env.dir, 'users', USERS.a, 'fg.uuid');
    let ready!: () => void;
    const running = new Promise<void>((r) => (ready = r));
    const run = ward(['run', '--insecure-options=image', '--uuid-file-save', uuidFile, aci, '--', '-c', 'echo ready; sleep 60'], {
      onSpawn: (c) => c.stdout!.once('data', () => ready()),
    });
    await running;
    // The app's output comes straight from the pod; the frontend writes the file on 'started'.
    await waitFor(() => fs.existsSync(uuidFile) && fs.readFileSync(uuidFile, 'utf8').endsWith('\n'));
    const uuid = fs.readFileSync(uuidFile, 'utf8').trim();
    await env.killHelper();
    // Nobody follows the pod now; it still runs until a helper comes back (and holds the
    // frontend's stdout: the run ends when the pod does).
    const stage1 = (JSON.parse(fs.readFileSync(path.join(env.podDir(uuid)!, 'pod.json'), 'utf8')) as { stage1: { pid: number } }).stage1.pid;
    assert.equal(fs.readFileSync(`/proc/${stage1}/comm`, 'utf8').trim(), 'ward-stage1');
    await start();
    const r = await run;
    assert.notEqual(r.code, 0, 'the helper died under the run');
    const s = await statusOf(uuid, true);
    assert.equal(s.state, 'exited');
    assert.equal(s.apps[0]!.exitCode, 137, 'killed by the helper (SIGKILL)');
    const audit = fs.readFileSync(path.join(env.state, 'audit.log'), 'utf8');
    assert.match(audit, new RegExp(`stopped foreground pod ${uuid}`));
    await gcLeavesNothing();
  });

  for (const step of ['embryo', 'run-renamed', 'launched', 'started']) {
    test(`kill -9 of the helper at step ${step} of ward run: after a restart gc leaves nothing`, async () => {
      await env.killHelper();
      await start(`crash-at-${step}`);
      const helper = env.helperPid!;
      // A pod that outlived its helper still holds this ward's stdout: the run ends when it does.
      const run = ward(['run', '--insecure-options=image', aci, '--', '-c', 'sleep 60']);
      const dead = () => {
        try {
          return fs.readFileSync(`/proc/${helper}/stat`, 'utf8').includes(') Z '); // a zombie not reaped yet
        } catch {
          return true; // gone
        }
      };
      await waitFor(dead);
      assert.ok(dead(), `the helper killed itself at ${step}`);
      await env.killHelper();
      await start();
      await gcLeavesNothing();
      const r = await run;
      assert.notEqual(r.code, 0, 'the helper died under the run');
      assert.match(r.stderr, /^ward: .*helper/);
    });
  }

  test('kill -9 of the helper in the middle of gc: after a restart gc finishes the job', async () => {
    const r = await ward(['run', '--insecure-options=image', aci, '--', '-c', 'true']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(mcsHeld(env).length, 1);
    await env.killHelper();
    await start('crash-at-sweep');
    const gc = await ward(['gc', '--grace-period=0s']);
    assert.notEqual(gc.code, 0, 'the helper died under gc');
    await env.killHelper();
    await start();
    await gcLeavesNothing();
  });
});
