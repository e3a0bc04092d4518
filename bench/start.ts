// Start-up benchmark: one lifecycle of /bin/true in the same busybox rootfs under ward and its
// peers (crun, runc, bubblewrap, systemd-nspawn), with unshare, /bin/true and `node -e 0` as
// references, interleaved in shuffled order round by round. Prints a markdown table of medians
// and the two start-up targets. Run as root: npm run bench:start -- [--rounds N] [--wait-idle]
//
// Every contender is started by a small spawner process (this file with --spawner) that times
// spawnSync from call to exit with process.hrtime.bigint(), so each gets the same spawning
// parent. crun 1.8 refuses hybrid cgroup hosts (a cgroup2 hierarchy with a controller beside
// the v1 ones); when the host is one, crun's spawner lives in a private mount namespace with
// /sys/fs/cgroup/unified unmounted, and crun uses the v1 cgroupfs there.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { stats } from './stats';

const PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

interface Job {
  argv: string[];
  cwd?: string;
  env?: Record<string, string>;
}

interface RunResult {
  ms: number;
  status: number | null;
  signal: string | null;
  stderr: string;
  error: string | null;
}

// ---------------------------------------------------------------------------------------------
// The spawner: one job per stdin line, one result per stdout line.

function spawnerMain(): void {
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const job = JSON.parse(line) as Job;
    const t0 = process.hrtime.bigint();
    const r = spawnSync(job.argv[0]!, job.argv.slice(1), {
      cwd: job.cwd ?? '/',
      env: job.env ?? { PATH: PATH_ENV },
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 1 << 20,
    });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const res: RunResult = {
      ms,
      status: r.status,
      signal: r.signal,
      stderr: (r.stderr?.toString('utf8') ?? '').slice(0, 4000),
      error: r.error ? r.error.message : null,
    };
    process.stdout.write(`${JSON.stringify(res)}\n`);
  });
}

class Spawner {
  private readonly child: ChildProcess;
  private readonly pending: ((r: RunResult | Error) => void)[] = [];
  private log = '';

  constructor(readonly name: string, argv: string[]) {
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    readline.createInterface({ input: this.child.stdout! }).on('line', (l) => this.pending.shift()?.(JSON.parse(l) as RunResult));
    this.child.stderr!.on('data', (c: Buffer) => (this.log += c.toString()));
    this.child.on('close', (code) => {
      for (const p of this.pending.splice(0)) p(new Error(`spawner ${name} ended (${code}): ${this.log.trim()}`));
    });
    this.child.stdin!.on('error', () => undefined);
  }

  run(job: Job): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      this.pending.push((r) => (r instanceof Error ? reject(r) : resolve(r)));
      this.child.stdin!.write(`${JSON.stringify(job)}\n`);
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const done = new Promise((r) => this.child.once('close', r));
    this.child.stdin!.end();
    await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------------------------
// Statistics and formatting.

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const f2 = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '');

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

function firstLine(s: string): string {
  return s.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? '';
}

function version(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  return r.status === 0 ? firstLine(r.stdout || r.stderr) : 'not installed';
}

// ---------------------------------------------------------------------------------------------
// The OCI bundle: `runc spec`'s rootful defaults, terminal off, /bin/true.

