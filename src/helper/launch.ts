// Spawns ward-stage1 for one pod from the sealed memfd copy and drives its start-up protocol
// (addon/stage1/stage1.c): spec in; "U" -> write the id maps from outside -> "M"; "P pid";
// "R" once every app runs; "E msg" on failure; "X code signal" when the pod ends (the first app's
// exit, as rkt reports a pod's).
import fs from 'node:fs';
import { Socket } from 'node:net';
import os from 'node:os';
import { addon } from '../native/addon';
import type { SubIdRange } from './peer';
import { processRef } from './pod-store';
import type { ProcessRef } from '../schema/pod';

/** One app of a pod, as ward-stage1 sets it up (an "app" section of the spec, addon/stage1/spec.h). */
export interface LaunchApp {
  /** Its ACName: its root is /opt/stage2/<name>/rootfs in the pod root. */
  name: string;
  lower: string;
  upper: string;
  work: string;
  cwd: string;
  uid: number;
  gid: number;
  args: string[];
  env: string[];
  caps: number[];
  /** Byte length of its BPF program among the programs on fd 4 (seccomp-input.ts); 0: none. */
  seccompBytes: number;
  readonlyRootfs?: boolean;
  preStart?: string[];
  postStop?: string[];
  /** Its supplementary groups (absent: none). */
  groups?: number[];
  /** Volumes of the pod mounted into it. */
  mounts?: { volume: string; readOnly: boolean; path: string }[];
  /** Its leaf's join files, one fd per hierarchy, opened by the helper (net.c): after the pod's, from fd 16 on. */
  cgroupFds?: number[];
}

export interface LaunchVolume {
  name: string;
  fd: number;
  readOnly: boolean;
  recursive: boolean;
}

/** stage1's fd of the i-th volume (addon/stage1/spec.h SPEC_VOLUME_FD_MIN), and of the first cgroup fd. */
export const VOLUME_FD_BASE = 7;
const FIRST_CGROUP_FD = 16;
const MAX_FDS = 64;

export interface LaunchSpec {
  uuid: string;
  hostname: string;
  /** Mount point of the pod root (the tmpfs that holds every app's root). */
  rootfs: string;
  masked: readonly string[];
  readonly: readonly string[];
  /** fd 4: the apps' BPF programs one after another (null: no app has one). */
  seccompFd: number | null;
  /** The pod's locked lock file and its status file (pod-store.ts), for stage1's fds 5 and 6. */
  stateFds?: { lock: number; status: number };
  /** The apps' SELinux process label, staged in attr/exec by stage1 (absent: none written). */
  selinuxLabel?: string;
  /** context= for the pod root, the overlays and stage1's runtime mounts (SELinux hosts only). */
  selinuxMountLabel?: string;
  /** The pod's volumes: the helper's O_RDONLY fd of each source, passed as stage1's fds 7.. (run-volumes.ts). */
  volumes?: LaunchVolume[];
  /** After "P", stage1 waits for go() (the helper attaches the pod's network first; net.c). */
  netWait?: boolean;
  /** --net=host: the pod keeps the host's network namespace (policy-gated by the helper). */
  netHost?: boolean;
  /** The supervisor leaf's join files, one fd per hierarchy: stage1 joins them before anything else (fd 16 on). */
  cgroupFds?: number[];
  /** Test hooks, understood only by ward-stage1-test (see addon/stage1/spec.h). */
  testProcDir?: string;
  testAttrFile?: string;
  apps: LaunchApp[];
}

type Kv = [string, string];
const opt = (k: string, v: string | undefined): Kv[] => (v !== undefined ? [[k, v]] : []);

