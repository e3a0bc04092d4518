// prepare, run-prepared and run: a pod is made (prepared: its record, lock, status file and
// overlay dirs, in STATE/pods/prepared) and then started (renamed into run/, launched, with the
// caller's stdio). run does both on one connection. The helper computes the whole launch spec
// itself from checked arguments and policy; ownership is checked on every pod it is asked to start.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { AppcPodManifest } from '../../schema/appc-pod';
import type { PodRecord } from '../../schema/pod';
import { SignalRequest, type AppSpec, type PodAppRequest, type PrepareRequest, type RunRequest } from '../../schema/protocol';
import { parseStrictJson } from '../../schema/strict-json';
import { closeFds, checkStdioFd, type Connection } from '../connection';
import { MASKED_PATHS, READONLY_PATHS } from '../defaults';
import { HelperError } from '../errors';
import { launch, LaunchError, type LaunchSpec, type PodHandle } from '../launch';
import { subIds } from '../peer';
import type { Grants } from '../policy';
import type { Helper } from '../server';
import { crashPoint } from '../fault';
import { measurePodStart } from '../tpm/pod-event';
import { describeLabels } from '../selinux';
import { seccompInput } from '../seccomp-input';
import { requireOwner } from './pod-access';
import { setUpPodSelinux, type PodSelinux } from './run-selinux';
import { appCaps } from '../app-caps';
import { appSeccomp } from '../app-seccomp';
import { checkPodVolumes, describeVolumes, manifestVolumes, openPodVolumes, type PodVolumes } from './run-volumes';
import { netWaits, planPodNetwork, podNetworks, startPodNetwork } from './run-net';
import { makePodCgroups, type PodCgroupHandle } from './run-cgroups';
import { tearDownPod } from './run-teardown';
import { DEFAULT_MDS_CONFIG, planPodMds, registerAttachedPod } from './run-mds';

export interface RunContext {
  helper: Helper;
  conn: Connection;
  grants: Grants;
  argsDigest: string;
  /** The verb being served, for the audit record (run or run-prepared). */
  verb?: string;
}

type PodRequest = Omit<PrepareRequest, 'verb'>;

/** Enforced here whatever the frontend says (DESIGN.md §3.2), for every app's image. */
function authorize(ctx: RunContext, req: PodRequest): void {
  for (const opt of req.insecureOptions) {
    if (!ctx.grants.insecure.has(opt)) throw new HelperError('EDENIED', `helper policy does not allow --insecure-options=${opt} for you`);
  }
  for (const { image } of req.apps) {
    if (image.signer !== 'unverified') continue;
    if (!req.insecureOptions.includes('image')) {
      throw new HelperError('EDENIED', `image ${image.name} is not verified; verify it (ward trust) or pass --insecure-options=image`);
    }
    if (!ctx.grants.allowUnverified) throw new HelperError('EDENIED', `helper policy does not allow you to run unverified images such as ${image.name}`);
  }
  // Refused at prepare already; checked again (against the grants of that time) at start.
  for (const { app } of req.apps) {
    appCaps(app, ctx.grants);
    appSeccomp(ctx.helper.opts.state.root, ctx.helper.opts.seccomp, app.seccomp, ctx.grants);
  }
  if (req.mdsRegister && !ctx.grants.mdsRegister) throw new HelperError('EDENIED', 'helper policy does not allow you --mds-register (grant mdsRegister)');
  if (Boolean(req.mdsRegister) !== (req.mdsImages !== undefined) || (req.mdsImages && req.mdsImages.length !== req.apps.length)) {
    throw new HelperError('EFRAME', 'mdsImages must come with mdsRegister, one per app');
  }
}

function checkPodLimit(ctx: RunContext): void {
  const mine = ctx.helper.runningPods(ctx.conn.peer.uid);
  const limit = ctx.helper.opts.policy.limits.podsPerUser;
  if (mine >= limit) throw new HelperError('EDENIED', `you already run ${mine} pods, the helper policy's limit (limits.podsPerUser); stop one first`);
}

/**
 * Each app's ACName: the one it was given (AppSpec.name), else one from its AC_APP_NAME (or
 * "app"), made unique in the pod with -2, -3, ... A given name used twice is refused.
 */
