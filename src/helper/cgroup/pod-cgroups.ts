// A cgroup per pod and per app, the same shape on v1 and v2 hosts:
//   <parent>/<uuid>/               the pod's limits (its isolators), covering everything below
//   <parent>/<uuid>/supervisor/    ward-stage1, the pod's pid 1
//   <parent>/<uuid>/app-<name>/    each app, with its own limits
// Processes live only in the leaves, as cgroup v2 requires. ward-stage1 runs without host
// privilege, so it cannot open cgroup files itself: the helper opens each leaf's join file and
// passes the fds; the kernel checks the opener's credentials. ward-stage1 joins the supervisor
// leaf first thing, and an app's first process its own leaf before it execs, each by writing "0"
// (the fds are closed on exec). On v1 the join file is `tasks`: a single-threaded process moving
// itself ("0") skips the global threadgroup lock, whose first taker waits for an RCU grace period
// (7-12 ms here, against 0.2 ms); cgroup.procs would take it. v2 has only cgroup.procs.
import fs from 'node:fs';
import path from 'node:path';
import { CONTROLLERS, type CgroupLayout, type Controller } from './layout';

export interface CgroupLimits {
  memoryBytes?: number;
  /** CPU in thousandths of a CPU (appc's resource/cpu in millis): 500 is half a CPU. */
  cpuMillis?: number;
  pids?: number;
}

const CPU_PERIOD_US = 100_000;
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** A relative cgroup path of plain segments (no "..", no absolute path): where ward's pods go. */
export function checkParent(parent: string): string {
  const segs = parent.split('/').filter((s) => s !== '');
  if (segs.length === 0 || segs.length > 16 || !segs.every((s) => SEGMENT.test(s))) {
    throw new Error(`cgroup parent '${parent}' must be a relative path of plain names (letters, digits, "_", "." and "-")`);
  }
  return segs.join('/');
}

export type Leaf = 'supervisor' | `app-${string}`;

export class PodCgroups {
  private constructor(
    readonly layout: CgroupLayout,
    /** <parent>/<uuid>, relative to each hierarchy's root. */
    readonly rel: string,
    readonly leaves: Leaf[],
  ) {}

  /** The directories of one cgroup, one per hierarchy (one on v2, one per controller on v1). */
  private dirs(sub = ''): { dir: string; controllers: readonly Controller[] }[] {
    const rel = sub ? path.join(this.rel, sub) : this.rel;
    if (this.layout.kind === 'v2') return [{ dir: path.join(this.layout.root, rel), controllers: CONTROLLERS }];
    const roots = this.layout.roots;
    // Controllers co-mounted (cpu,cpuacct,...) share a hierarchy: one dir serves them all.
    const byRoot = new Map<string, Controller[]>();
    for (const c of CONTROLLERS) byRoot.set(roots[c], [...(byRoot.get(roots[c]) ?? []), c]);
    return [...byRoot].map(([root, controllers]) => ({ dir: path.join(root, rel), controllers }));
  }

  static create(layout: CgroupLayout, parent: string, uuid: string, pod: CgroupLimits, apps: { name: string; limits: CgroupLimits }[]): PodCgroups {
    const rel = path.join(checkParent(parent), uuid);
    const leaves: Leaf[] = ['supervisor', ...apps.map((a) => `app-${a.name}` as Leaf)];
    const cg = new PodCgroups(layout, rel, leaves);
    try {
      if (layout.kind === 'v2') enableV2Controllers(layout.root, checkParent(parent));
      for (const { dir } of cg.dirs()) fs.mkdirSync(dir, { recursive: true });
      if (layout.kind === 'v2') write(path.join(layout.root, rel, 'cgroup.subtree_control'), CONTROLLERS.map((c) => `+${c}`).join(' '));
      cg.apply('', pod);
      for (const leaf of leaves) {
        for (const { dir } of cg.dirs(leaf)) fs.mkdirSync(dir);
      }
      for (const a of apps) cg.apply(`app-${a.name}`, a.limits);
    } catch (e) {
      // Nothing runs in them yet: plain rmdirs, leaves first.
      for (const leaf of leaves) for (const { dir } of cg.dirs(leaf)) rmdirQuiet(dir);
      for (const { dir } of cg.dirs()) rmdirQuiet(dir);
      throw new Error(`cannot set up the cgroups of pod ${uuid}: ${(e as Error).message}`);
    }
    return cg;
  }