function appKeys(a: Omit<LaunchApp, 'lower' | 'upper' | 'work'> & Partial<Pick<LaunchApp, 'lower' | 'upper' | 'work'>>, cgroupFd = FIRST_CGROUP_FD): Kv[] {
  return [
    ['app', a.name],
    ...opt('lower', a.lower), ...opt('upper', a.upper), ...opt('work', a.work),
    ['cwd', a.cwd], ['uid', String(a.uid)], ['gid', String(a.gid)],
    ...a.args.map((v): Kv => ['arg', v]),
    ...a.env.map((e): Kv => ['env', e]),
    ...a.caps.map((c): Kv => ['cap', String(c)]),
    ['seccomp', String(a.seccompBytes)],
    ...(a.readonlyRootfs ? [['readonly_rootfs', '1'] as Kv] : []),
    ...(a.preStart ?? []).map((v): Kv => ['pre_start', v]),
    ...(a.postStop ?? []).map((v): Kv => ['post_stop', v]),
    ...(a.groups ?? []).map((g): Kv => ['group', String(g)]),
    ...(a.mounts ?? []).map((m): Kv => ['mount', `${m.volume} ${m.readOnly ? 'ro' : 'rw'} ${m.path}`]),
    ...(a.cgroupFds ?? []).map((_, i): Kv => ['cgroup_fd', String(cgroupFd + i)]),
  ];
}

/** The fd each app's first cgroup fd lands on: they follow the pod's own from fd 16. */
function cgroupFdBases(pod: readonly number[], apps: readonly LaunchApp[]): number[] {
  let next = FIRST_CGROUP_FD + pod.length;
  return apps.map((a) => {
    const base = next;
    next += a.cgroupFds?.length ?? 0;
    return base;
  });
}

/** The pod-level cgroup_fd keys: the fds stage1 itself joins, first of the cgroup fds. */
function podCgroupKeys(fds: readonly number[] | undefined): Kv[] {
  return (fds ?? []).map((_, i): Kv => ['cgroup_fd', String(FIRST_CGROUP_FD + i)]);
}

export function encodeSpec(s: LaunchSpec): Buffer {
  const kv: Kv[] = [
    ['uuid', s.uuid], ['hostname', s.hostname], ['rootfs', s.rootfs],
    ...s.masked.map((m): Kv => ['masked', m]),
    ...s.readonly.map((r): Kv => ['readonly', r]),
    ...(s.stateFds !== undefined ? [['state_fds', '1'] as Kv] : []),
    ...(s.volumes ?? []).map((v, i): Kv => ['volume', `${VOLUME_FD_BASE + i} ${v.readOnly ? 'ro' : 'rw'} ${v.recursive ? 'rec' : 'one'} ${v.name}`]),
    ...(s.netWait ? [['net_wait', '1'] as Kv] : []),
    ...(s.netHost ? [['net_host', '1'] as Kv] : []),
    ...opt('selinux_label', s.selinuxLabel),
    ...opt('selinux_mount_label', s.selinuxMountLabel),
    ...opt('test_proc_dir', s.testProcDir),
    ...opt('test_attr_file', s.testAttrFile),
    ...podCgroupKeys(s.cgroupFds),
    ...s.apps.flatMap((a, i) => appKeys(a, cgroupFdBases(s.cgroupFds ?? [], s.apps)[i])),
  ];
  return encodeKv(kv);
}

/** What ward enter runs inside a running pod, in the mount namespace of app `app`, confined as that app is (addon/stage1 enter_pod). */
export interface EnterSpec {
  uuid: string;
  /** The app's name and its index in the pod (pod init keeps its mount namespace by index). */
  app: string;
  appIndex: number;
  cwd: string;
  uid: number;
  gid: number;
  args: string[];
  env: string[];
  caps: number[];
  /** The app's supplementary groups (absent: none). */
  groups?: number[];
  seccompBytes: number;
  /** fd 4: the app's BPF program (null: none). */
  seccompFd: number | null;
  selinuxLabel?: string;
  /** A pidfd of the pod's init, checked against its start time: stage1's fd 5. */
  pidfd: number;
  /** The app leaf's join files (absent or empty: the pod has no cgroups), joined before stage1 forks (fd 16 on). */
  cgroupFds?: number[];
}

export function encodeEnterSpec(s: EnterSpec): Buffer {
  return encodeKv([
    ['enter', '1'], ['uuid', s.uuid], ['enter_app', String(s.appIndex)],
    ...opt('selinux_label', s.selinuxLabel),
    ...podCgroupKeys(s.cgroupFds),
    ...appKeys({ name: s.app, cwd: s.cwd, uid: s.uid, gid: s.gid, args: s.args, env: s.env, caps: s.caps, seccompBytes: s.seccompBytes, ...(s.groups ? { groups: s.groups } : {}) }),
  ]);
}

