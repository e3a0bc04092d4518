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
}

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
  /** Test hooks, understood only by ward-stage1-test (see addon/stage1/spec.h). */
  testProcDir?: string;
  testAttrFile?: string;
  apps: LaunchApp[];
}

type Kv = [string, string];
const opt = (k: string, v: string | undefined): Kv[] => (v !== undefined ? [[k, v]] : []);

function appKeys(a: Omit<LaunchApp, 'lower' | 'upper' | 'work'> & Partial<Pick<LaunchApp, 'lower' | 'upper' | 'work'>>): Kv[] {
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
  ];
}

export function encodeSpec(s: LaunchSpec): Buffer {
  const kv: Kv[] = [
    ['uuid', s.uuid], ['hostname', s.hostname], ['rootfs', s.rootfs],
    ...s.masked.map((m): Kv => ['masked', m]),
    ...s.readonly.map((r): Kv => ['readonly', r]),
    ...(s.stateFds !== undefined ? [['state_fds', '1'] as Kv] : []),
    ...opt('selinux_label', s.selinuxLabel),
    ...opt('selinux_mount_label', s.selinuxMountLabel),
    ...opt('test_proc_dir', s.testProcDir),
    ...opt('test_attr_file', s.testAttrFile),
    ...s.apps.flatMap(appKeys),
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
  seccompBytes: number;
  /** fd 4: the app's BPF program (null: none). */
  seccompFd: number | null;
  selinuxLabel?: string;
  /** A pidfd of the pod's init, checked against its start time: stage1's fd 5. */
  pidfd: number;
}

export function encodeEnterSpec(s: EnterSpec): Buffer {
  return encodeKv([
    ['enter', '1'], ['uuid', s.uuid], ['enter_app', String(s.appIndex)],
    ...opt('selinux_label', s.selinuxLabel),
    ...appKeys({ name: s.app, cwd: s.cwd, uid: s.uid, gid: s.gid, args: s.args, env: s.env, caps: s.caps, seccompBytes: s.seccompBytes }),
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
}

export class LaunchError extends Error {}

export function launch(stage1Fd: number, spec: LaunchSpec, stdio: [number, number, number], ids: { uid: SubIdRange; gid: SubIdRange }): PodHandle {
  return spawnStage1(stage1Fd, encodeSpec(spec), [spec.seccompFd ?? 'ignore', ...(spec.stateFds ? [spec.stateFds.lock, spec.stateFds.status] : [])], stdio, ids);
}

/** ward enter: stage1 in enter mode; the handle's init is null (nothing new is pod init). */
export function launchEnter(stage1Fd: number, spec: EnterSpec, stdio: [number, number, number]): PodHandle {
  return spawnStage1(stage1Fd, encodeEnterSpec(spec), [spec.seccompFd ?? 'ignore', spec.pidfd], stdio, null);
}

function spawnStage1(stage1Fd: number, encoded: Buffer, extraFds: (number | 'ignore')[], stdio: [number, number, number], ids: { uid: SubIdRange; gid: SubIdRange } | null): PodHandle {
  // posix_spawn, not child_process: node would fork the whole helper (addon/src/spawn.cc).
  const spawned = addon().spawnMemfd(stage1Fd, 'ward-stage1', [stdio[0], stdio[1], stdio[2], -1, ...extraFds.map((f) => (f === 'ignore' ? -1 : f))]);
  const child = new Stage1Process(spawned.pid, spawned.pidfd);
  const sync = new Socket({ fd: spawned.sync, readable: true, writable: true });
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