export function appNames(apps: readonly PodAppRequest[]): string[] {
  const given = apps.map((a) => (a.app as AppSpec & { name?: string }).name);
  const taken = new Set<string>();
  for (const n of given) {
    if (n === undefined) continue;
    if (taken.has(n)) throw new HelperError('EFRAME', `two apps of the pod are named ${n}; give each app a name of its own`);
    taken.add(n);
  }
  return apps.map((a, i) => {
    if (given[i] !== undefined) return given[i]!;
    const env = a.app.environment.find((e) => e.name === 'AC_APP_NAME')?.value ?? 'app';
    const base = env.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60).replace(/-+$/, '') || 'app';
    let name = base;
    for (let k = 2; taken.has(name); k++) name = `${base}-${k}`;
    taken.add(name);
    return name;
  });
}

function podManifest(names: string[], req: PodRequest): AppcPodManifest {
  return {
    acVersion: '0.8.11',
    acKind: 'PodManifest',
    apps: req.apps.map((a, i) => ({
      name: names[i]!,
      image: { name: a.image.name, id: a.image.id },
      app: {
        exec: a.app.exec,
        user: String(a.app.user),
        group: String(a.app.group),
        workingDirectory: a.app.workingDirectory,
        environment: a.app.environment,
        ...(a.app.supplementaryGids?.length ? { supplementaryGIDs: a.app.supplementaryGids } : {}),
        ...(a.app.eventHandlers?.length ? { eventHandlers: a.app.eventHandlers } : {}),
      },
      ...(a.app.mounts?.length ? { mounts: a.app.mounts } : {}),
      ...(a.app.readonlyRootfs ? { readOnlyRootFS: true } : {}),
    })),
    volumes: [],
    ...manifestVolumes(req.volumes),
    isolators: [],
    annotations: [],
    ports: [],
  };
}

/** An app's overlay dirs in its pod: STATE/pods/<state>/<uuid>/apps/<name>/{upper,work}. */
export function appDirs(podDir: string, name: string): { upper: string; work: string } {
  return { upper: path.join(podDir, 'apps', name, 'upper'), work: path.join(podDir, 'apps', name, 'work') };
}

/** Makes a prepared pod: everything but the launch. Returns its uuid. Nothing is left on failure. */
export function prepare(ctx: RunContext, req: PodRequest): string {
  const { helper, conn } = ctx;
  authorize(ctx, req);
  checkPodVolumes(req.volumes, req.apps.map((a) => a.app), ctx.grants, helper.opts.state.root);
  const network = planPodNetwork(helper.opts.net, ctx.grants, req);
  const names = appNames(req.apps);
  const lowerStats = req.apps.map((a) => {
    try {
      return fs.lstatSync(helper.opts.state.tree(conn.peer.uid, a.tree));
    } catch {
      throw new HelperError('ENOTREE', `tree ${a.tree} is not sealed for you; fetch the image again so ward seals it`);
    }
  });
  const store = helper.opts.state.podStore;
  const uuid = crypto.randomUUID();
  const dir = store.path('embryo', uuid);
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.mkdirSync(path.join(dir, 'apps'), { mode: 0o700 });
    for (const [i, name] of names.entries()) {
      const { upper, work } = appDirs(dir, name);
      fs.mkdirSync(path.dirname(upper), { mode: 0o700 });
      // The overlay's root takes the upper dir's owner and mode: give it the sealed root's.
      fs.mkdirSync(upper, { mode: 0o700 });
      fs.chownSync(upper, lowerStats[i]!.uid, lowerStats[i]!.gid);
      fs.chmodSync(upper, lowerStats[i]!.mode & 0o7777);
      fs.mkdirSync(work, { mode: 0o700 });
    }
    fs.mkdirSync(path.join(dir, 'rootfs'), { mode: 0o700 });
    store.createStateFiles(dir);
    const rec: PodRecord = {
      version: 1,
      uuid,
      owner: { uid: conn.peer.uid, gid: conn.peer.gid },
      created: new Date().toISOString(),
      started: null,
      apps: req.apps.map((a, i) => ({ name: names[i]!, image: a.image, tree: a.tree, spec: a.app })),
      hostname: req.hostname ?? `ward-${uuid}`,
      ...(req.volumes?.length ? { volumes: req.volumes } : {}),
      selinuxMode: req.selinux ?? null,
      selinux: null,
      measured: null,
      manifest: podManifest(names, req),
      stage1: null,
      init: null,
      detached: false,
      network,
      ...(req.mdsRegister ? { mdsImages: req.mdsImages } : {}),
    };
    store.writeRecord(dir, rec);
    crashPoint('embryo');
    if (!store.move(uuid, 'embryo', 'prepared')) throw new Error(`pod ${uuid} vanished while being prepared`);
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return uuid;
}

