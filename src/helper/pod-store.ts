// Pods on disk, rkt's model (REFERENCE §5): STATE/pods/<state dir>/<uuid>, a pod changes state by
// a rename between state dirs, and a pod in run/ is running exactly as long as its lock file is
// flock'ed: the helper locks it before the launch and hands the lock to ward-stage1, which holds
// it until the pod's last process is gone. So a helper that restarts, or was never the pod's
// parent, still tells running from exited, and a kill -9 of stage1 shows as exited.
//
// In each pod dir: pod.json (the record, schema/pod.ts, written by write-then-rename), lock,
// status (stage1 appends "app <i> <code> <signo>" per app and "pod <code> <signo>" last),
// selinux.json (labels, selinux.ts), rootfs/ (where ward-stage1 mounts the pod root) and
// apps/<name>/{upper,work}/ (each app's overlay dirs).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addon } from '../native/addon';
import { PodRecord, type PodInfo, type PodState, type ProcessRef } from '../schema/pod';

export const STATE_DIRS = ['embryo', 'prepared', 'run', 'exited-garbage', 'garbage'] as const;
export type StateDirName = (typeof STATE_DIRS)[number];

const RECORD = 'pod.json';
const LOCK = 'lock';
const STATUS = 'status';

export interface FoundPod {
  where: StateDirName;
  dir: string;
}

export class PodStore {
  constructor(readonly root: string) {}

  /** Creates the state dirs; removes what a helper that died left half-made (embryo) or half-removed (garbage). */
  init(): void {
    for (const d of STATE_DIRS) fs.mkdirSync(path.join(this.root, d), { recursive: true, mode: 0o700 });
    for (const d of ['embryo', 'garbage'] as const) {
      for (const name of fs.readdirSync(path.join(this.root, d))) fs.rmSync(path.join(this.root, d, name), { recursive: true, force: true });
    }
  }

  path(where: StateDirName, uuid: string): string {
    return path.join(this.root, where, uuid);
  }

  find(uuid: string): FoundPod | null {
    for (const where of STATE_DIRS) {
      const dir = this.path(where, uuid);
      if (fs.existsSync(dir)) return { where, dir };
    }
    return null;
  }

  /** Every pod the store holds (embryos and garbage included, for gc). */
  all(): { uuid: string; where: StateDirName; dir: string }[] {
    const out: { uuid: string; where: StateDirName; dir: string }[] = [];
    for (const where of STATE_DIRS) {
      for (const uuid of fs.readdirSync(path.join(this.root, where))) out.push({ uuid, where, dir: this.path(where, uuid) });
    }
    return out;
  }

