// What a pod may leave on the host, looked at from outside: mounts in the host's table that
// name the test env or an overlay, ward-stage1 processes, MCS claims in the helper's state.
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
