// The integration harness: a real ward-helper as root on a private socket and state dir, and
// `ward` run as unprivileged test users (created by scripts/setup.sh) through setpriv, the way
// people use it. Everything lives under one temp dir that stop() removes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const REPO = path.resolve(__dirname, '..', '..', '..');
export const WARD = path.join(REPO, 'bin', 'ward');
export const HELPER = path.join(REPO, 'bin', 'ward-helper');
export const USERS = { a: 'ward-test-a', b: 'ward-test-b', out: 'ward-test-out', admin: 'ward-test-admin' } as const;
export type TestUser = keyof typeof USERS;
/** The helper's pod state dirs (src/helper/pod-store.ts). */
export const POD_STATE_DIRS = ['embryo', 'prepared', 'run', 'exited-garbage', 'garbage'] as const;

export interface WardResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function account(name: string): { uid: number; gid: number; subuid: number; subgid: number } {
  const pw = fs.readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[0] === name);
  if (!pw) throw new Error(`test user ${name} does not exist; run scripts/setup.sh as root`);
  const sub = (file: string) => Number(fs.readFileSync(file, 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[0] === name)?.[1]);
  return { uid: Number(pw[2]), gid: Number(pw[3]), subuid: sub('/etc/subuid'), subgid: sub('/etc/subgid') };
}

export class TestEnv {
  readonly dir: string;
  readonly socket: string;
  readonly state: string;
  readonly fixtures: string;
  /** The trust configuration dirs every `ward` of this env uses (never the host's /usr/lib/ward and /etc/ward). */
  readonly systemConfig: string;
  readonly localConfig: string;
  private helper: ChildProcess | null = null;
  helperLog = '';
  /** The helper's net.d: "default" and "default-restricted" on subnets of this env's own (netSubnets). */
  readonly netDir: string;
  readonly netSubnets: { default: string; restricted: string };
  /** Where this env's pods' cgroups go (each hierarchy), so envs never see each other's. */
  readonly cgroupParent: string;