  /** Renames a pod from one state to another; false when it was not there (someone else moved it first). */
  move(uuid: string, from: StateDirName, to: StateDirName): boolean {
    try {
      fs.renameSync(this.path(from, uuid), this.path(to, uuid));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  readRecord(dir: string): PodRecord | null {
    let text: string;
    try {
      text = fs.readFileSync(path.join(dir, RECORD), 'utf8');
    } catch {
      return null;
    }
    const parsed = PodRecord.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  }

  writeRecord(dir: string, rec: PodRecord): void {
    const tmp = path.join(dir, `.${RECORD}.tmp`);
    fs.writeFileSync(tmp, JSON.stringify(PodRecord.parse(rec)) + '\n', { mode: 0o600 });
    fs.renameSync(tmp, path.join(dir, RECORD));
  }

  /** Creates the pod's lock and (empty) status files. */
  createStateFiles(dir: string): void {
    fs.writeFileSync(path.join(dir, LOCK), '', { mode: 0o600, flag: 'wx' });
    fs.writeFileSync(path.join(dir, STATUS), '', { mode: 0o600, flag: 'wx' });
  }

  /** Opens and locks the pod's lock file; null when another holds it (the pod runs, or is being started). */
  lock(dir: string): number | null {
    const fd = fs.openSync(path.join(dir, LOCK), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      if (addon().flock(fd, 'exclusive', false)) return fd;
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    fs.closeSync(fd);
    return null;
  }

  /** The status file, for stage1 to append to. */
  openStatus(dir: string): number {
    return fs.openSync(path.join(dir, STATUS), fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_NOFOLLOW);
  }

  /** Whether someone (stage1) holds the pod's lock. */
  isLocked(dir: string): boolean {
    let fd: number | null;
    try {
      fd = this.lock(dir);
    } catch {
      return false;
    }
    if (fd === null) return true;
    fs.closeSync(fd);
    return false;
  }

  state(found: FoundPod): PodState {
    switch (found.where) {
      case 'run':
        return this.isLocked(found.dir) ? 'running' : 'exited';
      case 'embryo':
      case 'prepared':
      case 'exited-garbage':
      case 'garbage':
        return found.where;
    }
  }

  /** What list and status report about one pod. */
  info(found: FoundPod, rec: PodRecord): PodInfo {
    const state = this.state(found);
    const fate = readStatus(found.dir);
    const exitedState = state === 'exited' || state === 'exited-garbage' || (state === 'garbage' && rec.started !== null);
    const app0 = rec.apps[0]!;
    return {
      uuid: rec.uuid,
      state,
      owner: rec.owner.uid,
      created: rec.created,
      started: rec.started,
      exited: exitedState ? fate.time : null,
      pid: state === 'running' ? (rec.stage1?.pid ?? null) : null,
      image: app0.image.name,
      imageId: app0.image.id,
      signer: app0.image.signer,
      apps: rec.apps.map((a, i) => {
        const s = exitedState ? (fate.apps.get(i) ?? fate.pod) : null;
        return { name: a.name, exitCode: s?.code ?? null, signal: s?.signal ?? null };
      }),
      selinux: rec.selinux,
      measured: rec.measured,
    };
  }
}

interface Fate {
  code: number;
  signal: string | null;
}

function signalName(n: number): string | null {
  if (n === 0) return null;
  return Object.entries(os.constants.signals).find(([, v]) => v === n)?.[0] ?? `SIG${n}`;
}

/** Parses the status file stage1 wrote; lines it does not understand are ignored (it is ours, but bounded). */
export function readStatus(dir: string): { apps: Map<number, Fate>; pod: Fate | null; time: string | null } {
  let text = '';
  let time: string | null = null;
  try {
    const fd = fs.openSync(path.join(dir, STATUS), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      const st = fs.fstatSync(fd);
      const buf = Buffer.alloc(Math.min(st.size, 64 * 1024));
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      text = buf.subarray(0, n).toString('utf8');
      if (n > 0) time = st.mtime.toISOString();
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* no status: unknown */
  }
  const apps = new Map<number, Fate>();
  let pod: Fate | null = null;
  for (const line of text.split('\n')) {
    const m = /^(app (\d{1,2})|pod) (-1|\d{1,3}) (\d{1,2})$/.exec(line);
    if (!m) continue;
    const sig = Number(m[4]);
    const fate = { code: sig ? 128 + sig : Number(m[3]), signal: signalName(sig) };
    if (m[2] !== undefined) apps.set(Number(m[2]), fate);
    else pod = fate;
  }
  return { apps, pod, time };
}

/** /proc/<pid>/stat's start time (field 22), or null when there is no such process. */
export function startTimeOf(pid: number): string | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[19] ?? null; // fields from 3 on: field 22 is index 19
}

/** pid and its start time; null when the process is already gone (a pod that ended at once). */
export function processRef(pid: number): ProcessRef | null {
  const startTime = pid > 0 ? startTimeOf(pid) : null;
  return startTime === null ? null : { pid, startTime };
}

/**
 * Sends a signal to the process `ref` names through a pidfd: the pidfd is taken first, then the
 * start time checked, so a pid reused by another process is never signalled. False when gone.
 */
export function signalProcess(ref: ProcessRef, signo: number): boolean {
  let pidfd: number;
  try {
    pidfd = addon().pidfdOpen(ref.pid);
  } catch (e) {
    if ((e as { code?: string }).code === 'ESRCH') return false;
    throw e;
  }
  try {
    if (startTimeOf(ref.pid) !== ref.startTime) return false;
    return addon().pidfdSendSignal(pidfd, signo);
  } finally {
    fs.closeSync(pidfd);
  }
}