function encodeKv(kv: [string, string][]): Buffer {
  const body = Buffer.concat(kv.flatMap(([k, v]) => [Buffer.from(k), Buffer.from([0]), Buffer.from(v), Buffer.from([0])]));
  const hdr = Buffer.alloc(4);
  hdr.writeUInt32BE(body.length);
  return Buffer.concat([hdr, body]);
}

export interface PodHandle {
  /** Resolves when the app has been forked (the pod runs), rejects with stage1's error. */
  started: Promise<void>;
  /** Resolves with the app's fate once stage1 is gone. */
  exited: Promise<{ code: number; signal: string | null }>;
  signal(sig: NodeJS.Signals): void;
  kill(): void;
  /** ward-stage1 and the pod's init, each named by pid and start time, taken as soon as each is known (null: gone already). */
  readonly stage1: ProcessRef | null;
  readonly init: ProcessRef | null;
  /** Resolves with pod init's host pid once stage1 reports it (never, if stage1 fails before). */
  initPid: Promise<number>;
  /** For a net_wait spec: lets pod init start the apps (true) or makes it exit (false). */
  go(ok: boolean): void;
}

export class LaunchError extends Error {}

/** stage1's fds from 4 on: BPF, then two fds (state, or enter's pidfd and a gap), volumes from 7, cgroup fds from 16 (addon/stage1/spec.h); gaps stay closed. */
function extraFds(bpf: number | null, pair: [number, number | 'ignore'] | null, vols: readonly number[], cgroups: readonly number[]): (number | 'ignore')[] {
  if (vols.length > FIRST_CGROUP_FD - VOLUME_FD_BASE) throw new Error('too many volume fds');
  if (FIRST_CGROUP_FD + cgroups.length > MAX_FDS) throw new Error('too many cgroup fds');
  const extra: (number | 'ignore')[] = [bpf ?? 'ignore'];
  if (pair) extra.push(...pair);
  else if (vols.length > 0 || cgroups.length > 0) extra.push('ignore', 'ignore');
  extra.push(...vols);
  if (cgroups.length > 0) {
    while (extra.length + 4 < FIRST_CGROUP_FD) extra.push('ignore');
    extra.push(...cgroups);
  }
  return extra;
}

export function launch(stage1Fd: number, spec: LaunchSpec, stdio: [number, number, number], ids: { uid: SubIdRange; gid: SubIdRange }): PodHandle {
  const cgroups = [...(spec.cgroupFds ?? []), ...spec.apps.flatMap((a) => a.cgroupFds ?? [])];
  const state: [number, number] | null = spec.stateFds ? [spec.stateFds.lock, spec.stateFds.status] : null;
  return spawnStage1(stage1Fd, encodeSpec(spec), extraFds(spec.seccompFd, state, (spec.volumes ?? []).map((v) => v.fd), cgroups), stdio, ids);
}

export function launchEnter(stage1Fd: number, spec: EnterSpec, stdio: [number, number, number]): PodHandle {
  // fd 5 the pod init's pidfd; fd 6 stays closed (enter has no status file of its own).
  return spawnStage1(stage1Fd, encodeEnterSpec(spec), extraFds(spec.seccompFd, [spec.pidfd, 'ignore'], [], spec.cgroupFds ?? []), stdio, null);
}

