// Scale benchmark: N pods running `sleep` started at once, as the unprivileged test user through a
// private helper (`ward run --detach`), against crun (`crun run -d`) and podman (`podman run -d`,
// where it runs) on the same rootfs: the time until all run, the memory each running pod costs,
// and the time to stop them all. Run as root:
// npm run bench:scale -- [--pods N]   (N defaults to 200)
//
// Memory per pod is reported two ways: the runtime's own resident processes per pod (for ward its
// ward-stage1 processes, RSS and PSS from /proc; crun leaves none behind a detached container),
// and the host's MemAvailable before and with all pods running, divided by N (everything a pod
// costs the host: its processes, namespaces, mounts, page tables). crun 1.8 refuses this host's
// hybrid cgroups, so it runs in a private mount namespace with /sys/fs/cgroup/unified unmounted,
// as in bench:start. podman keeps its images and containers in the benchmark's temp dir (--root,
// --runroot), with cgroupfs, runc (which takes hybrid hosts), no network and file events; a
// machine where it cannot start a container gets the reason in its column instead of figures.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildBusyboxAci } from '../test/lib/aci-builder';
import { REPO, TestEnv, USERS, WARD } from '../test/lib/env';
import { median } from './stats';

const PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function parseArgs(argv: string[]): { pods: number } {
  let pods = 200;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = a.startsWith('--pods=') ? a.slice(7) : a === '--pods' ? argv[++i] : undefined;
    if (v !== undefined) {
      pods = Number(v);
      if (!Number.isInteger(pods) || pods < 1 || pods > 2000) throw new Error(`--pods takes an integer from 1 to 2000, not '${v}'`);
    } else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node dist/bench/scale.js [--pods N]   (as root; N defaults to 200)\n');
      process.exit(0);
    } else throw new Error(`unknown argument '${a}'; usage: scale.js [--pods N]`);
  }
  return { pods };
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: opts.env ?? { PATH: PATH_ENV }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdin.end(opts.input ?? '');
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function memAvailableKiB(): number {
  return Number(/^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'))![1]);
}

/** RSS and PSS (KiB) of every process whose comm is name. */
function processesNamed(name: string): { rss: number; pss: number }[] {
  const out: { rss: number; pss: number }[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== name) continue;
      const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
      const pss = Number(/^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? NaN);
      out.push({ rss, pss });
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

const since = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

async function settle(): Promise<void> {
  spawnSync('sync');
  await new Promise((r) => setTimeout(r, 2000));
}

/** One contender's column: times in ms, its runtime's resident processes, MemAvailable before and with the pods. */
function row(n: number, m: { allRun: number; running: number; runtime: { rss: number; pss: number }[]; before: number; with_: number; allStopped: number }): Record<string, number | string> {
  return {
    'all running (s)': m.allRun / 1000,
    'running per ward list': m.running,
    'runtime processes per pod': m.runtime.length / n,
    'runtime RSS per process, median (KiB)': median(m.runtime.map((p) => p.rss)),
    'runtime PSS per process, median (KiB)': median(m.runtime.map((p) => p.pss)),
    'host memory per pod (KiB)': Math.round((m.before - m.with_) / n),
    'all stopped (s)': m.allStopped / 1000,
  };
}

async function benchWard(env: TestEnv, aci: string, n: number): Promise<Record<string, number | string>> {
  const user = USERS.a;
  const asUser = ['--reuid', user, '--regid', user, '--init-groups', '--', process.execPath, WARD, '--dir', env.storeDir('a'), '--helper-socket', env.socket];
  const userEnv = { PATH: PATH_ENV, HOME: path.join(env.dir, 'users', user) };
  const ward = (args: string[]) => run('setpriv', [...asUser, ...args], { env: userEnv });
  // Fetched and sealed once, untimed; that pod is stopped and removed again.
  const warm = await ward(['run', '--detach', '--insecure-options=image', aci]);
  if (warm.code !== 0) throw new Error(`ward run --detach failed: ${warm.stderr}`);
  await ward(['stop', '--force', warm.stdout.trim()]);
  await ward(['gc', '--grace-period=0']);
  await settle();
  const before = memAvailableKiB();
  const t0 = process.hrtime.bigint();
  const started = await Promise.all(Array.from({ length: n }, () => ward(['run', '--detach', '--insecure-options=image', aci])));
  const allRun = since(t0);
  const failed = started.filter((r) => r.code !== 0);
  if (failed.length > 0) throw new Error(`${failed.length} of ${n} ward run --detach failed, first: ${failed[0]!.stderr.trim()}`);
  const uuids = started.map((r) => r.stdout.trim());
  const listed = JSON.parse((await ward(['list', '--format=json'])).stdout) as { uuid: string; state: string }[];
  const running = listed.filter((p) => uuids.includes(p.uuid) && p.state === 'running').length;
  await new Promise((r) => setTimeout(r, 1000));
  const with_ = memAvailableKiB();
  const stage1 = processesNamed('ward-stage1');
  const t1 = process.hrtime.bigint();
  const stop = await ward(['stop', '--force', ...uuids]);
  if (stop.code !== 0) throw new Error(`ward stop failed: ${stop.stderr}`);
  for (;;) {
    const left = (JSON.parse((await ward(['list', '--format=json'])).stdout) as { state: string }[]).filter((p) => p.state === 'running').length;
    if (left === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const allStopped = since(t1);
  await ward(['gc', '--grace-period=0']);
  return row(n, { allRun, running, runtime: stage1, before, with_, allStopped });
}

async function benchCrun(bundle: string, n: number, tag: string): Promise<Record<string, number | string> | string> {
  // One shell per phase in a private mount namespace with cgroup2 hidden (crun 1.8 and hybrid hosts).
  const inNs = (script: string) => run('unshare', ['-m', 'sh', '-c', `if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit 1; fi; ${script}`]);
  const ids = Array.from({ length: n }, (_, i) => `${tag}-${i}`);
  await settle();
  const before = memAvailableKiB();
  const t0 = process.hrtime.bigint();
  const start = await inNs(`for id in ${ids.join(' ')}; do crun run -d --bundle ${bundle} "$id" >/dev/null 2>>${bundle}/errors & done; wait`);
  const allRun = since(t0);
  const state = await run('crun', ['list', '--format=json']);
  const running = (JSON.parse(state.stdout || '[]') as { id: string; status: string }[]).filter((c) => ids.includes(c.id) && c.status === 'running').length;
  if (start.code !== 0 || running === 0) return `did not start (${fs.existsSync(`${bundle}/errors`) ? fs.readFileSync(`${bundle}/errors`, 'utf8').split('\n')[0] : start.stderr.trim()})`;
  await new Promise((r) => setTimeout(r, 1000));
  const with_ = memAvailableKiB();
  const t1 = process.hrtime.bigint();
  await inNs(`for id in ${ids.join(' ')}; do crun kill "$id" KILL & done; wait; for id in ${ids.join(' ')}; do crun delete --force "$id" & done; wait`);
  const allStopped = since(t1);
  return {
    'all running (s)': allRun / 1000,
    'running per ward list': running,
    'runtime processes per pod': 0,
    'runtime RSS per process, median (KiB)': '-',
    'runtime PSS per process, median (KiB)': '-',
    'host memory per pod (KiB)': Math.round((before - with_) / n),
    'all stopped (s)': allStopped / 1000,
  };
}

async function benchPodman(rootfs: string, n: number, tag: string, work: string): Promise<Record<string, number | string> | string> {
  if (spawnSync('podman', ['--version']).status !== 0) return 'not installed';
  const base = ['--root', `${work}/podman/root`, '--runroot', `${work}/podman/run`, '--storage-driver', 'overlay', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', 'runc', '--log-level', 'error'];
  const podman = `podman ${base.join(' ')}`;
  const image = `localhost/${tag}`;
  const imported = await run('sh', ['-c', `tar -C ${rootfs} -c . | ${podman} import - ${image}`]);
  if (imported.code !== 0) return `cannot import the rootfs (${imported.stderr.trim().split('\n')[0]})`;
  const ids = Array.from({ length: n }, (_, i) => `${tag}-${i}`);
  const errors = `${work}/podman-errors`;
  const names = async () => (await run('podman', [...base, 'ps', '--format', '{{.Names}}'])).stdout.split('\n').filter((x) => ids.includes(x));
  await settle();
  const before = memAvailableKiB();
  const t0 = process.hrtime.bigint();
  // Limits of its own: podman's defaults (nofile 1048576 ...) are above this host's hard limits,
  // which root here cannot raise (no CAP_SYS_RESOURCE), and runc then refuses to start.
  await run('sh', ['-c', `for id in ${ids.join(' ')}; do ${podman} run -d --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 --name "$id" ${image} /bin/sleep 3600 >/dev/null 2>>${errors} & done; wait`]);
  const allRun = since(t0);
  const running = (await names()).length;
  if (running === 0) return `did not start (${fs.existsSync(errors) ? fs.readFileSync(errors, 'utf8').trim().split('\n')[0] : 'no error said'})`;
  await new Promise((r) => setTimeout(r, 1000));
  const with_ = memAvailableKiB();
  const conmon = processesNamed('conmon');
  const t1 = process.hrtime.bigint();
  await run('podman', [...base, 'rm', '--force', '--time', '0', ...ids]);
  const allStopped = since(t1);
  return row(n, { allRun, running, runtime: conmon, before, with_, allStopped });
}

/** Removes what podman made under the temp dir: containers, the image, its mounts and state. */
function cleanPodman(work: string): void {
  const base = ['--root', `${work}/podman/root`, '--runroot', `${work}/podman/run`, '--storage-driver', 'overlay', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--log-level', 'error'];
  if (!fs.existsSync(`${work}/podman`) || spawnSync('podman', ['--version']).status !== 0) return;
  spawnSync('podman', [...base, 'rm', '--all', '--force', '--time', '0']);
  spawnSync('podman', [...base, 'system', 'reset', '--force']);
}

async function main(): Promise<void> {
  const { pods } = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('bench:scale runs as root (it starts the helper and crun)');
  const env = new TestEnv('bench-scale');
  const tag = `ward-scale-${process.pid}`;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-bench-scale-'));
  try {
    const shipped = JSON.parse(fs.readFileSync(path.join(REPO, 'policies', 'helper.json'), 'utf8')) as { limits: Record<string, number> };
    const policy = path.join(env.dir, 'helper-scale.json');
    fs.writeFileSync(policy, JSON.stringify({ ...shipped, limits: { ...shipped.limits, podsPerUser: pods + 10 } }), { mode: 0o600 });
    await env.start(['--policy', policy]);
    const aci = env.fixture('sleep.aci');
    await buildBusyboxAci(aci, { name: 'example.com/sleep', exec: ['/bin/sleep', '3600'] });
    // crun's bundle: the same rootfs, sleep as the container's process.
    const bundle = path.join(work, 'bundle');
    fs.mkdirSync(path.join(bundle, 'rootfs'), { recursive: true });
    const tar = spawnSync('tar', ['-xzf', aci, '-C', bundle, 'rootfs']);
    if (tar.status !== 0) throw new Error('extracting the rootfs failed');
    const config = JSON.parse(spawnSync('crun', ['spec'], { cwd: work, encoding: 'utf8' }).status === 0 ? fs.readFileSync(path.join(work, 'config.json'), 'utf8') : '{}') as { process?: { args: string[]; terminal: boolean }; root?: { readonly: boolean } };
    if (!config.process) throw new Error('crun spec failed');
    config.process.args = ['/bin/sleep', '3600'];
    config.process.terminal = false;
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config));

    process.stderr.write(`bench:scale: ${pods} pods with ward...\n`);
    const ward = await benchWard(env, aci, pods);
    process.stderr.write(`bench:scale: ${pods} containers with crun...\n`);
    const crun = await benchCrun(bundle, pods, tag);
    process.stderr.write(`bench:scale: ${pods} containers with podman...\n`);
    const podman = await benchPodman(path.join(bundle, 'rootfs'), pods, tag, work);

    const rows = Object.keys(ward);
    const fmt = (v: number | string | undefined) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : v ?? '');
    // A contender that did not run says why in its first row.
    const cell = (c: Record<string, number | string> | string, r: string) => (typeof c === 'string' ? (r === rows[0] ? c : '') : fmt(c[r]));
    const lines = [
      `## Scale: ${pods} pods of \`sleep 3600\` started at once, ${new Date().toISOString().slice(0, 10)}`,
      '',
      `Machine: nproc ${os.cpus().length}, kernel ${os.release()}, node ${process.version}, load average ${os.loadavg()[0]!.toFixed(2)} after; ${spawnSync('crun', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]}.`,
      '',
      `| | ward (\`run --detach\`, as a user) | crun (\`run -d\`, as root) | podman (\`run -d\`, as root; ${spawnSync('podman', ['--version'], { encoding: 'utf8' }).stdout.trim() || 'not installed'}) |`,
      '|---|---:|---:|---:|',
      ...rows.map((r) => `| ${r} | ${fmt(ward[r])} | ${cell(crun, r)} | ${cell(podman, r)} |`),
      '',
      'ward: each pod in its own user, pid, mount, net, ipc, uts and cgroup namespaces, overlay root over the sealed tree, seccomp; ward-stage1 stays as each pod\'s pid 1 (and its supervisor outside the pod). crun: pid, net, ipc, uts and mount namespaces (runc spec defaults), no supervisor left behind. podman: its defaults with --network none and low rlimits (nofile 1024, nproc 4096), one conmon per container as its runtime process. "all stopped" is from `ward stop --force UUID...` / `crun kill KILL` / `podman rm --force --time 0` until nothing runs (crun and podman also delete).',
      (() => {
        const per = Number(ward['runtime processes per pod']);
        const rss = Number(ward['runtime RSS per process, median (KiB)']);
        const pss = Number(ward['runtime PSS per process, median (KiB)']);
        return `Target "ward-stage1 RSS ≤ 1 MB": each ward-stage1 process ${rss <= 1024 ? '**meets** it' : '**misses** it'} (median RSS ${rss} KiB); a pod has ${per} of them, ${Math.round(per * rss)} KiB of RSS together (${per * rss <= 1024 ? 'within' : 'over'} 1 MB), of which ${Math.round(per * pss)} KiB are the pod's own (PSS: the static binary's pages are shared by every pod).`;
      })(),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    spawnSync('sh', ['-c', `for id in $(crun list -q 2>/dev/null | grep '^${tag}-'); do crun delete --force "$id"; done`]);
    cleanPodman(work);
    await env.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:scale: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
