// What a pod may leave on the host, looked at from outside: mounts in the host's table that
// name the test env or an overlay, ward-stage1 processes, MCS claims in the helper's state.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { TestEnv } from './env';

/**
 * Mount lines of the host's table that belong to the env (or to a pod's overlay), and the
 * ward-stage1 processes of this env's pods (those holding a file of its state dir open: the pod's
 * lock; other engineers' pods on the same host are not ours to count).
 */
export function hostLeftovers(env: TestEnv, uuid?: string): { mounts: string[]; processes: number[] } {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(env.dir) || / - overlay /.test(l) || (uuid !== undefined && l.includes(uuid)));
  const processes: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (fs.readFileSync(`/proc/${name}/comm`, 'utf8').trim() !== 'ward-stage1') continue;
      const fds = fs.readdirSync(`/proc/${name}/fd`);
      if (fds.some((fd) => {
        try {
          return fs.readlinkSync(`/proc/${name}/fd/${fd}`).startsWith(env.state + '/');
        } catch {
          return false;
        }
      })) processes.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return { mounts, processes };
}

/** MCS pairs the helper holds, by their claim files. */
export function mcsHeld(env: TestEnv): string[] {
  try {
    return fs.readdirSync(path.join(env.state, 'mcs')).filter((n) => /^c\d+,c\d+$/.test(n));
  } catch {
    return [];
  }
}

export async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/**
 * Stops every running pod of the user (stop --force, then status --wait), runs gc with no grace,
 * waits for the env's ward-stage1 processes to be gone and asserts no pod state is left.
 * Returns the uuids that were listed, for the caller's own checks of what else they may leave.
 */
export async function stopAllAndCollect(env: TestEnv, user: 'a' | 'b' = 'a'): Promise<string[]> {
  const ward = (args: string[]) => env.ward(user, args);
  const l = await ward(['list', '--format=json']);
  assert.equal(l.code, 0, l.stderr);
  const pods = JSON.parse(l.stdout) as { uuid: string; state: string }[];
  for (const p of pods) {
    if (p.state !== 'running') continue;
    assert.equal((await ward(['stop', '--force', p.uuid])).code, 0);
    const s = await ward(['status', '--wait', p.uuid]);
    assert.equal(s.code, 0, s.stderr);
  }
  const gc = await ward(['gc', '--grace-period=0s', '--expire-prepared=0s']);
  assert.equal(gc.code, 0, gc.stderr);
  await waitFor(() => hostLeftovers(env).processes.length === 0);
  assert.deepEqual(env.podDirs(), [], 'no pod state');
  return pods.map((p) => p.uuid);
}