function spawnStage1(stage1Fd: number, encoded: Buffer, extraFds: (number | 'ignore')[], stdio: [number, number, number], ids: { uid: SubIdRange; gid: SubIdRange } | null): PodHandle {
  // posix_spawn, not child_process: node would fork the whole helper (addon/src/spawn.cc).
  const spawned = addon().spawnMemfd(stage1Fd, 'ward-stage1', [stdio[0], stdio[1], stdio[2], -1, ...extraFds.map((f) => (f === 'ignore' ? -1 : f))]);
  const child = new Stage1Process(spawned.pid, spawned.pidfd);
  const sync = new Socket({ fd: spawned.sync, readable: true, writable: true });
  let resolveInit!: (pid: number) => void;
  const initPid = new Promise<number>((res) => (resolveInit = res));
  const stage1 = processRef(child.pid);
  let podInit = 0;
  let init: ProcessRef | null = null;
  let error: string | null = null;
  let appExit: { code: number; signal: string | null } | null = null;
  let resolveStarted!: () => void;
  let rejectStarted!: (e: Error) => void;
  const started = new Promise<void>((res, rej) => ((resolveStarted = res), (rejectStarted = rej)));
  started.catch(() => undefined);

  sync.write(encoded);
  let buf = '';
  sync.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      onLine(line);
    }
  });
  sync.on('error', () => undefined);

  function onLine(line: string): void {
    const [tag, ...rest] = line.split(' ');
    if (tag === 'U') {
      try {
        if (!ids) throw new Error('stage1 asked for id maps where it makes no user namespace');
        fs.writeFileSync(`/proc/${child.pid}/uid_map`, `0 ${ids.uid.base} ${ids.uid.count}\n`);
        fs.writeFileSync(`/proc/${child.pid}/gid_map`, `0 ${ids.gid.base} ${ids.gid.count}\n`);
        sync.write('M\n');
      } catch (e) {
        error = `writing the pod's id maps: ${(e as Error).message}`;
        child.kill('SIGKILL');
      }
    } else if (tag === 'P') {
      podInit = Number(rest[0]);
      init = processRef(podInit);
      resolveInit(podInit);
    } else if (tag === 'R') {
      resolveStarted();
    } else if (tag === 'E') {
      // The first is the cause (a failing pre-start handler, then the app that ran it, say).
      error ??= rest.join(' ');
    } else if (tag === 'X') {
      const code = Number(rest[0]);
      const sig = Number(rest[1]);
      const name = sig ? (Object.entries(os.constants.signals).find(([, n]) => n === sig)?.[0] ?? `SIG${sig}`) : null;
      appExit = { code: sig ? 128 + sig : code, signal: name };
    }
  }

  const exited = new Promise<{ code: number; signal: string | null }>((resolve) => {
    // As child_process's 'close': once stage1 is reaped and its sync socket read to the end, so
    // the "X" line is in.
    let reaped: { code: number | null; signal: string | null } | null = null;
    let syncClosed = false;
    const done = () => {
      if (!reaped || !syncClosed) return;
      const { code, signal } = reaped;
      if (error !== null || (!appExit && code === 254)) {
        rejectStarted(new LaunchError(error ?? 'ward-stage1 failed without a message'));
      } else if (!appExit) {
        rejectStarted(new LaunchError(`ward-stage1 ended before the app started (${signal ?? `exit ${code}`})`));
      }
      resolve(appExit ?? { code: code ?? 254, signal: null });
    };
    sync.on('close', () => {
      syncClosed = true;
      done();
    });
    void child.exit.then((r) => {
      reaped = r;
      done();
    });
  });

  return {
    started,
    exited,
    stage1,
    get init() {
      return init;
    },
    initPid,
    go: (ok) => {
      if (!sync.destroyed) sync.write(ok ? 'G\n' : 'E\n');
    },
    signal: (sig) => {
      if (child.exitCode === null) child.kill(sig);
    },
    // SIGKILL to pod init takes the pod's pid namespace down; stage1 (its parent, so the pid
    // cannot have been reused yet) then records the fate in the status file and exits. Before
    // pod init exists, stage1 itself is killed.
    kill: () => {
      if (podInit > 0 && child.exitCode === null) {
        try {
          process.kill(podInit, 'SIGKILL');
          return;
        } catch {
          /* already gone */
        }
      }
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** ward-stage1 as spawned by the addon: its exit seen through its pidfd on the event loop, signals sent through it. */
class Stage1Process {
  exitCode: number | null = null;
  readonly exit: Promise<{ code: number | null; signal: string | null }>;

  constructor(
    readonly pid: number,
    private readonly pidfd: number,
  ) {
    this.exit = new Promise((resolve) => {
      const watcher = addon().watchFd(pidfd, (readable) => {
        if (!readable) return;
        const r = addon().waitPidfd(pidfd);
        if (!r) return;
        watcher.close();
        addon().close(pidfd);
        this.exitCode = r.code ?? 128 + (r.signal ?? 0);
        const name = r.signal === null ? null : (Object.entries(os.constants.signals).find(([, n]) => n === r.signal)?.[0] ?? `SIG${r.signal}`);
        resolve({ code: r.code, signal: name });
      });
      watcher.setInterest(true, false);
    });
  }

  kill(sig: NodeJS.Signals): void {
    if (this.exitCode !== null) return;
    addon().pidfdSendSignal(this.pidfd, os.constants.signals[sig]);
  }
}
