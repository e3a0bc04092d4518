// Spawns ward-stage1 for one pod from the sealed memfd copy and drives its start-up protocol
// (addon/stage1/stage1.c): spec in; "U" -> write the id maps from outside -> "M"; "P pid";
// "R" once the app is forked; "E msg" on failure; "X code signal" when the app exits.
import fs from 'node:fs';
import { Socket } from 'node:net';
import os from 'node:os';
import { addon } from '../native/addon';
import type { SubIdRange } from './peer';
import { processRef } from './pod-store';
import type { ProcessRef } from '../schema/pod';

export interface LaunchSpec {
  uuid: string;
  hostname: string;
  lower: string;
  upper: string;
  work: string;
  rootfs: string;
  cwd: string;
  uid: number;
  gid: number;
  args: string[];
  env: string[];
  caps: number[];
  /** The app's supplementary groups (absent: none). */
  groups?: number[];
  masked: readonly string[];
  readonly: readonly string[];
  seccompFd: number | null;
  /** The pod's locked lock file and its status file (pod-store.ts), for stage1's fds 5 and 6. */
  stateFds?: { lock: number; status: number };
  /** The app's SELinux process label, staged in attr/exec by stage1 (absent: none written). */
  selinuxLabel?: string;
  /** context= for the overlay root and stage1's runtime mounts (SELinux hosts only). */
  selinuxMountLabel?: string;
  /** The pod's volumes: the helper's O_RDONLY fd of each source, passed as stage1's fds 7.. (run-volumes.ts). */
  volumes?: LaunchVolume[];
  /** Volumes mounted into the app. */
  mounts?: { volume: string; readOnly: boolean; path: string }[];
  /** After "P", stage1 waits for go() (the helper attaches the pod's network first; net.c). */
  netWait?: boolean;
  /** --net=host: the pod keeps the host's network namespace (policy-gated by the helper). */
  netHost?: boolean;
  /** The app leaf's cgroup.procs, one fd per hierarchy, opened by the helper: stage1's fds 16+. */
  cgroupFds?: number[];
  /** Test hooks, understood only by ward-stage1-test (see addon/stage1/spec.h). */
  testProcDir?: string;
  testAttrFile?: string;
}

export interface LaunchVolume {
  name: string;
  fd: number;
  readOnly: boolean;
  recursive: boolean;
}

/** stage1's fd of the i-th volume (addon/stage1/spec.h SPEC_VOLUME_FD_MIN). */
export const VOLUME_FD_BASE = 7;

function volumeKeys(s: LaunchSpec): [string, string][] {
  return [
    ...(s.volumes ?? []).map((v, i): [string, string] => ['volume', `${VOLUME_FD_BASE + i} ${v.readOnly ? 'ro' : 'rw'} ${v.recursive ? 'rec' : 'one'} ${v.name}`]),
    ...(s.mounts ?? []).map((m): [string, string] => ['mount', `${m.volume} ${m.readOnly ? 'ro' : 'rw'} ${m.path}`]),
  ];
}
/** addon/stage1/spec.h SPEC_FIRST_CGROUP_FD: after the volumes' fds (7-15). */
const FIRST_CGROUP_FD = 16;

export function encodeSpec(s: LaunchSpec): Buffer {
  const kv: [string, string][] = [
    ['uuid', s.uuid], ['hostname', s.hostname], ['lower', s.lower], ['upper', s.upper], ['work', s.work],
    ['rootfs', s.rootfs], ['cwd', s.cwd], ['uid', String(s.uid)], ['gid', String(s.gid)],
    ...s.args.map((a): [string, string] => ['arg', a]),
    ...s.env.map((e): [string, string] => ['env', e]),
    ...s.caps.map((c): [string, string] => ['cap', String(c)]),
    ...(s.groups ?? []).map((g): [string, string] => ['group', String(g)]),
    ...s.masked.map((m): [string, string] => ['masked', m]),
    ...s.readonly.map((r): [string, string] => ['readonly', r]),
    ['seccomp', s.seccompFd === null ? '0' : '1'],
    ...(s.stateFds !== undefined ? [['state_fds', '1'] as [string, string]] : []),
    ...volumeKeys(s),
    ...(s.netWait ? [['net_wait', '1'] as [string, string]] : []),
    ...(s.netHost ? [['net_host', '1'] as [string, string]] : []),
    ...(s.cgroupFds ?? []).map((_, i): [string, string] => ['cgroup_fd', String(FIRST_CGROUP_FD + i)]),
    ...(s.selinuxLabel !== undefined ? [['selinux_label', s.selinuxLabel] as [string, string]] : []),
    ...(s.selinuxMountLabel !== undefined ? [['selinux_mount_label', s.selinuxMountLabel] as [string, string]] : []),
    ...(s.testProcDir !== undefined ? [['test_proc_dir', s.testProcDir] as [string, string]] : []),
    ...(s.testAttrFile !== undefined ? [['test_attr_file', s.testAttrFile] as [string, string]] : []),
  ];
  return encodeKv(kv);
}

