// The run verb's SELinux step: decide, allocate the pod's pair, label its writable dirs and its
// sealed tree, record the labels, and say what stage1 must do. Everything here happens before
// stage1 is spawned, so a refusal (require on a host without SELinux) starts nothing.
import fs from 'node:fs';
import { fsetfilecon, SelinuxError } from '../../native/selinux';
import type { PodLabels, RunSelinuxMode } from '../../schema/selinux';
import { HelperError } from '../errors';
import { labelTree, treeIsLabelled } from '../label-tree';
import type { LaunchSpec } from '../launch';
import type { McsAllocator } from '../mcs';
import type { PolicySelinux } from '../../schema/selinux';
import { planFor, podLabelsFor, probeHost, recordPodLabels, treeLabel, withLevel, type LabelTypes, type SelinuxPlan } from '../selinux';

export interface SelinuxSetup {
  policy: PolicySelinux;
  types: LabelTypes;
  mcs: McsAllocator;
  /** Test-only (ward-helper --test-*): stage an exec label even without SELinux, put decoys over /proc. */
  test: { execLabel: boolean; procDir?: string; attrFile?: string };
}

export interface PodSelinux {
  plan: SelinuxPlan;
  labels: PodLabels | null;
  launch: Pick<LaunchSpec, 'selinuxLabel' | 'selinuxMountLabel' | 'testProcDir' | 'testAttrFile'>;
  /** Frees the pod's pair; call once the pod's directory is gone. */
  release(): void;
}

/** The label sealed trees get, or null when this host does not label files (seal and run agree). */
export function sealedTreeLabel(setup: SelinuxSetup): string | null {
  if (setup.policy.mode === 'off') return null;
  return setup.policy.mode === 'force-files' || probeHost().enabled ? treeLabel(setup.types) : null;
}

/** Labels a sealed tree unless its root already says it is (sealed before labelling was on). */
export async function ensureTreeLabelled(tree: string, label: string): Promise<void> {
  if (treeIsLabelled(tree, label)) return;
  const fd = fs.openSync(tree, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    await labelTree(fd, label);
  } finally {
    fs.closeSync(fd);
  }
}

function labelDir(dir: string, context: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    fsetfilecon(fd, context);
  } finally {
    fs.closeSync(fd);
  }
}

export async function setUpPodSelinux(
  setup: SelinuxSetup,
  requested: RunSelinuxMode | undefined,
  uuid: string,
  dirs: { podDir: string; apps: { upper: string; work: string; lower: string }[] },
): Promise<PodSelinux> {
  const plan = planFor(setup.policy, requested, probeHost());
  const hooks = { testProcDir: setup.test.procDir, testAttrFile: setup.test.attrFile };
  if (!plan.files) return { plan, labels: null, launch: hooks, release: () => undefined };
  const level = setup.mcs.allocate(uuid);
  const release = () => setup.mcs.release(level, uuid);
  try {
    const labels = podLabelsFor(setup.types, level, plan.exec);
    for (const app of dirs.apps) {
      labelDir(app.upper, labels.file);
      labelDir(app.work, labels.file);
      await ensureTreeLabelled(app.lower, treeLabel(setup.types));
    }
    recordPodLabels(dirs.podDir, labels);
    const exec = plan.exec || setup.test.execLabel ? withLevel(setup.types.process, level) : undefined;
    return {
      plan,
      labels,
      launch: { ...hooks, selinuxLabel: exec, selinuxMountLabel: plan.mounts ? labels.file : undefined },
      release,
    };
  } catch (e) {
    release();
    if (e instanceof SelinuxError) throw new HelperError('ESELINUX', `labelling pod ${uuid}: ${e.message}`);
    throw e;
  }
}
