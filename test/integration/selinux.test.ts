// SELinux through a real helper, as an unprivileged user. This kernel has no SELinux: file
// labels are xattrs and are checked here (helper policy selinux.mode "force-files"); the exec
// transition and MCS enforcement need an enforcing kernel, and those tests skip here saying so.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { getEnforce, isSelinuxEnabled, lgetfilecon, lsetfilecon } from '../../src/native/selinux';
import { podLabels } from '../../src/helper/selinux';
import { StateDir } from '../../src/helper/state';
import { buildBusyboxAci } from '../lib/aci-builder';
import { account, REPO, TestEnv, USERS, type WardResult } from '../lib/env';

const SELINUX = isSelinuxEnabled();
const ENFORCING = SELINUX && getEnforce();
const NEEDS_ENFORCING = ENFORCING ? false : 'needs a kernel with SELinux enforcing and the container-selinux policy (this one has no SELinux: no selinuxfs); run in a VM booted with selinux=1 security=selinux enforcing=1';
const TREE_LABEL = 'system_u:object_r:container_ro_file_t:s0';
const FILE_LABEL_RE = /^system_u:object_r:container_file_t:s0:c(\d+),c(\d+)$/;

function policyFile(env: TestEnv, name: string, selinux: object): string {
  const base = JSON.parse(fs.readFileSync(path.join(REPO, 'policies', 'helper.json'), 'utf8')) as Record<string, unknown>;
  const file = path.join(env.dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify({ ...base, selinux }), { mode: 0o600 });
  return file;
}