  /** Re-attaches to a pod's cgroups (after a helper restart, or to collect them). */
  static of(layout: CgroupLayout, parent: string, uuid: string): PodCgroups {
    const cg = new PodCgroups(layout, path.join(checkParent(parent), uuid), []);
    const first = cg.dirs()[0]!.dir;
    let names: string[] = [];
    try {
      names = fs.readdirSync(first, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch {
      /* gone already */
    }
    cg.leaves.push(...names.filter((n): n is Leaf => n === 'supervisor' || n.startsWith('app-')));
    return cg;
  }

  private apply(sub: string, l: CgroupLimits): void {
    for (const { dir, controllers } of this.dirs(sub)) {
      const v2 = this.layout.kind === 'v2';
      if (l.memoryBytes !== undefined && controllers.includes('memory')) {
        if (v2) {
          write(path.join(dir, 'memory.max'), String(l.memoryBytes));
          write(path.join(dir, 'memory.swap.max'), '0', true);
        } else {
          write(path.join(dir, 'memory.limit_in_bytes'), String(l.memoryBytes));
          // Swap must not extend the limit: memory+swap equal to memory (absent without swap accounting).
          write(path.join(dir, 'memory.memsw.limit_in_bytes'), String(l.memoryBytes), true);
        }
      }
      if (l.cpuMillis !== undefined && controllers.includes('cpu')) {
        const quota = Math.max(1000, Math.round((l.cpuMillis * CPU_PERIOD_US) / 1000));
        if (v2) write(path.join(dir, 'cpu.max'), `${quota} ${CPU_PERIOD_US}`);
        else {
          write(path.join(dir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
          write(path.join(dir, 'cpu.cfs_quota_us'), String(quota));
        }
      }
      if (l.pids !== undefined && controllers.includes('pids')) write(path.join(dir, 'pids.max'), String(l.pids));
    }
  }

  /**
   * Opens the leaf's join file in every hierarchy, for a process without privilege to join by
   * writing "0": on v1 `tasks`, which moves only the writing thread, so only a single-threaded
   * process may be given it (ward-stage1 and an app's first process before exec are).
   */
  openJoin(leaf: Leaf): number[] {
    const file = this.layout.kind === 'v1' ? 'tasks' : 'cgroup.procs';
    const fds: number[] = [];
    try {
      for (const { dir } of this.dirs(leaf)) fds.push(fs.openSync(path.join(dir, file), fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW));
    } catch (e) {
      fds.forEach((fd) => fs.closeSync(fd));
      throw e;
    }
    return fds;
  }

  addPid(leaf: Leaf, pid: number): void {
    for (const { dir } of this.dirs(leaf)) write(path.join(dir, 'cgroup.procs'), String(pid));
  }

  /** How many times the kernel's OOM killer killed in this leaf (or the whole pod). */
  oomKills(leaf?: Leaf): number {
    const mem = this.dirs(leaf).find((d) => d.controllers.includes('memory'))!.dir;
    const file = this.layout.kind === 'v2' ? 'memory.events' : 'memory.oom_control';
    try {
      const m = /^oom_kill (\d+)$/m.exec(fs.readFileSync(path.join(mem, file), 'utf8'));
      return m ? Number(m[1]) : 0;
    } catch {
      return 0;
    }
  }

  /** Whether any process is left in the pod. */
  populated(): boolean {
    return this.leaves.some((leaf) => this.dirs(leaf).some(({ dir }) => procsOf(dir).length > 0));
  }

  /** Kills what is left and removes every dir, leaves first; true when nothing remains. */
  async remove(): Promise<boolean> {
    let clean = true;
    for (const leaf of this.leaves) {
      for (const { dir } of this.dirs(leaf)) clean = (await removeCgroup(dir, this.layout.kind)) && clean;
    }
    for (const { dir } of this.dirs()) clean = (await removeCgroup(dir, this.layout.kind)) && clean;
    return clean;
  }
}

function write(file: string, value: string, optional = false): void {
  try {
    fs.writeFileSync(file, value);
  } catch (e) {
    if (optional && (e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new Error(`writing ${value} to ${file}: ${(e as Error).message}`);
  }
}

function rmdirQuiet(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    /* not made, or already gone */
  }
}

function enableV2Controllers(root: string, parent: string): void {
  let dir = root;
  const want = CONTROLLERS.map((c) => `+${c}`).join(' ');
  for (const seg of ['', ...parent.split('/')]) {
    dir = seg ? path.join(dir, seg) : dir;
    if (seg) fs.mkdirSync(dir, { recursive: true });
    const enabled = fs.readFileSync(path.join(dir, 'cgroup.subtree_control'), 'utf8').trim().split(/\s+/);
    if (!CONTROLLERS.every((c) => enabled.includes(c))) write(path.join(dir, 'cgroup.subtree_control'), want);
  }
}

function procsOf(dir: string): number[] {
  try {
    return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function removeCgroup(dir: string, kind: 'v1' | 'v2'): Promise<boolean> {
  if (!fs.existsSync(dir)) return true;
  for (let attempt = 0; attempt < 100; attempt++) {
    // cgroup.kill (v2, Linux 5.14) kills the whole subtree at once; else one process at a time.
    if (kind === 'v2' && attempt === 0) {
      try {
        fs.writeFileSync(path.join(dir, 'cgroup.kill'), '1');
      } catch {
        /* older kernel: fall through to kill(2) */
      }
    }
    for (const pid of procsOf(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    try {
      fs.rmdirSync(dir);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return true;
      if (code !== 'EBUSY') return false;
    }
    // A killed process leaves its cgroup when it is reaped; wait a little for that.
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}
