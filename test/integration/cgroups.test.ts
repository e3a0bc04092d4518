// Pod and app cgroups on this host's real hierarchies (hybrid here: v1 controllers), under a
// parent these tests make and remove. Joining through an fd the helper opened is tested from a
// process without privilege, as ward-stage1 and the apps are.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { hostLayout, parseLayout } from '../../src/helper/cgroup/layout';
import { checkParent, PodCgroups } from '../../src/helper/cgroup/pod-cgroups';
import { USERS } from '../lib/env';

const HYBRID = `
25 1 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
31 25 0:28 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,pids
40 30 0:27 /sub /mnt/x rw - cgroup cgroup rw,memory
`;
const V2 = `
25 1 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
`;

describe('cgroup layout', () => {
  test('hybrid: each controller from its v1 hierarchy, co-mounted ones sharing it; binds of sub-cgroups ignored', () => {
    assert.deepEqual(parseLayout(HYBRID, () => ['hugetlb']), { kind: 'v1', roots: { memory: '/sys/fs/cgroup/memory', cpu: '/sys/fs/cgroup/cpu,cpuacct', pids: '/sys/fs/cgroup/pids' } });
  });
  test('pure v2 with the controllers; without them a clear error', () => {
    assert.deepEqual(parseLayout(V2, () => ['cpuset', 'cpu', 'io', 'memory', 'pids']), { kind: 'v2', root: '/sys/fs/cgroup' });
    assert.throws(() => parseLayout(V2, () => ['cpu']), /lacks the memory, pids controller\(s\)/);
    assert.throws(() => parseLayout('', () => []), /no cgroup hierarchy offers/);
  });
  test('a parent must be a relative path of plain names', () => {
    assert.equal(checkParent('/ward//pods/'), 'ward/pods');
    for (const bad of ['', '..', 'ward/../x', 'a/./b', 'x y', `${'a/'.repeat(17)}a`]) assert.throws(() => checkParent(bad), /must be a relative path/, bad);
  });
});

