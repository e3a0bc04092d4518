// The cgroup v2 side of the pod cgroups, on a stand-in tree of plain files: this host is hybrid
// (its v2 hierarchy carries no controller), so test/integration/cgroups runs the v1 side on the
// real kernel and this checks what the v2 side writes and opens: the controllers enabled down to
// the pod, the limits in v2's files, and cgroup.procs as the join file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { PodCgroups } from '../../src/helper/cgroup/pod-cgroups';

test('v2: controllers enabled down to the pod, limits in memory.max, memory.swap.max, cpu.max and pids.max, joined through cgroup.procs', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-cg2-'));
  try {
    // What the kernel shows in a v2 hierarchy before ward touches it.
    fs.writeFileSync(path.join(root, 'cgroup.subtree_control'), 'cpuset io\n');
    fs.mkdirSync(path.join(root, 'ward'));
    fs.writeFileSync(path.join(root, 'ward', 'cgroup.subtree_control'), 'cpu memory pids\n');
    const uuid = '6f1c4a52-9d7e-4c1b-8a3f-2b5e7d9c0a11';
    const cg = PodCgroups.create({ kind: 'v2', root }, 'ward', uuid, { pids: 50 }, [{ name: 'web', limits: { memoryBytes: 64 << 20, cpuMillis: 500 } }, { name: 'db', limits: {} }]);
    const read = (...p: string[]) => fs.readFileSync(path.join(root, ...p), 'utf8').trim();
    assert.equal(read('cgroup.subtree_control'), '+memory +cpu +pids', 'the root lacked them: enabled');
    assert.equal(read('ward', 'cgroup.subtree_control'), 'cpu memory pids', 'the parent had them: left alone');
    assert.equal(read('ward', uuid, 'cgroup.subtree_control'), '+memory +cpu +pids', 'the pod passes them to its leaves');
    assert.equal(read('ward', uuid, 'pids.max'), '50');
    assert.equal(read('ward', uuid, 'app-web', 'memory.max'), String(64 << 20));
    assert.equal(read('ward', uuid, 'app-web', 'memory.swap.max'), '0', 'swap does not extend the limit');
    assert.equal(read('ward', uuid, 'app-web', 'cpu.max'), '50000 100000');
    assert.equal(fs.existsSync(path.join(root, 'ward', uuid, 'app-db', 'memory.max')), false, 'no limit asked, none written');
    assert.deepEqual([...cg.leaves].sort(), ['app-db', 'app-web', 'supervisor']);
    // The kernel makes the interface files; the join file is cgroup.procs (v2 has no tasks).
    fs.writeFileSync(path.join(root, 'ward', uuid, 'supervisor', 'cgroup.procs'), '');
    const fds = cg.openJoin('supervisor');
    try {
      assert.equal(fds.length, 1, 'one hierarchy');
      assert.equal(fs.readlinkSync(`/proc/self/fd/${fds[0]}`), path.join(root, 'ward', uuid, 'supervisor', 'cgroup.procs'));
    } finally {
      fds.forEach((fd) => fs.closeSync(fd));
    }
    fs.writeFileSync(path.join(root, 'ward', uuid, 'app-web', 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
    assert.equal(cg.oomKills('app-web'), 1, 'OOM kills from memory.events');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