/** An app's event handler's argv, if it has one of that name. */
function handler(spec: AppSpec, name: 'pre-start' | 'post-stop'): string[] | undefined {
  return spec.eventHandlers?.find((h) => h.name === name)?.exec;
}

/**
 * Starts a prepared pod with the caller's stdio. Of two concurrent starts exactly one wins: the
 * lock is taken before the rename from prepared/ to run/, and either step failing refuses.
 * Foreground (detach false): stays with the pod, forwards signals, reports its exit, and stops
 * it when the caller goes away. Detached: answers 'started' and leaves the pod running.
 */
export async function runPrepared(ctx: RunContext, uuid: string, detach: boolean, stdio: [number, number, number]): Promise<void> {
  const t0 = process.hrtime.bigint();
  const { helper, conn } = ctx;
  const store = helper.opts.state.podStore;
  let pod: PodHandle | null = null;
  let sel: PodSelinux | null = null;
  let vols: PodVolumes | null = null;
  let cgroups: PodCgroupHandle | null = null;
  let lockFd: number | null = null;
  let statusFd: number | null = null;
  let dir: string | null = null;
  let started = false;
  let stdioOpen = true;
  try {
    checkStdioFd(stdio[0], 'stdin');
    checkStdioFd(stdio[1], 'stdout');
    checkStdioFd(stdio[2], 'stderr');
    const found = store.find(uuid);
    if (!found) throw new HelperError('ENOPOD', `no pod ${uuid}; see ward list`);
    const rec0 = store.readRecord(found.dir);
    if (!rec0) throw new HelperError('EINTERNAL', `pod ${uuid} has no readable record; remove it with ward rm`);
    requireOwner(ctx.conn.peer, rec0, 'run', false);
    if (found.where !== 'prepared') throw new HelperError('EPODSTATE', `pod ${uuid} is not prepared (it is ${store.state(found)}); prepare another with ward prepare`);
    checkPodLimit(ctx);
    lockFd = store.lock(found.dir);
    if (lockFd === null || !store.move(uuid, 'prepared', 'run')) {
      throw new HelperError('EPODSTATE', `pod ${uuid} is already being started by another run-prepared; see ward status ${uuid}`);
    }
    dir = store.path('run', uuid);
    crashPoint('run-renamed');
    const rec: PodRecord = { ...rec0, detached: detach };
    const podDir = dir;
    const ids = subIds(conn.peer);
    const layers = rec.apps.map((app) => {
      const lower = helper.opts.state.tree(rec.owner.uid, app.tree);
      if (!fs.existsSync(lower)) throw new HelperError('ENOTREE', `tree ${app.tree} is not sealed for you; fetch the image again so ward seals it`);
      return { lower, ...appDirs(podDir, app.name) };
    });
    sel = await setUpPodSelinux(helper.opts.selinux, rec.selinuxMode ?? undefined, uuid, { podDir, apps: layers });
    vols = await openPodVolumes({ peer: conn.peer, grants: ctx.grants, stateDir: helper.opts.state.root, ids }, dir, rec.volumes, rec.apps.map((a) => a.spec), sel.labels);
    statusFd = store.openStatus(dir);
    const caps = rec.apps.map((a) => appCaps(a.spec, ctx.grants));
    const profiles = rec.apps.map((a) => appSeccomp(helper.opts.state.root, helper.opts.seccomp, a.spec.seccomp, ctx.grants));
    const bpf = seccompInput(dir, profiles.map((p) => p.bpfPath));
    const cg = makePodCgroups(helper.opts.cgroups, uuid, rec);
    cgroups = cg;
    crashPoint('cgroups-made');
    const netWait = netWaits(rec.network);
    // --mds-register: the URL is fixed before launch, the registration follows the network's attach.
    const mdsConfig = helper.opts.mds ?? DEFAULT_MDS_CONFIG;
    const mds = rec.mdsImages ? planPodMds(mdsConfig, uuid, rec.network ? podNetworks(helper.opts.net, ctx.grants, rec.network) : []) : null;
    let measured = false;
    try {
      const spec: LaunchSpec = {
        uuid,
        hostname: rec.hostname,
        rootfs: path.join(dir, 'rootfs'),
        masked: MASKED_PATHS,
        readonly: READONLY_PATHS,
        seccompFd: bpf.fd,
        stateFds: { lock: lockFd, status: statusFd },
        ...(netWait ? { netWait } : {}),
        ...(rec.network?.net.mode === 'host' ? { netHost: true } : {}),
        cgroupFds: cg.supervisorFds,
        ...sel.launch,
        ...vols.launch,
        apps: rec.apps.map((app, i) => ({
          name: app.name,
          ...layers[i]!,
          cwd: app.spec.workingDirectory,
          uid: app.spec.user,
          gid: app.spec.group,
          args: app.spec.exec,
          env: [...app.spec.environment.map((e) => `${e.name}=${e.value}`), ...(mds ? [`AC_METADATA_URL=${mds.url}`] : [])],
          caps: caps[i]!,
          seccompBytes: bpf.bytes[i]!,
          ...(app.spec.supplementaryGids?.length ? { groups: app.spec.supplementaryGids } : {}),
          ...(vols!.mounts[i]!.length ? { mounts: vols!.mounts[i]! } : {}),
          cgroupFds: cg.appFds[i]!,
          ...(app.spec.readonlyRootfs ? { readonlyRootfs: true } : {}),
          ...(handler(app.spec, 'pre-start') ? { preStart: handler(app.spec, 'pre-start') } : {}),
          ...(handler(app.spec, 'post-stop') ? { postStop: handler(app.spec, 'post-stop') } : {}),
        })),
      };
      // Measure, then launch (DESIGN §3.7): when the policy requires it and it fails, this throws.
      measured = await measurePodStart(helper, { uuid, apps: rec.apps, spec, ids });
      pod = launch(helper.opts.stage1Fd, spec, stdio, ids);
    } finally {
      for (const fd of [...cg.supervisorFds, ...cg.appFds.flat()]) fs.closeSync(fd);
      if (bpf.fd !== null) fs.closeSync(bpf.fd);
      vols.close();
      closeFds(stdio);
      stdioOpen = false;
      // stage1 holds the lock and the status file from here; our copies go.
      fs.closeSync(statusFd);
      statusFd = null;
      fs.closeSync(lockFd);
      lockFd = null;
    }
    helper.track(uuid, conn.peer.uid, pod);
    // stage1 named at once: a helper killed from here on leaves a pod that ward stop can reach.
    store.writeRecord(dir, { ...rec, stage1: pod.stage1, selinux: sel.labels, measured });
    crashPoint('launched');
    const exited = pod.exited;
    if (netWait) {
      // After "P": the pod's network namespace exists, nothing of the pod runs yet.
      const pid = await Promise.race([pod.initPid, exited.then(() => null)]);
      if (pid !== null) {
        try {
          const attached = await startPodNetwork(helper.opts.net, ctx.grants, { uuid, plan: rec.network!, pid, apps: layers, hostname: rec.hostname });
          // Between the network's attach and the apps' start; failing, the pod does not start.
          if (mds) {
            // Its start then fails too and is not awaited: handled, so it cannot go unhandled.
            pod.started.catch(() => undefined);
            await registerAttachedPod(mdsConfig, { uuid, mds, manifest: rec.manifest, images: rec.mdsImages!, attached, exited });
          }
        } catch (e) {
          pod.go(false);
          await exited;
          throw e;
        }
        pod.go(true);
      }
    }
    try {
      await pod.started;
    } catch (e) {
      await exited;
      throw new HelperError('ELAUNCH', `pod ${uuid} did not start: ${(e as LaunchError).message}`);
    }
    started = true;
    store.writeRecord(dir, {
      ...rec,
      started: new Date().toISOString(),
      selinux: sel.labels,
      measured,
      stage1: pod.stage1,
      init: pod.init,
    });
    crashPoint('started');
    const app0 = rec.apps[0]!;
    const every = rec.apps.map((a) => `${a.name}=${a.image.name}@${a.image.id}:${a.tree}:${a.image.signer}`).join(' ');
    helper.audit.append(conn.peer, ctx.verb ?? 'run', ctx.argsDigest, 'allow', `started ${uuid} tree ${app0.tree} seccomp ${profiles.map((p) => p.digest).join(',')} measured ${measured} apps ${every} signer ${app0.image.signer} ${describeLabels(sel.plan, sel.labels)}${describeVolumes(rec.volumes)}${detach ? ' detached' : ''}`);
    conn.send({ ok: true, event: 'started', uuid, selinux: sel.labels, measured });
    if (detach) {
      conn.close();
      // It outlives this connection; its network and cgroups go when it exits.
      void exited.then(() => tearDownPod(helper, uuid)).catch(() => undefined);
      pod = null;
      return;
    }
    void forwardSignals(conn, pod);
    const fate = await exited;
    // Before the caller hears of the exit: when ward run returns, nothing of the pod is left
    // on the host but its dir (a failure here is finished by gc).
    await tearDownPod(helper, uuid).catch(() => undefined);
    if (process.env.WARD_HELPER_TIMINGS === '1') process.stderr.write(`timing run ${uuid} recv->exit ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(3)}\n`);
    conn.send({ ok: true, event: 'exited', uuid, code: fate.code, signal: fate.signal });
    conn.close();
  } catch (e) {
    if (stdioOpen) closeFds(stdio.filter((fd) => fd >= 0));
    if (e instanceof HelperError) throw e;
    process.stderr.write(`ward-helper: run: ${(e as Error).stack}\n`);
    throw new HelperError('EINTERNAL', `run failed: ${(e as Error).message}`);
  } finally {
    vols?.close();
    if (statusFd !== null) fs.closeSync(statusFd);
    if (lockFd !== null) fs.closeSync(lockFd);
    // A foreground pod ends with its connection (kill -9 of the frontend included).
    if (pod) pod.kill();
    if (!started) {
      // Nothing half-made: a pod that never started leaves no state (its mounts died with
      // stage1's namespaces). The pair goes after the directory (see mcs.ts reclaim).
      if (pod) await pod.exited;
      // Network and cgroups before the dir (a failure keeps the dir, so gc can finish).
      let undone = true;
      if (cgroups || dir) await tearDownPod(helper, uuid).catch(() => (undone = false));
      if (dir && undone) fs.rmSync(dir, { recursive: true, force: true });
      if (undone) sel?.release();
    }
  }
}