describe('pod cgroups on this host', () => {
  const layout = hostLayout();
  const parent = `ward-test-${crypto.randomBytes(4).toString('hex')}`;
  const made: PodCgroups[] = [];
  after(async () => {
    for (const cg of made) await cg.remove();
    const roots = layout.kind === 'v2' ? [layout.root] : [...new Set(Object.values(layout.roots))];
    for (const r of roots) if (fs.existsSync(path.join(r, parent))) fs.rmdirSync(path.join(r, parent));
  });

  function dirOf(cg: PodCgroups, controller: 'memory' | 'cpu' | 'pids', leaf = ''): string {
    const root = layout.kind === 'v2' ? layout.root : layout.roots[controller];
    return path.join(root, cg.rel, leaf);
  }

  /** Runs sh -c SCRIPT as the unprivileged test user with the given fds as 3, 4, 5... */
  function runUnprivileged(script: string, fds: number[]): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
    const child = spawn('setpriv', ['--reuid', USERS.out, '--regid', USERS.out, '--clear-groups', '--', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe', ...fds] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, out, err })));
  }

  test('limits land where they belong: the pod limits on the pod, each app limits on its leaf', () => {
    const uuid = crypto.randomUUID();
    const cg = PodCgroups.create(layout, parent, uuid, { memoryBytes: 256 << 20, pids: 100 }, [{ name: 'web', limits: { memoryBytes: 64 << 20, cpuMillis: 500, pids: 20 } }]);
    made.push(cg);
    const read = (c: 'memory' | 'cpu' | 'pids', leaf: string, file: string) => fs.readFileSync(path.join(dirOf(cg, c, leaf), file), 'utf8').trim();
    if (layout.kind === 'v1') {
      assert.equal(read('memory', '', 'memory.limit_in_bytes'), String(256 << 20));
      assert.equal(read('memory', 'app-web', 'memory.limit_in_bytes'), String(64 << 20));
      assert.equal(read('cpu', 'app-web', 'cpu.cfs_quota_us'), '50000');
      assert.equal(read('cpu', 'app-web', 'cpu.cfs_period_us'), '100000');
    } else {
      assert.equal(read('memory', 'app-web', 'memory.max'), String(64 << 20));
      assert.equal(read('cpu', 'app-web', 'cpu.max'), '50000 100000');
    }
    assert.equal(read('pids', '', 'pids.max'), '100');
    assert.equal(read('pids', 'app-web', 'pids.max'), '20');
    assert.deepEqual([...cg.leaves].sort(), ['app-web', 'supervisor']);
  });

  test('a process without privilege joins its leaf by writing 0 to the fds the helper opened; it cannot open them itself', async () => {
    // v1: tasks, where a single-threaded process moving itself skips the global threadgroup lock.
    const joinFile = layout.kind === 'v1' ? 'tasks' : 'cgroup.procs';
    const uuid = crypto.randomUUID();
    const cg = PodCgroups.create(layout, parent, uuid, {}, [{ name: 'app', limits: {} }]);
    made.push(cg);
    const fds = cg.openJoin('app-app');
    try {
      const joins = fds.map((_, i) => `echo 0 >&${i + 3}`).join(' && ');
      const r = await runUnprivileged(`${joins} && cat /proc/self/cgroup && (echo 0 > ${dirOf(cg, 'pids', 'supervisor')}/cgroup.procs || echo 0 > ${dirOf(cg, 'pids', 'supervisor')}/${joinFile}) 2>/dev/null || echo refused`, fds);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, new RegExp(`pids:/${parent}/${uuid}/app-app\\n`), r.out);
      assert.match(r.out, new RegExp(`memory:/${parent}/${uuid}/app-app\\n`));
      assert.match(r.out, /refused\n$/, 'opening cgroup.procs or tasks by path is refused to the unprivileged user');
    } finally {
      fds.forEach((fd) => fs.closeSync(fd));
    }
  });

  test('an app over its memory limit is OOM-killed and the kill is counted for its leaf', async () => {
    const uuid = crypto.randomUUID();
    const cg = PodCgroups.create(layout, parent, uuid, {}, [{ name: 'hog', limits: { memoryBytes: 32 << 20 } }]);
    made.push(cg);
    const fds = cg.openJoin('app-hog');
    try {
      const joins = fds.map((_, i) => `echo 0 >&${i + 3}`).join('; ');
      // dd allocates its block (256 MiB) and fills it from /dev/zero.
      const r = await runUnprivileged(`${joins}; exec dd if=/dev/zero of=/dev/null bs=256M count=1`, fds);
      assert.equal(r.signal, 'SIGKILL', `dd should be killed: code ${r.code} ${r.err}`);
      assert.ok(cg.oomKills('app-hog') >= 1, 'the OOM kill shows in the leaf');
      assert.equal(cg.oomKills('supervisor'), 0);
    } finally {
      fds.forEach((fd) => fs.closeSync(fd));
    }
  });

  test('the pids limit stops a fork bomb at the limit', async () => {
    const uuid = crypto.randomUUID();
    const cg = PodCgroups.create(layout, parent, uuid, {}, [{ name: 'forks', limits: { pids: 4 } }]);
    made.push(cg);
    const fds = cg.openJoin('app-forks');
    try {
      const joins = fds.map((_, i) => `echo 0 >&${i + 3}`).join('; ');
      const r = await runUnprivileged(`${joins}; for i in 1 2 3 4 5 6 7 8; do sleep 2 & done 2>/dev/null; cat ${dirOf(cg, 'pids', 'app-forks')}/pids.current; wait`, fds);
      assert.ok(Number(r.out.trim()) <= 4, `pids.current ${r.out.trim()}`);
    } finally {
      fds.forEach((fd) => fs.closeSync(fd));
    }
  });

  test('remove kills what is left in any leaf and removes every dir; of() finds a pod again after a restart', async () => {
    const uuid = crypto.randomUUID();
    const cg = PodCgroups.create(layout, parent, uuid, {}, [{ name: 'a', limits: {} }]);
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    await new Promise((r) => sleeper.once('spawn', r));
    cg.addPid('app-a', sleeper.pid!);
    const again = PodCgroups.of(layout, parent, uuid);
    assert.deepEqual([...again.leaves].sort(), ['app-a', 'supervisor']);
    assert.equal(again.populated(), true);
    const exited = new Promise((r) => sleeper.once('exit', (_c, sig) => r(sig)));
    assert.equal(await again.remove(), true);
    assert.equal(await exited, 'SIGKILL');
    assert.equal(fs.existsSync(dirOf(cg, 'memory')), false);
    assert.equal(fs.existsSync(dirOf(cg, 'pids')), false);
  });
});