describe('SELinux labels of pods through a real helper', () => {
  const env = new TestEnv('selinux');
  const state = () => new StateDir(env.state);
  let aci = '';
  let force = '';
  let victim = '';
  let victimDir = '';
  const run = (args: string[], opts: Parameters<TestEnv['ward']>[2] = {}, flags: string[] = []) =>
    env.ward('a', ['run', '--insecure-options=image', ...flags, aci, '--', ...args], opts);
  const mcsHeld = () => fs.readdirSync(path.join(env.state, 'mcs')).filter((n) => /^c\d+,c\d+$/.test(n));
  /** Exited pods keep their pair until ward rm or ward gc removes them (SELinux issue: "released at gc"). */
  const gcAll = async () => {
    const r = await env.ward('a', ['gc', '--grace-period=0s']);
    assert.equal(r.code, 0, r.stderr);
  };
  /** The helper releases a pair when gc removes the pod: give it a moment. */
  const heldAfterExit = async (expect: string[]) => {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && JSON.stringify(mcsHeld()) !== JSON.stringify(expect)) await new Promise((r) => setTimeout(r, 20));
    return mcsHeld();
  };
  const restart = async (args: string[]) => {
    await env.stopHelper();
    await env.start(args);
  };

  /** Runs `script` (which must echo ready), calls look() with the pod's uuid once it is ready. */
  async function whileRunning<T>(script: string, look: (uuid: string) => T, flags: string[] = []): Promise<{ seen: T; result: WardResult }> {
    let seen: T | undefined;
    let failure: unknown = null;
    const before = new Set(env.podDirs());
    const result = await run(['-c', script], {
      onSpawn: (c) => {
        c.stdout!.once('data', () => {
          try {
            const uuid = env.podDirs().find((p) => !before.has(p));
            assert.ok(uuid, 'the pod has a directory while it runs');
            seen = look(uuid);
          } catch (e) {
            failure = e;
          }
        });
      },
    }, flags);
    if (failure) throw failure;
    assert.ok(seen !== undefined, `the pod never said ready: ${result.stderr}`);
    return { seen: seen as T, result };
  }

  before(async () => {
    victim = env.fixture('victim-file');
    fs.writeFileSync(victim, 'host file\n', { mode: 0o644 });
    victimDir = env.fixture('victim-dir');
    fs.mkdirSync(victimDir, { mode: 0o755 });
    fs.writeFileSync(path.join(victimDir, 'inside'), 'x');
    aci = env.fixture('selinux.aci');
    await buildBusyboxAci(aci, {
      entries: [
        { name: 'rootfs/hostlink', type: 'symlink', linkname: victim },
        { name: 'rootfs/hostdirlink', type: 'symlink', linkname: victimDir },
        { name: 'rootfs/etc/passwd-link', type: 'symlink', linkname: 'passwd' },
        { name: 'rootfs/fakeproc', type: 'directory' },
        { name: 'rootfs/fakeproc/thread-self', type: 'directory' },
        { name: 'rootfs/fakeproc/thread-self/attr', type: 'directory' },
        { name: 'rootfs/fakeproc/thread-self/attr/exec', type: 'file', mode: 0o666, body: '' },
        { name: 'rootfs/decoy', type: 'file', mode: 0o666, body: '' },
      ],
    });
    force = policyFile(env, 'force-files', { mode: 'force-files' });
    await env.start(['--policy', force]);
  });
  after(() => env.stop());

  test('a running pod\'s upper and work dirs carry its own label; the sealed tree is read-only content', async () => {
    const { seen, result } = await whileRunning('echo ready; sleep 1', (uuid) => {
      const dir = env.podDir(uuid)!;
      return { uuid, labels: podLabels(state(), uuid), upper: lgetfilecon(path.join(dir, 'apps', 'busybox', 'upper')), work: lgetfilecon(path.join(dir, 'apps', 'busybox', 'work')) };
    });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(seen.labels, 'the helper recorded the pod\'s labels');
    const m = FILE_LABEL_RE.exec(seen.labels.file);
    assert.ok(m, seen.labels.file);
    assert.ok(Number(m[1]) < Number(m[2]));
    assert.equal(seen.labels.level, `s0:c${m[1]},c${m[2]}`);
    assert.equal(seen.labels.process, SELINUX ? `system_u:system_r:container_t:${seen.labels.level}` : null);
    assert.equal(seen.upper, seen.labels.file);
    assert.equal(seen.work, seen.labels.file);
    assert.deepEqual(mcsHeld(), [seen.labels.level.slice(3)], 'the exited pod keeps its pair until it is removed');
    const status = await env.ward('a', ['status', seen.uuid]);
    assert.match(status.stdout, new RegExp(`^selinux=process ${seen.labels.process ?? 'none'} file ${seen.labels.file}$`, 'm'), 'ward status shows the labels');
    await gcAll();
    assert.deepEqual(await heldAfterExit([]), [], 'the pair is released when gc removes the pod');
  });

  test('symlinks in the sealed tree are labelled as links; their targets, in or out of the tree, are untouched', async () => {
    const uid = account(USERS.a).uid;
    const trees = fs.readdirSync(path.join(env.state, 'trees', String(uid)));
    assert.equal(trees.length, 1);
    const tree = path.join(env.state, 'trees', String(uid), trees[0]!);
    for (const p of ['.', 'bin', 'bin/busybox', 'bin/sh', 'etc/passwd', 'etc/passwd-link', 'hostlink', 'hostdirlink', 'fakeproc/thread-self/attr/exec']) {
      assert.equal(lgetfilecon(path.join(tree, p)), TREE_LABEL, p);
    }
    assert.equal(lgetfilecon(victim), null, 'the host file a symlink points to is not labelled');
    assert.equal(lgetfilecon(victimDir), null, 'the host dir a symlink points to is not labelled');
    assert.equal(lgetfilecon(path.join(victimDir, 'inside')), null, 'nothing is walked through a symlink');
  });

  test('the audit record of each start names the pod\'s labels', async () => {
    const text = fs.readFileSync(path.join(env.state, 'audit.log'), 'utf8');
    const starts = text.trim().split('\n').map((l) => JSON.parse(l) as { verb: string; result: string }).filter((r) => r.verb === 'run' && r.result.startsWith('started '));
    assert.ok(starts.length >= 1);
    assert.match(starts.at(-1)!.result, /selinux force-files process - file system_u:object_r:container_file_t:s0:c\d+,c\d+$/);
  });

  test('concurrent pods get distinct pairs, all released when they exit', async () => {
    const n = 6;
    const seen: string[] = [];
    const results = await Promise.all(Array.from({ length: n }, () => run(['-c', 'echo ready; sleep 2'], {
      onSpawn: (c) => c.stdout!.once('data', () => {
        for (const uuid of env.podDirs()) {
          const l = podLabels(state(), uuid);
          if (l && !seen.includes(`${uuid} ${l.level}`)) seen.push(`${uuid} ${l.level}`);
        }
      }),
    })));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const byPod = new Map(seen.map((s) => s.split(' ') as [string, string]));
    assert.equal(byPod.size, n, 'every pod was seen with its label');
    assert.equal(new Set(byPod.values()).size, n, 'no two pods share a pair');
    assert.equal(mcsHeld().length, n, 'exited pods hold their pairs until gc');
    await gcAll();
    assert.deepEqual(await heldAfterExit([]), []);
  });

  test('a pod running across a helper restart keeps its pair, and new pods get others', async () => {
    let first: { uuid: string; level: string } | null = null;
    const survivor = run(['-c', 'echo ready; sleep 4'], {
      onSpawn: (c) => c.stdout!.once('data', () => {
        const uuid = env.podDirs()[0]!;
        first = { uuid, level: podLabels(state(), uuid)!.level };
      }),
    });
    const deadline = Date.now() + 10_000;
    while (!first && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(first, 'the first pod started');
    const held = first as { uuid: string; level: string };
    await restart(['--policy', force]);
    assert.deepEqual(mcsHeld(), [held.level.slice(3)], 'the restarted helper keeps the running pod\'s pair');
    const levels: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { seen } = await whileRunning('echo ready; sleep 1', (uuid) => ({ uuid, level: podLabels(state(), uuid)!.level }));
      levels.push(seen.level);
      // The exited pod goes, and its pair with it; the survivor keeps its own.
      const rm = await env.ward('a', ['rm', seen.uuid]);
      assert.equal(rm.code, 0, rm.stderr);
    }
    for (const l of levels) assert.notEqual(l, held.level);
    assert.deepEqual(await heldAfterExit([held.level.slice(3)]), [held.level.slice(3)]);
    await survivor;
    // The survivor outlived its helper: its directory and pair stay until ward gc (Pods) removes them.
    await restart(['--policy', force]);
    assert.deepEqual(mcsHeld(), [held.level.slice(3)]);
    fs.rmSync(env.podDir(held.uuid)!, { recursive: true, force: true });
    await restart(['--policy', force]);
    assert.deepEqual(mcsHeld(), [], 'a pair whose pod is gone is reclaimed at start');
  });

  test('--selinux=require refuses here, before anything is made, with its reason', { skip: SELINUX ? 'SELinux is enabled on this host: require would run the pod' : false }, async () => {
    const r = await run(['-c', 'echo ran'], {}, ['--selinux=require']);
    assert.equal(r.code, 254, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^ward: SELinux is required \(--selinux=require or the helper policy\) but this kernel has no SELinux enabled; boot it with selinux=1 .* or run with --selinux=auto\n$/);
    assert.deepEqual(env.podDirs(), []);
    assert.deepEqual(mcsHeld(), []);
  });

  test('--selinux=off is refused unless the policy allows it; an unknown mode is a usage error', async () => {
    const r = await run(['-c', 'echo ran'], {}, ['--selinux=off']);
    assert.equal(r.code, 252, r.stderr);
    assert.match(r.stderr, /selinux\.allowOff/);
    const u = await run(['-c', 'echo ran'], {}, ['--selinux=maybe']);
    assert.equal(u.code, 253);
    assert.match(u.stderr, /--selinux: unknown mode 'maybe'/);
    await restart(['--policy', policyFile(env, 'allow-off', { mode: 'force-files', allowOff: true })]);
    const { seen, result } = await whileRunning('echo ready; sleep 1', (uuid) => ({
      labels: podLabels(state(), uuid),
      upper: lgetfilecon(path.join(env.podDir(uuid)!, 'apps', 'busybox', 'upper')),
    }), ['--selinux=off']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(seen.labels, null);
    assert.equal(seen.upper, null);
    assert.deepEqual(mcsHeld(), [], 'an unlabelled pod holds no pair');
    await gcAll();
    await restart(['--policy', force]);
  });

  test('a policy that requires SELinux refuses every pod here and denies --selinux=auto', { skip: SELINUX ? 'SELinux is enabled on this host' : false }, async () => {
    await restart(['--policy', policyFile(env, 'require', { mode: 'require', requireEnforcing: true })]);
    try {
      const r = await run(['-c', 'echo ran']);
      assert.equal(r.code, 254);
      assert.match(r.stderr, /SELinux is required/);
      const a = await run(['-c', 'echo ran'], {}, ['--selinux=auto']);
      assert.equal(a.code, 252);
      assert.match(a.stderr, /selinux\.mode is "require"/);
      assert.deepEqual(env.podDirs(), []);
    } finally {
      await restart(['--policy', force]);
    }
  });

  test('stage1 writes the exec label through procfs only: here the kernel itself refuses it (why require refuses up front)', { skip: SELINUX ? 'the write succeeds on an SELinux kernel' : false }, async () => {
    await restart(['--policy', force, '--test-exec-label']);
    try {
      const r = await run(['-c', 'echo ran']);
      assert.equal(r.code, 254);
      assert.doesNotMatch(r.stdout, /ran/);
      assert.match(r.stderr, /^ward: pod [0-9a-f-]+ did not start: staging the SELinux exec label system_u:system_r:container_t:s0:c\d+,c\d+: Invalid argument\n$/);
      assert.deepEqual(env.podDirs(), []);
      assert.deepEqual(await heldAfterExit([]), []);
    } finally {
      await restart(['--policy', force]);
    }
  });

  test('a fake /proc (an image directory over it) makes the launch fail instead of writing the label there', async () => {
    await restart(['--policy', force, '--test-exec-label', '--test-proc-dir', '/fakeproc']);
    try {
      const r = await run(['-c', 'echo ran']);
      assert.equal(r.code, 254);
      assert.doesNotMatch(r.stdout, /ran/);
      assert.match(r.stderr, /did not start: \/proc is not a procfs: refusing to stage the SELinux label through it\n$/);
      assert.deepEqual(env.podDirs(), []);
    } finally {
      await restart(['--policy', force]);
    }
  });

  test('a file bound over /proc/thread-self/attr/exec makes the launch fail', async () => {
    await restart(['--policy', force, '--test-exec-label', '--test-attr-file', '/decoy']);
    try {
      const r = await run(['-c', 'echo ran']);
      assert.equal(r.code, 254);
      assert.doesNotMatch(r.stdout, /ran/);
      assert.match(r.stderr, /did not start: opening \/proc\/thread-self\/attr\/exec \(it must be procfs's own file, with nothing mounted over it\)/);
    } finally {
      await restart(['--policy', force]);
    }
  });

  test('on an enforcing host the app runs with the pod\'s process label', { skip: NEEDS_ENFORCING }, async () => {
    await restart(['--policy', policyFile(env, 'auto', { mode: 'auto' })]);
    try {
      const { seen, result } = await whileRunning('echo ready; cat /proc/self/attr/current; sleep 1', (uuid) => podLabels(state(), uuid));
      assert.equal(result.code, 0, result.stderr);
      assert.ok(seen?.process);
      assert.equal(result.stdout.split('\n')[1]?.replace(/\0/g, ''), seen.process);
    } finally {
      await restart(['--policy', force]);
    }
  });

  test('on an enforcing host a pod cannot read a file carrying another pod\'s label', { skip: NEEDS_ENFORCING }, async () => {
    await restart(['--policy', policyFile(env, 'auto', { mode: 'auto' })]);
    try {
      let other = '';
      const { result } = await whileRunning('echo ready; sleep 1; cat /theirs; echo rc=$?', (uuid) => {
        const mine = podLabels(state(), uuid)!;
        const [, a, b] = FILE_LABEL_RE.exec(mine.file)!;
        const c1 = (Number(a) + 1) % 1024;
        const c2 = (Number(b) + 1) % 1024;
        other = `system_u:object_r:container_file_t:s0:c${Math.min(c1, c2)},c${Math.max(c1, c2)}`;
        const f = path.join(env.podDir(uuid)!, 'apps', 'busybox', 'upper', 'theirs');
        fs.writeFileSync(f, 'secret\n', { mode: 0o644 });
        lsetfilecon(f, other);
        return true;
      });
      assert.doesNotMatch(result.stdout, /secret/);
      assert.match(result.stdout, /rc=1/);
      assert.match(result.stderr, /Permission denied/);
    } finally {
      await restart(['--policy', force]);
    }
  });
});
