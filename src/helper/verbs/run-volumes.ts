// The run verb's volume step: checked when a pod is prepared (checkPodVolumes) and again when it
// starts (openPodVolumes: policy may have changed), then every source opened as an fd for
// ward-stage1 (addon/stage1/volumes.c), host ones with the caller's credentials, empty ones
// made in the pod's directory; host volumes relabelled when asked and the pod is labelled.
// Nothing to tear down: the mounts live only in the pod's namespaces, the empty volumes in its
// directory, and both go with the pod.
import fs from 'node:fs';
import type { AppcPodManifest, AppcVolume } from '../../schema/appc-pod';
import type { PodLabels } from '../../schema/selinux';
import type { AppSpec, Volume } from '../../schema/protocol';
import { fsetfilecon, SelinuxError } from '../../native/selinux';
import { HelperError } from '../errors';
import type { LaunchApp, LaunchSpec, LaunchVolume } from '../launch';
import type { Peer, SubIdRange } from '../peer';
import type { Grants } from '../policy';
import { relabelVolumeFd } from '../relabel';
import { checkVolumes, makeEmptyVolume, openHostSource } from '../volumes';

export function checkPodVolumes(volumes: readonly Volume[] | undefined, apps: readonly AppSpec[], grants: Grants, stateDir: string): void {
  if (!volumes?.length && !apps.some((a) => a.mounts?.length)) return;
  checkVolumes(volumes ?? [], apps, grants.hostVolumes, stateDir);
}

/** The pod manifest's volumes (appc shape: mode as an octal string). */
export function manifestVolumes(volumes: readonly Volume[] | undefined): Pick<AppcPodManifest, 'volumes'> {
  if (!volumes?.length) return {};
  return {
    volumes: volumes.map((v): AppcVolume => v.kind === 'host'
      ? { name: v.name, kind: 'host', source: v.source, readOnly: v.readOnly ?? false, recursive: v.recursive ?? true }
      : { name: v.name, kind: 'empty', readOnly: v.readOnly ?? false, mode: (v.mode ?? 0o755).toString(8).padStart(4, '0'), uid: v.uid ?? 0, gid: v.gid ?? 0 }),
  };
}

/** For the audit record: each volume's name, kind, source and flags (empty when none). */
export function describeVolumes(volumes: readonly Volume[] | undefined): string {
  if (!volumes?.length) return '';
  return ' volumes ' + volumes.map((v) => (v.kind === 'host' ? `${v.name}=host:${JSON.stringify(v.source)}${v.readOnly ? ':ro' : ''}${v.selinuxRelabel ? `:relabel-${v.selinuxRelabel}` : ''}` : `${v.name}=empty${v.readOnly ? ':ro' : ''}`)).join(',');
}

export interface PodVolumes {
  launch: Pick<LaunchSpec, 'volumes'>;
  /** Each app's mounts of them, in the apps' order. */
  mounts: NonNullable<LaunchApp['mounts']>[];
  /** Closes the helper's copies of the fds (stage1 holds its own once launched). */
  close(): void;
}

export async function openPodVolumes(
  ctx: { peer: Peer; grants: Grants; stateDir: string; ids: { uid: SubIdRange; gid: SubIdRange } },
  podDir: string,
  volumes: readonly Volume[] | undefined,
  apps: readonly AppSpec[],
  labels: PodLabels | null,
): Promise<PodVolumes> {
  if (!volumes?.length) return { launch: {}, mounts: apps.map(() => []), close: () => undefined };
  checkVolumes(volumes, apps, ctx.grants.hostVolumes, ctx.stateDir);
  const opened: LaunchVolume[] = [];
  const close = () => {
    for (const v of opened.splice(0)) fs.closeSync(v.fd);
  };
  try {
    for (const v of volumes) {
      if (v.kind === 'host') {
        const fd = openHostSource(ctx.peer, v, ctx.grants.hostVolumes);
        opened.push({ name: v.name, fd, readOnly: v.readOnly ?? false, recursive: v.recursive ?? true });
        if (v.selinuxRelabel && labels) {
          await relabelVolumeFd(fd, v.source, v.selinuxRelabel, labels.file, { uid: ctx.peer.uid, subIds: ctx.ids, stateDir: ctx.stateDir });
        }
      } else {
        const fd = makeEmptyVolume(podDir, v, ctx.ids);
        opened.push({ name: v.name, fd, readOnly: v.readOnly ?? false, recursive: true });
        if (labels) fsetfilecon(fd, labels.file);
      }
    }
  } catch (e) {
    close();
    if (e instanceof SelinuxError) throw new HelperError('ESELINUX', `labelling a volume: ${e.message}`);
    throw e;
  }
  return {
    launch: { volumes: [...opened] },
    mounts: apps.map((app) => (app.mounts ?? []).map((m) => ({ volume: m.volume, readOnly: m.readOnly ?? false, path: m.path }))),
    close,
  };
}
