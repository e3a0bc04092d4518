// The run verb's cgroup step: every pod's cgroups are made before stage1 is spawned (pod limits:
// the helper's pids limit; app limits: the app's memory and cpu isolators). stage1 joins the
// supervisor leaf before it forks anything, and each app's first process its leaf, through fds
// opened here (addon/stage1/net.c). At the pod's end, stop, rm and gc the cgroups go, after the
// OOM kills they counted are kept in the pod's dir for status.
import fs from 'node:fs';
import path from 'node:path';
import type { PodRecord } from '../../schema/pod';
import { PodCgroups, type Leaf } from '../cgroup/pod-cgroups';
import type { CgroupLayout } from '../cgroup/layout';
import { HelperError } from '../errors';

export interface CgroupSetup {
  layout: CgroupLayout;
  /** Where pods' cgroups go in each hierarchy (relative, e.g. "ward"). */
  parent: string;
  /** pids.max of every pod (null: no limit). */
  pidsMax: number | null;
}

const OOM_FILE = 'oom.json';

function appLeaf(name: string): Leaf {
  return `app-${name}`;
}

export interface PodCgroupHandle {
  cg: PodCgroups;
  /** The supervisor leaf's join files, one per hierarchy: stage1 joins before it forks. */
  supervisorFds: number[];
  /** Each app leaf's join files, one per hierarchy, in the apps' order. Close all after the launch. */
  appFds: number[][];
}

/** Makes the pod's cgroups and opens the leaves' join files for stage1. Nothing is left on failure. */
export function makePodCgroups(setup: CgroupSetup, uuid: string, rec: PodRecord): PodCgroupHandle {
  const apps = rec.apps.map((a) => ({ name: a.name, limits: { memoryBytes: a.spec.isolators?.memory, cpuMillis: a.spec.isolators?.cpu } }));
  let cg: PodCgroups;
  try {
    cg = PodCgroups.create(setup.layout, setup.parent, uuid, setup.pidsMax === null ? {} : { pids: setup.pidsMax }, apps);
  } catch (e) {
    throw new HelperError('ELAUNCH', `${(e as Error).message}; check the helper's --cgroup-parent and the host's cgroup controllers`);
  }
  const opened: number[][] = [];
  try {
    for (const leaf of ['supervisor' as const, ...rec.apps.map((a) => appLeaf(a.name))]) opened.push(cg.openJoin(leaf));
    return { cg, supervisorFds: opened[0]!, appFds: opened.slice(1) };
  } catch (e) {
    for (const fd of opened.flat()) fs.closeSync(fd);
    void cg.remove();
    throw new HelperError('ELAUNCH', `cannot open the cgroup of pod ${uuid}'s app: ${(e as Error).message}`);
  }
}

/**
 * ward enter: the app leaf's join files for the entering stage1, which joins before it forks, so
 * the command counts against the pod's limits as the app does. A pod made before cgroups has
 * none: nothing to join (an empty list).
 */
export function openEnteredJoin(setup: CgroupSetup, uuid: string, app: string): number[] {
  const cg = PodCgroups.of(setup.layout, setup.parent, uuid);
  if (!cg.leaves.includes(appLeaf(app))) return [];
  try {
    return cg.openJoin(appLeaf(app));
  } catch (e) {
    throw new HelperError('ELAUNCH', `cannot open pod ${uuid}'s cgroup for the entered command: ${(e as Error).message}`);
  }
}

/** Keeps the OOM kills each app's leaf counted (status shows them after the cgroups are gone), then removes the cgroups. */
export async function tearDownCgroups(setup: CgroupSetup, uuid: string, podDir: string | null): Promise<void> {
  const cg = PodCgroups.of(setup.layout, setup.parent, uuid);
  if (cg.leaves.length === 0 && !fs.existsSync(cgroupDirOf(setup, uuid))) return;
  if (podDir) {
    const counts: Record<string, number> = {};
    for (const leaf of cg.leaves) if (leaf.startsWith('app-')) counts[leaf.slice(4)] = cg.oomKills(leaf);
    if (Object.values(counts).some((n) => n > 0)) {
      try {
        fs.writeFileSync(path.join(podDir, OOM_FILE), JSON.stringify(counts), { mode: 0o600 });
      } catch {
        /* the pod's dir is gone: nobody will ask */
      }
    }
  }
  if (!(await cg.remove())) throw new HelperError('EINTERNAL', `the cgroups of pod ${uuid} could not all be removed; run ward gc again`);
}

/** The pod's cgroup in the memory hierarchy (or the unified one). */
function cgroupDirOf(setup: CgroupSetup, uuid: string): string {
  const root = setup.layout.kind === 'v2' ? setup.layout.root : setup.layout.roots.memory;
  return path.join(root, setup.parent, uuid);
}

/** Whether the kernel's OOM killer killed in the app's leaf: live while the cgroups exist, else as kept at teardown. */
export function oomKilled(setup: CgroupSetup, uuid: string, podDir: string, app: string): boolean {
  if (fs.existsSync(cgroupDirOf(setup, uuid))) {
    if (PodCgroups.of(setup.layout, setup.parent, uuid).oomKills(appLeaf(app)) > 0) return true;
  }
  try {
    const kept = JSON.parse(fs.readFileSync(path.join(podDir, OOM_FILE), 'utf8')) as Record<string, unknown>;
    return typeof kept[app] === 'number' && kept[app] > 0;
  } catch {
    return false;
  }
}
