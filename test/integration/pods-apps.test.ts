// Pods of several apps (rkt's model), through a real helper, as an unprivileged user: the apps
// share the pod's pid namespace but each has its own root; every app's exit status shows; stop
// reaches every app; --readonly-rootfs; appc pre-start and post-stop handlers; enter --app; and
// what a failure or a kill -9 leaves (nothing, once gc ran). The requests are raw run frames sent
// as the user (the frontend's syntax for several apps is its own piece).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxAci } from '../lib/aci-builder';
import { REPO, TestEnv } from '../lib/env';
import { hostLeftovers, mcsHeld, waitFor } from '../lib/pods';
import { RawClient } from '../lib/raw-client';
import type { PodRecord } from '../../src/schema/pod';
import type { AppSpec } from '../../src/schema/protocol';

type Base = PodRecord['apps'][number];
interface Status { uuid: string; state: string; pid: number | null; apps: { name: string; exitCode: number | null; signal: string | null }[] }

describe('pods of several apps', () => {
  const env = new TestEnv('pods-apps');
  let aci = '';
  let base: Base;
  let policy = '';
  const startHelper = async (fault?: string) => {
    if (fault) process.env.WARD_FAULT = fault;
    try {
      await env.start(['--policy', policy]);
    } finally {
      delete process.env.WARD_FAULT;
    }
  };
  const ward = (args: string[], opts: Parameters<TestEnv['ward']>[2] = {}) => env.ward('a', args, opts);
  const status = async (uuid: string, wait = false): Promise<Status> => {
    const r = await ward(['status', '--format=json', ...(wait ? ['--wait'] : []), uuid]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Status;
  };
  /** An app of the test image running `sh -c script`, with extra AppSpec fields. */
  const app = (script: string, extra: Partial<AppSpec> = {}) => ({ tree: base.tree, image: base.image, app: { ...base.spec, exec: ['/bin/sh', '-c', script], ...extra } });
  let outN = 0;

  /**
   * Sends a raw run request of these apps as ward-test-a, stdout and stderr to a fresh file.
   * Foreground: resolves once the pod has ended; detached: once it has started.
   */
  const rawRun = async (apps: ReturnType<typeof app>[], detach = false) => {
    const out = path.join(env.dir, `out-${outN++}`);
    const fds = [fs.openSync('/dev/null', 'r'), fs.openSync(out, 'w', 0o644), fs.openSync(out, 'a')];
    const c = RawClient.connect(env.socket, 'a');
    try {
      c.send({ verb: 'run', apps, insecureOptions: ['image'], ...(detach ? { detach: true } : {}) }, fds);
      for (const fd of fds) fs.closeSync(fd);
      const events: Record<string, unknown>[] = [];
      for (;;) {
        const r = await c.recv(60_000);
        if (r.kind !== 'frame') break;
        const ev = r.json as Record<string, unknown>;
        events.push(ev);
        if (ev.ok === false || ev.event === 'exited' || (detach && ev.event === 'started')) break;
      }
      return { events, out: () => fs.readFileSync(out, 'utf8'), uuid: (events.find((e) => e.uuid)?.uuid ?? null) as string | null };
    } finally {
      c.close();
    }
  };
  const nothingLeft = async (what: string) => {
    await waitFor(() => hostLeftovers(env).processes.length === 0 && env.podDirs().length === 0);
    assert.deepEqual(env.podDirs(), [], `${what}: no pod state`);
    assert.deepEqual(mcsHeld(env), [], `${what}: no MCS reservation`);
    assert.deepEqual(hostLeftovers(env), { mounts: [], processes: [] }, `${what}: no mounts, no processes`);
  };
  const gcAll = async () => {
    const gc = await ward(['gc', '--grace-period=0s', '--expire-prepared=0s']);
    assert.equal(gc.code, 0, gc.stderr);
  };

  before(async () => {
    // force-files: every pod holds an MCS pair and labels each app's dirs; all must go again.
    const pol = JSON.parse(fs.readFileSync(path.join(REPO, 'policies', 'helper.json'), 'utf8')) as Record<string, unknown>;
    policy = path.join(env.dir, 'force-files.json');
    fs.writeFileSync(policy, JSON.stringify({ ...pol, selinux: { mode: 'force-files' } }), { mode: 0o600 });
    await startHelper();
    aci = env.fixture('busybox.aci');
    await buildBusyboxAci(aci);
    const p = await ward(['prepare', '--insecure-options=image', aci, '--', '-c', 'true']);
    assert.equal(p.code, 0, p.stderr);
    const uuid = p.stdout.trim();
    base = (JSON.parse(fs.readFileSync(path.join(env.podDir(uuid)!, 'pod.json'), 'utf8')) as PodRecord).apps[0]!;
    assert.equal((await ward(['rm', uuid])).code, 0);
  });
  after(() => env.stop());

  test('two apps share the pid namespace, each sees only its own root, and both exit statuses show', async () => {
    const r = await rawRun([
      app('touch /root-of-first; exec sleep 1001'),
      app([
        'touch /root-of-second',
        // The first app's process, seen through the shared pid namespace, and killed from here.
        'for i in $(seq 200); do for p in /proc/[0-9]*; do [ "$(cat $p/cmdline 2>/dev/null | tr "\\0" " ")" = "sleep 1001 " ] && pid=${p#/proc/}; done; [ -n "$pid" ] && break; sleep 0.05; done',
        '[ -n "$pid" ] && echo second-sees-first',
        '[ -e /root-of-first ] && echo second-sees-first-root || echo second-has-own-root',
        'kill $pid; exit 4',
      ].join('\n')),
    ]);
    assert.deepEqual(r.events.map((e) => e.event ?? e.code), ['started', 'exited'], JSON.stringify(r.events) + env.helperLog);
    assert.equal(r.out(), 'second-sees-first\nsecond-has-own-root\n');
    const exited = r.events[1]!;
    assert.equal(exited.code, 143, 'the pod\'s exit is its first app\'s (killed by SIGTERM)');
    const s = await status(r.uuid!);
    assert.equal(s.state, 'exited');
    assert.deepEqual(s.apps.map((a) => [a.name, a.exitCode, a.signal]), [['busybox', 143, 'SIGTERM'], ['busybox-2', 4, null]]);
    const m = await ward(['cat-manifest', r.uuid!]);
    assert.deepEqual((JSON.parse(m.stdout) as { apps: { name: string }[] }).apps.map((a) => a.name), ['busybox', 'busybox-2']);
    assert.ok(fs.existsSync(path.join(env.podDir(r.uuid!)!, 'apps', 'busybox', 'upper', 'root-of-first')));
    assert.ok(!fs.existsSync(path.join(env.podDir(r.uuid!)!, 'apps', 'busybox', 'upper', 'root-of-second')), 'each app writes its own upper dir');
  });

  test('ward stop sends SIGTERM to every app; the pod ends with the last', async () => {
    const r = await rawRun([
      app('trap "exit 7" TERM; while :; do sleep 0.1; done'),
      app('trap "exit 8" TERM; while :; do sleep 0.1; done'),
    ], true);
    assert.equal(r.events[0]?.event, 'started', JSON.stringify(r.events));
    const uuid = r.uuid!;
    assert.equal((await status(uuid)).state, 'running');
    assert.equal((await ward(['stop', uuid])).code, 0);
    const s = await status(uuid, true);
    assert.equal(s.state, 'exited');
    assert.deepEqual(s.apps.map((a) => a.exitCode), [7, 8]);
  });

  test('--readonly-rootfs: that app cannot write its root (its /dev/shm stays writable); the other app can', async () => {
    const r = await rawRun([
      app('touch /x 2>&1 || echo refused; touch /dev/shm/y && echo shm-ok', { readonlyRootfs: true }),
      app('sleep 0.3; touch /x && echo other-wrote'),
    ]);
    assert.equal(r.events[1]?.event, 'exited', JSON.stringify(r.events));
    assert.match(r.out(), /Read-only file system\nrefused\nshm-ok\nother-wrote\n$/);
    const m = await ward(['cat-manifest', r.uuid!]);
    assert.equal((JSON.parse(m.stdout) as { apps: { readOnlyRootFS?: boolean }[] }).apps[0]!.readOnlyRootFS, true);
  });

  test('pre-start runs before the app, in its root, confined as it; post-stop runs after it', async () => {
    const handlers = [
      { name: 'pre-start' as const, exec: ['/bin/sh', '-c', 'echo "$(id -u) $(grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status | tr -s "\\t\\n" "  ")" > /pre-ran'] },
      { name: 'post-stop' as const, exec: ['/bin/sh', '-c', 'cat /app-ran > /post-ran'] },
    ];
    const r = await rawRun([app('cat /pre-ran; echo app > /app-ran; exit 5', { eventHandlers: handlers })]);
    assert.equal(r.events[1]?.code, 5, JSON.stringify(r.events));
    assert.equal(r.out(), '0 NoNewPrivs: 1 Seccomp: 2 \n', 'pre-start ran first, as the app\'s user, with no_new_privs and seccomp');
    const upper = path.join(env.podDir(r.uuid!)!, 'apps', 'busybox', 'upper');
    assert.equal(fs.readFileSync(path.join(upper, 'post-ran'), 'utf8'), 'app\n', 'post-stop ran after the app, in its root');
    assert.equal((await status(r.uuid!)).apps[0]!.exitCode, 5);
  });

  test('a failing pre-start fails the start with one clear line and leaves nothing', async () => {
    await gcAll();
    const r = await rawRun([
      app('sleep 60'),
      app('echo must-not-run', { eventHandlers: [{ name: 'pre-start', exec: ['/bin/sh', '-c', 'exit 3'] }] }),
    ]);
    assert.equal(r.events.length, 1);
    assert.equal(r.events[0]!.code, 'ELAUNCH');
    assert.match(String(r.events[0]!.message), /^pod [0-9a-f-]+ did not start: the pre-start handler of app busybox-2 exited with 3$/);
    assert.equal(r.out(), '');
    await nothingLeft('failed pre-start');
  });

  test('one app\'s setup failure leaves nothing: no mounts, no state, no processes', async () => {
    const r = await rawRun([app('sleep 60'), { ...app(''), app: { ...base.spec, exec: ['/no/such/program'] } }]);
    assert.equal(r.events[0]!.code, 'ELAUNCH', JSON.stringify(r.events));
    assert.match(String(r.events[0]!.message), /executing \/no\/such\/program: No such file or directory/);
    await nothingLeft('failed app');
  });

  test('enter --app lands in that app\'s root, confined as it; an app that has exited cannot be entered', async () => {
    const r = await rawRun([
      app('touch /root-of-first; exec sleep 60'),
      app('touch /root-of-second; exec sleep 60'),
      app('exit 0'),
    ], true);
    const uuid = r.uuid!;
    await waitFor(() => fs.existsSync(path.join(env.podDir(uuid)!, 'apps', 'busybox-2', 'upper', 'root-of-second')));
    const probe = 'ls / | grep root-of; grep NoNewPrivs /proc/self/status; grep -l "^sleep" /proc/[0-9]*/cmdline | wc -l';
    const first = await ward(['enter', '--app', 'busybox', uuid, '--', '/bin/sh', '-c', probe]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^root-of-first\nNoNewPrivs:\s+1\n2\n$/);
    const second = await ward(['enter', '--app=busybox-2', uuid, '--', '/bin/sh', '-c', probe]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /^root-of-second\nNoNewPrivs:\s+1\n2\n$/);
    await waitFor(() => (fs.readFileSync(path.join(env.podDir(uuid)!, 'status'), 'utf8').includes('app 2 ')));
    const third = await ward(['enter', '--app=busybox-3', uuid, '--', '/bin/true']);
    assert.equal(third.stderr, `ward: app busybox-3 of pod ${uuid} has exited; enter another app of the pod (--app=NAME, see ward status ${uuid})\n`);
    // The exit code of every other pod-state refusal (an exited pod, rm of a running one).
    const rm = await ward(['rm', uuid]);
    assert.match(rm.stderr, /is running; stop it first/);
    assert.equal(third.code, rm.code);
    assert.equal((await ward(['stop', '--force', uuid])).code, 0);
    await status(uuid, true);
  });

  test('kill -9 of ward-stage1 with two apps running: the pod shows as exited, and gc leaves nothing', async () => {
    await gcAll();
    await nothingLeft('before');
    const r = await rawRun([app('exec sleep 60'), app('exec sleep 61')], true);
    const s = await status(r.uuid!);
    assert.equal(s.state, 'running');
    assert.equal(mcsHeld(env).length, 1);
    assert.equal(fs.readFileSync(`/proc/${s.pid}/comm`, 'utf8').trim(), 'ward-stage1');
    process.kill(s.pid!, 'SIGKILL');
    assert.equal((await status(r.uuid!, true)).state, 'exited');
    await waitFor(() => hostLeftovers(env).processes.length === 0);
    await gcAll();
    await nothingLeft('kill -9 of stage1');
  });

  test('the frontend of a foreground pod of two apps goes away (kill -9): the pod ends, and gc leaves nothing', async () => {
    const fds = [fs.openSync('/dev/null', 'r'), fs.openSync('/dev/null', 'w'), fs.openSync('/dev/null', 'w')];
    const c = RawClient.connect(env.socket, 'a');
    c.send({ verb: 'run', apps: [app('exec sleep 60'), app('exec sleep 61')], insecureOptions: ['image'] }, fds);
    for (const fd of fds) fs.closeSync(fd);
    const started = await c.recv(60_000);
    assert.equal(started.kind === 'frame' && (started.json as { event?: string }).event, 'started');
    const uuid = (started.kind === 'frame' ? (started.json as { uuid: string }).uuid : '');
    assert.equal((await status(uuid)).state, 'running');
    c.close(); // what the kernel does for a frontend killed with -9
    const s = await status(uuid, true);
    assert.equal(s.state, 'exited');
    assert.deepEqual(s.apps.map((a) => a.signal), ['SIGKILL', 'SIGKILL']);
    await gcAll();
    await nothingLeft('frontend gone');
  });

  for (const step of ['run-renamed', 'launched', 'started']) {
    test(`kill -9 of the helper at step ${step} of a run of two apps: after a restart gc leaves nothing`, async () => {
      await env.killHelper();
      await startHelper(`crash-at-${step}`);
      const r = await rawRun([app('exec sleep 60'), app('exec sleep 61')]);
      assert.ok(r.events.every((e) => e.event !== 'exited'), JSON.stringify(r.events));
      await env.killHelper();
      await startHelper();
      const l = await ward(['list', '--format=json']);
      for (const p of JSON.parse(l.stdout) as { uuid: string; state: string }[]) {
        if (p.state !== 'running') continue;
        // A stage1 that never got its id maps (helper killed at launch) ends by itself meanwhile.
        const stop = await ward(['stop', '--force', p.uuid]);
        assert.ok(stop.code === 0 || /is not running \(it is exited\)/.test(stop.stderr), stop.stderr);
        await status(p.uuid, true);
      }
      await gcAll();
      await nothingLeft(`helper killed at ${step}`);
    });
  }

  test('a request of 17 apps, or of two apps given one name, is refused', async () => {
    const many = await rawRun(Array.from({ length: 17 }, () => app('true')));
    assert.equal(many.events[0]!.code, 'EFRAME');
    const dup = await rawRun([app('true'), app('true')].map((a) => ({ ...a, app: { ...a.app, environment: [...a.app.environment.filter((e) => e.name !== 'AC_APP_NAME'), { name: 'AC_APP_NAME', value: 'same' }] } })));
    assert.equal(dup.events[1]?.event, 'exited', 'default names are made unique');
    assert.deepEqual((await status(dup.uuid!)).apps.map((a) => a.name), ['same', 'same-2']);
    await gcAll();
    await nothingLeft('refusals');
  });
});