  constructor(readonly name: string) {
    if (process.getuid?.() !== 0) throw new Error('integration tests run as root (they start the root helper); use npm test');
    // Users must reach their store dirs and the fixtures: the top is 0755, the helper's state 0700.
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `ward-it-${name}-`));
    fs.chmodSync(this.dir, 0o755);
    this.socket = path.join(this.dir, 'run', 'helper.sock');
    this.state = path.join(this.dir, 'state');
    this.fixtures = path.join(this.dir, 'fixtures');
    fs.mkdirSync(path.join(this.dir, 'run'), { mode: 0o755 });
    fs.mkdirSync(this.fixtures, { mode: 0o755 });
    this.systemConfig = path.join(this.dir, 'config', 'system');
    this.localConfig = path.join(this.dir, 'config', 'local');
    fs.mkdirSync(this.systemConfig, { recursive: true, mode: 0o755 });
    fs.mkdirSync(this.localConfig, { recursive: true, mode: 0o755 });
    fs.chmodSync(path.join(this.dir, 'config'), 0o755);
    for (const u of Object.values(USERS)) {
      const a = account(u);
      const home = path.join(this.dir, 'users', u);
      fs.mkdirSync(home, { recursive: true, mode: 0o700 });
      fs.chownSync(home, a.uid, a.gid);
    }
    fs.chmodSync(path.join(this.dir, 'users'), 0o755);
    // Networks of this env alone: the built-in ones on subnets picked at random in 10.200/13.
    this.netDir = path.join(this.dir, 'net.d');
    fs.mkdirSync(this.netDir, { mode: 0o755 });
    const sub = () => {
      const b = crypto.randomBytes(2);
      return `10.${200 + (b[0]! % 8)}.${b[1]}.0/24`;
    };
    this.netSubnets = { default: sub(), restricted: sub() };
    const ptp = (name: string, subnet: string, masq: boolean) => ({
      cniVersion: '1.0.0',
      name,
      plugins: [
        { type: 'ptp', ipMasq: masq, ipam: { type: 'host-local', subnet, dataDir: path.join(this.dir, 'state', 'cni', 'ipam'), routes: masq ? [{ dst: '0.0.0.0/0' }] : [] } },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ],
    });
    fs.writeFileSync(path.join(this.netDir, '10-default.conflist'), JSON.stringify(ptp('default', this.netSubnets.default, true)), { mode: 0o644 });
    fs.writeFileSync(path.join(this.netDir, '10-default-restricted.conflist'), JSON.stringify(ptp('default-restricted', this.netSubnets.restricted, false)), { mode: 0o644 });
    this.cgroupParent = `ward-${path.basename(this.dir).replace(/[^A-Za-z0-9_.-]/g, '')}`;
    const probe = spawnSync('setpriv', ['--reuid', USERS.a, '--regid', USERS.a, '--init-groups', '--', 'test', '-r', path.join(REPO, 'dist', 'src', 'cli', 'main.js')]);
    if (probe.status !== 0) throw new Error(`test user ${USERS.a} cannot read ${REPO}; clone ward somewhere other users can read (every parent dir o+x)`);
  }

  /**
   * Starts the helper on the private socket; with activation, systemd-socket-activate makes the
   * socket and passes it (LISTEN_FDS), as ward-helper.socket does.
   */
  async start(extraArgs: string[] = [], opts: { activation?: boolean; network?: boolean } = {}): Promise<void> {
    // Pods get the default network only when the test asks (network: true), so others stay fast.
    const netArgs = ['--net-dir', this.netDir, '--cgroup-parent', this.cgroupParent, ...(opts.network ? [] : ['--default-net', 'none'])];
    const helperArgs = [HELPER, '--socket', this.socket, '--state-dir', this.state, ...netArgs, ...extraArgs];
    const child = opts.activation
      ? spawn('systemd-socket-activate', ['-l', this.socket, process.execPath, ...helperArgs], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(process.execPath, helperArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.helper = child;
    child.stdout!.on('data', (c: Buffer) => (this.helperLog += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (this.helperLog += c.toString()));
    const deadline = Date.now() + 15_000;
    while (!fs.existsSync(this.socket)) {
      if (child.exitCode !== null) throw new Error(`ward-helper exited: ${this.helperLog}`);
      if (Date.now() > deadline) throw new Error(`ward-helper did not listen: ${this.helperLog}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    if (opts.activation) {
      // What SocketGroup=ward and SocketMode=0660 do in ward-helper.socket.
      const ward = fs.readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith('ward:'))!.split(':')[2];
      fs.chownSync(this.socket, 0, Number(ward));
      fs.chmodSync(this.socket, 0o660);
    }
  }

  /** Stops the helper (SIGTERM, as systemd does) and keeps every dir: for restart tests. */
  async stopHelper(): Promise<void> {
    const h = this.helper;
    if (h && h.exitCode === null) {
      const done = new Promise((r) => h.on('close', r));
      h.kill('SIGTERM');
      await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
      if (h.exitCode === null) h.kill('SIGKILL');
    }
    this.helper = null;
    fs.rmSync(this.socket, { force: true });
  }

  /** kill -9 of the helper (or reaping one that killed itself at a WARD_FAULT crash point); keeps every dir. */
  async killHelper(): Promise<void> {
    const h = this.helper;
    if (h && h.exitCode === null && h.signalCode === null) {
      const done = new Promise((r) => h.once('close', r));
      h.kill('SIGKILL');
      await done;
    }
    this.helper = null;
    fs.rmSync(this.socket, { force: true });
  }

  async stop(): Promise<void> {
    await this.stopHelper();
    fs.rmSync(this.dir, { recursive: true, force: true });
    // Pods a failed test left behind: their processes killed, their cgroups removed (tests assert
    // on leftovers themselves, before this).
    for (const dir of this.cgroupParentDirs()) await removeCgroupTree(dir);
  }

  /** This env's cgroup parent in every mounted hierarchy (v1 controllers and the unified one). */
  cgroupParentDirs(): string[] {
    const out: string[] = [];
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const sep = line.indexOf(' - ');
      if (sep < 0) continue;
      const fstype = line.slice(sep + 3).split(' ')[0];
      if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
      const dir = path.join(line.split(' ')[4]!, this.cgroupParent);
      if (fs.existsSync(dir)) out.push(dir);
    }
    return out;
  }

  get helperPid(): number | undefined {
    return this.helper?.pid;
  }

  /** The test user's own trust configuration dir (the default --user-config under its HOME). */
  userConfig(user: TestUser): string {
    return path.join(this.dir, 'users', USERS[user], '.config', 'ward');
  }

  storeDir(user: TestUser): string {
    return path.join(this.dir, 'users', USERS[user], 'store');
  }

  /** Runs `ward ARGS` as the test user, with our socket and the user's store. */
  ward(user: TestUser, args: string[], opts: { input?: Buffer | string; onSpawn?: (c: ChildProcess) => void; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<WardResult> {
    const name = USERS[user];
    const child = spawn('setpriv', ['--reuid', name, '--regid', name, '--init-groups', '--', process.execPath, WARD, '--dir', this.storeDir(user), '--helper-socket', this.socket, '--system-config', this.systemConfig, '--local-config', this.localConfig, ...args], {
      cwd: '/',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: path.join(this.dir, 'users', name), ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    opts.onSpawn?.(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    child.stdin!.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    return new Promise((resolve) => {
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
      });
    });
  }

  /** A world-readable fixture path. */
  fixture(name: string): string {
    return path.join(this.fixtures, name);
  }

  /** The uuids of every pod the helper keeps, in any state (STATE/pods/<state>/<uuid>). */
  podDirs(): string[] {
    const out: string[] = [];
    for (const where of POD_STATE_DIRS) {
      try {
        out.push(...fs.readdirSync(path.join(this.state, 'pods', where)));
      } catch {
        /* not made yet */
      }
    }
    return out;
  }

  /** A pod's directory in whichever state it is, or null. */
  podDir(uuid: string): string | null {
    for (const where of POD_STATE_DIRS) {
      const dir = path.join(this.state, 'pods', where, uuid);
      if (fs.existsSync(dir)) return dir;
    }
    return null;
  }
}

/** Kills what is in a cgroup and below, and removes it, leaves first (best effort). */
async function removeCgroupTree(dir: string): Promise<void> {
  let subs: string[] = [];
  try {
    subs = fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(dir, e.name));
  } catch {
    return;
  }
  for (const sub of subs) await removeCgroupTree(sub);
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      for (const pid of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      fs.rmdirSync(dir);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Builds the probe (test/fixtures/probe.c) once per process, statically. */
let probePath: string | null = null;
export function buildProbe(): string {
  if (probePath) return probePath;
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ward-probe-')), 'probe');
  const r = spawnSync('cc', ['-static', '-O2', '-Wall', '-Werror', '-o', out, path.join(REPO, 'test', 'fixtures', 'probe.c')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the probe failed: ${r.stderr}`);
  fs.chmodSync(path.dirname(out), 0o755);
  probePath = out;
  return out;
}
