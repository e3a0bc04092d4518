// Where the host's cgroup controllers are: a pure cgroup v2 host (one unified hierarchy with
// memory, cpu and pids), or a v1/hybrid host (each controller its own v1 hierarchy; the unified
// one, if mounted, carries no controller ward uses). Read from mountinfo, never guessed.
import fs from 'node:fs';

export const CONTROLLERS = ['memory', 'cpu', 'pids'] as const;
export type Controller = (typeof CONTROLLERS)[number];

export type CgroupLayout =
  | { kind: 'v2'; root: string }
  | { kind: 'v1'; roots: Record<Controller, string> };

/** Unescapes mountinfo's octal escapes (\040 for a space and the like). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseLayout(mountinfo: string, v2Controllers: (root: string) => string[]): CgroupLayout {
  const v1: Partial<Record<Controller, string>> = {};
  let v2Root: string | null = null;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(' ');
    const post = line.slice(sep + 3).split(' ');
    const mountPoint = unescape(pre[4] ?? '');
    const root = pre[3];
    // Only whole hierarchies: a bind of a sub-cgroup is not where new cgroups should go.
    if (root !== '/') continue;
    if (post[0] === 'cgroup2') {
      if (v2Root === null || mountPoint === '/sys/fs/cgroup') v2Root = mountPoint;
    } else if (post[0] === 'cgroup') {
      const opts = (post[2] ?? '').split(',');
      for (const c of CONTROLLERS) if (opts.includes(c) && v1[c] === undefined) v1[c] = mountPoint;
    }
  }
  if (CONTROLLERS.every((c) => v1[c] !== undefined)) return { kind: 'v1', roots: v1 as Record<Controller, string> };
  if (v2Root !== null) {
    const have = v2Controllers(v2Root);
    const missing = CONTROLLERS.filter((c) => !have.includes(c));
    if (missing.length === 0) return { kind: 'v2', root: v2Root };
    throw new Error(`the cgroup v2 hierarchy at ${v2Root} lacks the ${missing.join(', ')} controller(s) and no v1 hierarchy has them; enable them (cgroup_enable=..., or free them from v1)`);
  }
  const missing = CONTROLLERS.filter((c) => v1[c] === undefined);
  throw new Error(`no cgroup hierarchy offers the ${missing.join(', ')} controller(s); mount cgroup2 at /sys/fs/cgroup or the v1 controllers`);
}

export function hostLayout(): CgroupLayout {
  return parseLayout(fs.readFileSync('/proc/self/mountinfo', 'utf8'), (root) => {
    try {
      return fs.readFileSync(`${root}/cgroup.controllers`, 'utf8').trim().split(/\s+/);
    } catch {
      return [];
    }
  });
}