function ociConfig(): object {
  const caps = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['/bin/true'],
      env: [`PATH=${PATH_ENV}`, 'TERM=xterm'],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps, ambient: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'bench',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

// ---------------------------------------------------------------------------------------------

interface Contender {
  name: string;
  note: string;
  spawner: Spawner;
  job: () => Job;
  /** After each run (successful or not), e.g. removing a container's leftovers. */
  after?: (job: Job) => void;
  samples: number[];
  na?: string;
}

function parseArgs(argv: string[]): { rounds: number; waitIdle: boolean } {
  let rounds = 30;
  let waitIdle = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = a.startsWith('--rounds=') ? a.slice(9) : a === '--rounds' ? argv[++i] : undefined;
    if (a === '--wait-idle') {
      waitIdle = true;
    } else if (v !== undefined) {
      rounds = Number(v);
      if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds takes a positive integer, not '${v}'`);
    } else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node dist/bench/start.js [--rounds N] [--wait-idle]   (as root; N defaults to 30)\n' +
        '  --wait-idle  before each round, wait (up to 2 min) until the CPUs were 90% idle for a second\n');
      process.exit(0);
    } else {
      throw new Error(`unknown argument '${a}'; usage: start.js [--rounds N] [--wait-idle]`);
    }
  }
  return { rounds, waitIdle };
}

/** The share of CPU time spent idle over the next second, from /proc/stat. */
async function idleShare(): Promise<number> {
  const read = (): number[] => fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const a = read();
  await new Promise((r) => setTimeout(r, 1000));
  const d = read().map((x, i) => x - a[i]!);
  const total = d.reduce((x, y) => x + y, 0);
  return total > 0 ? (d[3]! + d[4]!) / total : 1;
}

async function main(): Promise<void> {
  const { rounds, waitIdle } = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('run the start-up benchmark as root (it starts the root helper and rootful peers)');

  // Loaded here so that the spawners do not carry them.
  const { TestEnv, WARD, USERS, REPO } = await import('../test/lib/env');
  const { buildBusyboxAci } = await import('../test/lib/aci-builder');
  const { Swtpm } = await import('../test/lib/swtpm');

  const loadBefore = os.loadavg()[0]!;
  const tag = `ward-bench-${process.pid}`;
  const existedBefore = new Map(['/run/crun', '/run/runc', '/run/systemd/nspawn'].map((d) => [d, fs.existsSync(d)]));
  const containerIds: string[] = [];
  const spawners: Spawner[] = [];
  let env: InstanceType<typeof TestEnv> | null = null;
  let envTpm: InstanceType<typeof TestEnv> | null = null;
  let swtpm: Awaited<ReturnType<typeof Swtpm.start>> | null = null;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-bench-'));
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    // ward: a private helper that reports its receipt-to-exit time per run.
    process.env.WARD_HELPER_TIMINGS = '1';
    env = new TestEnv('bench');
    await env.start();
    // ward measured: a second private helper that measures each pod into the NV index of a swtpm
    // on loopback before it launches it, with measurement required by its policy.
    swtpm = await Swtpm.start();
    envTpm = new TestEnv('bench-tpm');
    const tpmPolicy = path.join(envTpm.dir, 'tpm-policy.json');
    const shipped = JSON.parse(fs.readFileSync(path.join(REPO, 'policies', 'helper.json'), 'utf8')) as object;
    fs.writeFileSync(tpmPolicy, JSON.stringify({ ...shipped, tpm: { require: true, auditInterval: 0 } }), { mode: 0o600 });
    await envTpm.start(['--tpm-tcti', swtpm.tcti, '--policy', tpmPolicy]);
    const aci = env.fixture('busybox-true.aci');
    await buildBusyboxAci(aci, { name: 'example.com/busybox-true', exec: ['/bin/true'] });

    // The peers' rootfs: the ACI's own rootfs, extracted as root (root-owned, as in the image).
    const bundle = path.join(work, 'bundle');
    const rootfs = path.join(bundle, 'rootfs');
    fs.mkdirSync(rootfs, { recursive: true });
    const tarRes = spawnSync('tar', ['-xzf', aci, '-C', bundle, 'rootfs'], { encoding: 'utf8' });
    if (tarRes.status !== 0) throw new Error(`extracting the rootfs failed: ${tarRes.stderr}`);
    fs.writeFileSync(path.join(bundle, 'config.json'), `${JSON.stringify(ociConfig(), null, 2)}\n`);
    // systemd-nspawn writes into its rootfs (/etc/localtime, /var/log/journal, /run): its own copy.
    const nspawnRoot = path.join(work, 'nspawn', 'rootfs');
    fs.mkdirSync(nspawnRoot, { recursive: true });
    const tar2 = spawnSync('tar', ['-xzf', aci, '-C', path.dirname(nspawnRoot), 'rootfs'], { encoding: 'utf8' });
    if (tar2.status !== 0) throw new Error(`extracting the rootfs failed: ${tar2.stderr}`);

    const self = [process.execPath, __filename, '--spawner'];
    const host = new Spawner('host', self);
    spawners.push(host);

    const user = USERS.a;
    const userEnv = { PATH: PATH_ENV, HOME: path.join(env.dir, 'users', user) };
    const asUser = ['setpriv', '--reuid', user, '--regid', user, '--init-groups', '--'];
    let seq = 0;
    const nextId = (): string => {
      const id = `${tag}-${seq++}`;
      containerIds.push(id);
      return id;
    };
    const removeContainer = (runtime: 'crun' | 'runc', id: string): void => {
      const dir = path.join('/run', runtime, id);
      if (fs.existsSync(dir)) {
        spawnSync(runtime, ['delete', '--force', id], { stdio: 'ignore' });
        fs.rmSync(dir, { recursive: true, force: true });
      }
    };

    const wardArgv = [...asUser, process.execPath, WARD, '--dir', env.storeDir('a'), '--helper-socket', env.socket, 'run', '--insecure-options=image', '--net=none', aci];
    const wardTpmArgv = [...asUser, process.execPath, WARD, '--dir', envTpm.storeDir('a'), '--helper-socket', envTpm.socket, 'run', '--insecure-options=image', '--net=none', aci];
    const userEnvTpm = { PATH: PATH_ENV, HOME: path.join(envTpm.dir, 'users', user) };
    const contenders: Contender[] = [
      { name: '/bin/true', note: 'direct, as root', spawner: host, job: () => ({ argv: ['/bin/true'] }), samples: [] },
      { name: 'setpriv … /bin/true', note: `the wrapper that runs ward and node as ${user}: \`${asUser.join(' ')} /bin/true\``, spawner: host, job: () => ({ argv: [...asUser, '/bin/true'], env: userEnv }), samples: [] },
      { name: 'node -e 0', note: `as ${user} through the same setpriv wrapper as ward run`, spawner: host, job: () => ({ argv: [...asUser, process.execPath, '-e', '0'], env: userEnv }), samples: [] },
      { name: 'unshare -mpfnui --mount-proc', note: 'namespaces only, host rootfs', spawner: host, job: () => ({ argv: ['unshare', '-mpfnui', '--mount-proc', '/bin/true'] }), samples: [] },
      { name: 'bwrap --unshare-all', note: '`bwrap --unshare-all --ro-bind ROOTFS / --proc /proc --dev /dev /bin/true` (user, pid, net, ipc, uts, cgroup namespaces)', spawner: host, job: () => ({ argv: ['bwrap', '--unshare-all', '--ro-bind', rootfs, '/', '--proc', '/proc', '--dev', '/dev', '/bin/true'] }), samples: [] },
      {
        name: 'crun run',
        note: '',
        spawner: host,
        job: () => ({ argv: ['crun', 'run', '--bundle', bundle, nextId()], cwd: bundle }),
        after: (j) => removeContainer('crun', j.argv[j.argv.length - 1]!),
        samples: [],
      },
      {
        name: 'runc run',
        note: 'rootful `runc spec` defaults: pid, net, ipc, uts, mount namespaces; read-only root; cgroupfs manager on the host\'s cgroups; no seccomp',
        spawner: host,
        job: () => ({ argv: ['runc', 'run', '--bundle', bundle, nextId()], cwd: bundle }),
        after: (j) => removeContainer('runc', j.argv[j.argv.length - 1]!),
        samples: [],
      },
      {
        name: 'systemd-nspawn',
        note: '`systemd-nspawn -D ROOTFS --private-network --quiet --register=no --keep-unit /bin/true` (systemd is not pid 1 here: without --register=no --keep-unit it needs the system bus); its own copy of the rootfs, which it writes to',
        spawner: host,
        job: () => ({ argv: ['systemd-nspawn', '-D', nspawnRoot, '--private-network', '--quiet', '--register=no', '--keep-unit', '/bin/true'] }),
        samples: [],
      },
      { name: 'ward run', note: `\`ward run --insecure-options=image --net=none ACI\` as ${user} (setpriv), sealed image, private helper; pid, net, ipc, uts, mount, cgroup, user namespaces; overlay over the sealed tree; seccomp; a cgroup per pod and per app (no limit asked)`, spawner: host, job: () => ({ argv: wardArgv, env: userEnv }), samples: [] },
      { name: 'ward run, measured', note: 'the same through a second private helper that measures the pod into the NV index of a swtpm on loopback before it launches it (helper policy tpm.require)', spawner: host, job: () => ({ argv: wardTpmArgv, env: userEnvTpm }), samples: [] },
    ];
    const crun = contenders.find((c) => c.name === 'crun run')!;
    const wardC = contenders.find((c) => c.name === 'ward run')!;
    const wardTpmC = contenders.find((c) => c.name === 'ward run, measured')!;
    const nodeC = contenders.find((c) => c.name === 'node -e 0')!;

    // crun: directly if the host's cgroups suit it, else with cgroup2 hidden in a private mount ns.
    const crunNote = 'rootful, same config.json as runc; cgroupfs manager';
    {
      const j = crun.job();
      const r = await host.run(j);
      crun.after!(j);
      if (r.status === 0) {
        crun.note = `${crunNote} (host cgroups as they are)`;
      } else if (/hybrid mode/.test(r.stderr)) {
        const hidden = new Spawner('cgroup2-hidden', [
          'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c',
          'if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit 1; fi; exec "$@"', 'sh', ...self,
        ]);
        spawners.push(hidden);
        const j2 = crun.job();
        const r2 = await hidden.run(j2).catch((e: Error) => ({ status: null, stderr: e.message }) as RunResult);
        crun.after!(j2);
        if (r2.status === 0) {
          crun.spawner = hidden;
          crun.note = `${crunNote}; ${version(['crun', '--version'])} refuses this hybrid host (“${firstLine(r.stderr)}”), so it runs in a private mount namespace with /sys/fs/cgroup/unified unmounted (v1 cgroupfs only); \`--cgroup-manager=disabled\` does not help`;
        } else {
          crun.na = `refuses this host (“${firstLine(r.stderr)}”), and with cgroup2 hidden: ${firstLine(r2.stderr) || `exit ${r2.status}`}`;
        }
      } else {
        crun.na = firstLine(r.stderr) || `exit ${r.status} ${r.error ?? ''}`;
      }
    }

    // Warm-up: one run of each, unrecorded; ward's imports, extracts and seals the image.
    const helperTimings = (): number[] => [...env!.helperLog.matchAll(/^timing run \S+ recv->exit ([\d.]+)$/gm)].map((m) => Number(m[1]));
    const helperTimingsTpm = (): number[] => [...envTpm!.helperLog.matchAll(/^timing run \S+ recv->exit ([\d.]+)$/gm)].map((m) => Number(m[1]));
    for (const c of contenders) {
      if (c.na) continue;
      const j = c.job();
      const r = await c.spawner.run(j);
      c.after?.(j);
      if (r.status !== 0) {
        if (c === wardC || c === wardTpmC) throw new Error(`${c.name} failed in the warm-up (exit ${r.status}): ${r.stderr}\nhelper: ${(c === wardTpmC ? envTpm : env).helperLog}`);
        c.na = firstLine(r.stderr) || `exit ${r.status} ${r.error ?? ''}`;
      }
    }

    const helperSamples: number[] = [];
    const helperSamplesTpm: number[] = [];
    const failures: string[] = [];
    const live = contenders.filter((c) => !c.na);
    let busyRounds = 0;
    for (let round = 0; round < rounds && !interrupted; round++) {
      if (waitIdle) {
        let idle = false;
        for (let t = 0; t < 120 && !interrupted && !(idle = (await idleShare()) >= 0.9); t++);
        if (!idle) busyRounds++;
      }
      if (process.stderr.isTTY) process.stderr.write(`\rround ${round + 1}/${rounds}`);
      for (const c of shuffle([...live])) {
        const before = c === wardC ? helperTimings().length : 0;
        const beforeTpm = c === wardTpmC ? helperTimingsTpm().length : 0;
        const j = c.job();
        const r = await c.spawner.run(j);
        c.after?.(j);
        if (r.status !== 0) {
          failures.push(`${c.name}: exit ${r.status ?? r.signal}: ${firstLine(r.stderr)}`);
          continue;
        }
        c.samples.push(r.ms);
        if (c === wardC) {
          // The helper logs its line before it tells the frontend the app exited.
          const deadline = Date.now() + 2000;
          while (helperTimings().length === before && Date.now() < deadline) await new Promise((res) => setTimeout(res, 1));
          const t = helperTimings();
          if (t.length > before) helperSamples.push(t[t.length - 1]!);
          else failures.push('ward run: no timing line from the helper');
        }
        if (c === wardTpmC) {
          const deadline = Date.now() + 2000;
          while (helperTimingsTpm().length === beforeTpm && Date.now() < deadline) await new Promise((res) => setTimeout(res, 1));
          const t = helperTimingsTpm();
          if (t.length > beforeTpm) helperSamplesTpm.push(t[t.length - 1]!);
          else failures.push('ward run, measured: no timing line from the helper');
        }
      }
    }
    if (process.stderr.isTTY) process.stderr.write('\n');

    // The table.
    const crunMedian = crun.na ? NaN : stats(crun.samples).median;
    const nodeMedian = stats(nodeC.samples).median;
    const rows: string[] = [];
    rows.push('| one lifecycle of /bin/true | median ms | p10 | p90 | × crun | × node -e 0 |');
    rows.push('|---|---:|---:|---:|---:|---:|');
    const helperName = 'ward-helper: run request → app exit';
    for (const c of [...contenders.filter((x) => x !== wardC && x !== wardTpmC), wardC, wardTpmC]) {
      if (c.na) {
        rows.push(`| ${c.name} | n/a | | | | |`);
        continue;
      }
      const s = stats(c.samples);
      const forNode = c === wardC || c === wardTpmC;
      rows.push(`| ${c.name} | ${f1(s.median)} | ${f1(s.p10)} | ${f1(s.p90)} | ${f2(s.median / crunMedian)} | ${forNode ? f2(s.median / nodeMedian) : ''} |`);
    }
    const hs = stats(helperSamples);
    rows.push(`| ${helperName} | ${f1(hs.median)} | ${f1(hs.p10)} | ${f1(hs.p90)} | ${f2(hs.median / crunMedian)} | ${f2(hs.median / nodeMedian)} |`);
    const hsTpm = stats(helperSamplesTpm);
    rows.push(`| ${helperName}, measured | ${f1(hsTpm.median)} | ${f1(hsTpm.p10)} | ${f1(hsTpm.p90)} | ${f2(hsTpm.median / crunMedian)} | ${f2(hsTpm.median / nodeMedian)} |`);

    const wardMedian = stats(wardC.samples).median;
    const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ?? 'unknown cpu').trim();
    const out: string[] = [];
    out.push(`## Start-up: ${rounds} interleaved rounds${interrupted ? ' (interrupted)' : ''}${waitIdle ? `, each started on an idle machine${busyRounds ? ` (but ${busyRounds} that waited in vain)` : ''}` : ''}, ${new Date().toISOString().slice(0, 10)}`);
    out.push('');
    out.push(`Machine: nproc ${os.availableParallelism?.() ?? os.cpus().length}, ${cpu}, kernel ${os.release()}, node ${process.version}, ` +
      `load average ${loadBefore.toFixed(2)} before and ${os.loadavg()[0]!.toFixed(2)} after, cgroups ${cgroupMode()}; ` +
      `${version(['crun', '--version'])}, runc ${version(['runc', '--version']).replace(/^runc version /, '')}, ${version(['bwrap', '--version'])}, ${version(['systemd-nspawn', '--version'])}.`);
    out.push('');
    out.push(...rows);
    out.push('');
    out.push('Wall time from spawn to exit, measured by the same kind of spawner process for every row. The helper row is');
    out.push('the helper\'s own clock (WARD_HELPER_TIMINGS=1) from its run verb taking the request (the frame already parsed');
    out.push('and checked against policy) to stage1 reporting the app\'s exit; it is part of the ward run row.');
    out.push('');
    out.push('Targets:');
    out.push(crun.na
      ? `- n/a: helper recv->exit median ${f1(hs.median)} ms vs crun: crun could not run (${crun.na})`
      : `- ${hs.median <= crunMedian ? 'PASS' : 'MISS'}: helper recv->exit median ${f1(hs.median)} ms ≤ crun median ${f1(crunMedian)} ms`);
    // On the helper's clock: the wall times of the two ward rows carry the frontend's start-up noise.
    const addedByTpm = hsTpm.median - hs.median;
    out.push(`- ${addedByTpm <= 5 ? 'PASS' : 'MISS'}: TPM measurement adds ${f1(addedByTpm)} ms ≤ 5 ms to a pod start (helper recv->exit median, measured − not measured; ward run wall time: ${f1(stats(wardTpmC.samples).median - wardMedian)} ms)`);
    out.push(`- ${wardMedian <= nodeMedian + 25 ? 'PASS' : 'MISS'}: ward run median ${f1(wardMedian)} ms ≤ node -e 0 median ${f1(nodeMedian)} ms + 25 ms = ${f1(nodeMedian + 25)} ms`);
    out.push('');
    out.push('Configurations:');
    for (const c of contenders) out.push(`- ${c.name}: ${c.na ? `n/a — ${c.na}` : c.note}`);
    out.push('- rootfs: the ACI\'s own rootfs (static busybox and its applet links, root-owned), extracted with tar; OCI bundle config.json written by the benchmark');
    if (failures.length) {
      out.push('');
      out.push(`Failed runs (left out of the figures): ${failures.length}`);
      for (const f of [...new Set(failures)].slice(0, 10)) out.push(`- ${f}`);
    }
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const s of spawners) await s.close();
    if (env) await env.stop();
    if (envTpm) await envTpm.stop();
    if (swtpm) await swtpm.stop();
    fs.rmSync(work, { recursive: true, force: true });
    for (const id of containerIds) {
      for (const runtime of ['crun', 'runc'] as const) {
        const dir = path.join('/run', runtime, id);
        if (fs.existsSync(dir)) {
          spawnSync(runtime, ['delete', '--force', id], { stdio: 'ignore' });
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }
      for (const ctl of safeReaddir('/sys/fs/cgroup')) {
        try {
          fs.rmdirSync(path.join('/sys/fs/cgroup', ctl, id));
        } catch {
          /* not there */
        }
      }
    }
    // State dirs the peers created for this run only.
    for (const [dir, existed] of existedBefore) if (!existed) removeEmptyTree(dir);
  }
}

/** How the host mounts cgroups: what decides crun's and runc's paths. */
function cgroupMode(): string {
  const fsType = (p: string): string => spawnSync('stat', ['-fc', '%T', p], { encoding: 'utf8' }).stdout?.trim() ?? '';
  if (fsType('/sys/fs/cgroup') === 'cgroup2fs') return 'v2 (unified)';
  return fsType('/sys/fs/cgroup/unified') === 'cgroup2fs' ? 'hybrid (v1, and cgroup2 at /sys/fs/cgroup/unified)' : 'v1';
}

/** Removes DIR and its subdirectories if they hold nothing else. */
function removeEmptyTree(dir: string): void {
  for (const e of safeReaddir(dir)) {
    const p = path.join(dir, e);
    if (fs.lstatSync(p).isDirectory()) removeEmptyTree(p);
  }
  try {
    fs.rmdirSync(dir);
  } catch {
    /* absent, or not empty: not ours to remove */
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

if (process.argv[2] === '--spawner') {
  spawnerMain();
} else {
  main().catch((e: unknown) => {
    process.stderr.write(`bench: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  });
}