/** What ward enter runs inside a running pod, confined as its app is (addon/stage1 enter_pod). */
export interface EnterSpec {
  uuid: string;
  cwd: string;
  uid: number;
  gid: number;
  args: string[];
  env: string[];
  caps: number[];
  /** The app's supplementary groups (absent: none). */
  groups?: number[];
  seccompFd: number | null;
  selinuxLabel?: string;
  /** A pidfd of the pod's init, checked against its start time: stage1's fd 5. */
  pidfd: number;
}

export function encodeEnterSpec(s: EnterSpec): Buffer {
  return encodeKv([
    ['enter', '1'], ['uuid', s.uuid], ['cwd', s.cwd], ['uid', String(s.uid)], ['gid', String(s.gid)],
    ...s.args.map((a): [string, string] => ['arg', a]),
    ...s.env.map((e): [string, string] => ['env', e]),
    ...s.caps.map((c): [string, string] => ['cap', String(c)]),
    ...(s.groups ?? []).map((g): [string, string] => ['group', String(g)]),
    ['seccomp', s.seccompFd === null ? '0' : '1'],
    ...(s.selinuxLabel !== undefined ? [['selinux_label', s.selinuxLabel] as [string, string]] : []),
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

export interface LaunchHooks {
  /** Called with stage1's pid before it is sent its spec (so before it forks anything): cgroup placement. */
  placed?: (pid: number) => void;
}

export class LaunchError extends Error {}

export function launch(stage1Fd: number, spec: LaunchSpec, stdio: [number, number, number], ids: { uid: SubIdRange; gid: SubIdRange }, hooks: LaunchHooks = {}): PodHandle {
  const vols = spec.volumes ?? [];
  const cgroups = spec.cgroupFds ?? [];
  if (vols.length > FIRST_CGROUP_FD - VOLUME_FD_BASE) throw new Error('too many volume fds');
  // fd 4 BPF, 5-6 state, 7.. volumes, 16.. cgroups (addon/stage1/spec.h); gaps stay closed.
  const extra: (number | 'ignore')[] = [spec.seccompFd ?? 'ignore'];
  if (spec.stateFds) extra.push(spec.stateFds.lock, spec.stateFds.status);
  else if (vols.length > 0 || cgroups.length > 0) extra.push('ignore', 'ignore');
  extra.push(...vols.map((v) => v.fd));
  if (cgroups.length > 0) {
    while (extra.length + 4 < FIRST_CGROUP_FD) extra.push('ignore');
    extra.push(...cgroups);
  }
  return spawnStage1(stage1Fd, encodeSpec(spec), extra, stdio, ids, hooks);
}

export function launchEnter(stage1Fd: number, spec: EnterSpec, stdio: [number, number, number], hooks: LaunchHooks = {}): PodHandle {
  return spawnStage1(stage1Fd, encodeEnterSpec(spec), [spec.seccompFd ?? 'ignore', spec.pidfd], stdio, null, hooks);
}

function spawnStage1(stage1Fd: number, encoded: Buffer, extraFds: (number | 'ignore')[], stdio: [number, number, number], ids: { uid: SubIdRange; gid: SubIdRange } | null, hooks: LaunchHooks = {}): PodHandle {
  // posix_spawn, not child_process: node would fork the whole helper (addon/src/spawn.cc).
  const spawned = addon().spawnMemfd(stage1Fd, 'ward-stage1', [stdio[0], stdio[1], stdio[2], -1, ...extraFds.map((f) => (f === 'ignore' ? -1 : f))]);
  const child = new Stage1Process(spawned.pid, spawned.pidfd);
  const sync = new Socket({ fd: spawned.sync, readable: true, writable: true });
  if (hooks.placed) {
    try {
      hooks.placed(child.pid);
    } catch (e) {
      // Nothing was forked yet (stage1 waits for its spec): killing it ends everything.
      child.kill('SIGKILL');
      sync.destroy();
      throw e;
    }
  }
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
      error = rest.join(' ');
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