/** run = prepare + run-prepared on one connection. */
export async function run(ctx: RunContext, req: RunRequest, stdio: [number, number, number]): Promise<void> {
  let uuid: string;
  try {
    checkStdioFd(stdio[0], 'stdin');
    checkStdioFd(stdio[1], 'stdout');
    checkStdioFd(stdio[2], 'stderr');
    const { verb: _verb, detach: _detach, ...rest } = req;
    uuid = prepare(ctx, rest);
  } catch (e) {
    closeFds(stdio);
    throw e;
  }
  try {
    await runPrepared(ctx, uuid, req.detach ?? false, stdio);
  } finally {
    // A pod that never started was removed from run/; one refused before that is still prepared.
    const found = ctx.helper.opts.state.podStore.find(uuid);
    if (found?.where === 'prepared') fs.rmSync(found.dir, { recursive: true, force: true });
  }
}

/** While the pod runs, the caller may send 'signal' frames; EOF from the caller stops the pod. */
export async function forwardSignals(conn: Connection, pod: PodHandle): Promise<void> {
  for (;;) {
    let frame;
    try {
      frame = await conn.receive(2 ** 31 - 1);
    } catch {
      frame = null;
    }
    if (frame === null) {
      pod.kill();
      return;
    }
    closeFds(frame.fds);
    let req;
    try {
      req = SignalRequest.safeParse(parseStrictJson(frame.data));
    } catch {
      req = null;
    }
    if (!req?.success) {
      conn.sendError('EFRAME', 'only signal requests are valid while a pod runs');
      continue;
    }
    pod.signal(req.data.signal);
  }
}
