// run: start one pod from a sealed tree, with the caller's stdio, and stay with it until it
// exits. The helper computes the whole launch spec itself from checked arguments and policy.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { addon } from '../../native/addon';
import { SignalRequest, type RunRequest } from '../../schema/protocol';
import { parseStrictJson } from '../../schema/strict-json';
import { closeFds, checkStdioFd, type Connection } from '../connection';
import { APPC_DEFAULT_CAPS, MASKED_PATHS, READONLY_PATHS } from '../defaults';
import { HelperError } from '../errors';
import { launch, LaunchError, type LaunchSpec, type PodHandle } from '../launch';
import { subIds } from '../peer';
import type { Grants } from '../policy';
import type { Helper } from '../server';
import { measurePodStart } from '../tpm/pod-event';
import { describeLabels } from '../selinux';
import { setUpPodSelinux, type PodSelinux } from './run-selinux';

export interface RunContext {
  helper: Helper;
  conn: Connection;
  grants: Grants;
  argsDigest: string;
}

/** Enforced here whatever the frontend says (DESIGN.md §3.2). */
function authorize(ctx: RunContext, req: RunRequest): void {
  for (const opt of req.insecureOptions) {
    if (!ctx.grants.insecure.has(opt)) throw new HelperError('EDENIED', `helper policy does not allow --insecure-options=${opt} for you`);
  }
  if (req.image.signer === 'unverified') {
    if (!req.insecureOptions.includes('image')) {
      throw new HelperError('EDENIED', `image ${req.image.name} is not verified; verify it (ward trust) or pass --insecure-options=image`);
    }
    if (!ctx.grants.allowUnverified) throw new HelperError('EDENIED', `helper policy does not allow you to run unverified images such as ${req.image.name}`);
  }
  const mine = [...ctx.helper.running.values()].filter((p) => p.uid === ctx.conn.peer.uid).length;
  const limit = ctx.helper.opts.policy.limits.podsPerUser;
  if (mine >= limit) throw new HelperError('EDENIED', `you already run ${mine} pods, the helper policy's limit (limits.podsPerUser); stop one first`);
}

export async function run(ctx: RunContext, req: RunRequest, stdio: [number, number, number]): Promise<void> {
  const t0 = process.hrtime.bigint();
  const { helper, conn } = ctx;
  const { state } = helper.opts;
  let podDir: string | null = null;
  let pod: PodHandle | null = null;
  let sel: PodSelinux | null = null;
  let uuid = '';
  let measured = false;
  // Our copies of the caller's stdio are closed once launch has handed them to stage1; closing
  // them again would close whatever fds the helper has since opened under the same numbers.
  let stdioOpen = true;
  try {
    authorize(ctx, req);
    checkStdioFd(stdio[0], 'stdin');
    checkStdioFd(stdio[1], 'stdout');
    checkStdioFd(stdio[2], 'stderr');
    const ids = subIds(conn.peer);
    const lower = state.tree(conn.peer.uid, req.tree);
    let lowerStat: fs.Stats;
    try {
      lowerStat = fs.lstatSync(lower);
    } catch {
      throw new HelperError('ENOTREE', `tree ${req.tree} is not sealed for you; fetch the image again so ward seals it`);
    }
    uuid = crypto.randomUUID();
    podDir = state.pod(uuid);
    fs.mkdirSync(podDir, { mode: 0o700 });
    const upper = path.join(podDir, 'upper');
    const work = path.join(podDir, 'work');
    const rootfs = path.join(podDir, 'rootfs');
    // The overlay's root takes the upper dir's owner and mode: give it the sealed root's.
    fs.mkdirSync(upper, { mode: 0o700 });
    fs.chownSync(upper, lowerStat.uid, lowerStat.gid);
    fs.chmodSync(upper, lowerStat.mode & 0o7777);
    fs.mkdirSync(work, { mode: 0o700 });
    fs.mkdirSync(rootfs, { mode: 0o700 });
    sel = await setUpPodSelinux(helper.opts.selinux, req.selinux, uuid, { podDir, upper, work, lower });

    const profile = helper.opts.seccomp;
    const bpfFd = fs.openSync(profile.bpfPath, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    helper.running.set(uuid, { uid: conn.peer.uid });
    try {
      const spec: LaunchSpec = {
        uuid,
        hostname: req.hostname ?? `ward-${uuid}`,
        lower,
        upper,
        work,
        rootfs,
        cwd: req.app.workingDirectory,
        uid: req.app.user,
        gid: req.app.group,
        args: req.app.exec,
        env: req.app.environment.map((e) => `${e.name}=${e.value}`),
        caps: Object.values(APPC_DEFAULT_CAPS),
        masked: MASKED_PATHS,
        readonly: READONLY_PATHS,
        seccompFd: bpfFd,
        ...sel.launch,
      };
      // Measure, then launch (DESIGN §3.7): when the policy requires it and it fails, this throws.
      measured = await measurePodStart(helper, { uuid, image: req.image, tree: req.tree, spec, ids });
      pod = launch(helper.opts.stage1Fd, spec, stdio, ids);
    } finally {
      fs.closeSync(bpfFd);
      closeFds(stdio);
      stdioOpen = false;
    }
    const exited = pod.exited;
    try {
      await pod.started;
    } catch (e) {
      await exited;
      throw new HelperError('ELAUNCH', `pod ${uuid} did not start: ${(e as LaunchError).message}`);
    }
    helper.audit.append(conn.peer, 'run', ctx.argsDigest, 'allow', `started ${uuid} tree ${req.tree} seccomp ${profile.digest} measured ${measured} signer ${req.image.signer} ${describeLabels(sel.plan, sel.labels)}`);
    conn.send({ ok: true, event: 'started', uuid, selinux: sel.labels, measured });
    void forwardSignals(conn, pod);
    const fate = await exited;
    if (process.env.WARD_HELPER_TIMINGS === '1') process.stderr.write(`timing run ${uuid} recv->exit ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(3)}\n`);
    conn.send({ ok: true, event: 'exited', uuid, code: fate.code, signal: fate.signal });
    conn.close();
  } catch (e) {
    if (stdioOpen) closeFds(stdio.filter((fd) => fd >= 0));
    if (e instanceof HelperError) throw e;
    process.stderr.write(`ward-helper: run: ${(e as Error).stack}\n`);
    throw new HelperError('EINTERNAL', `run failed: ${(e as Error).message}`);
  } finally {
    if (pod) pod.kill();
    if (uuid) helper.running.delete(uuid);
    // A foreground pod leaves nothing behind: its mounts died with its namespaces.
    if (podDir) fs.rmSync(podDir, { recursive: true, force: true });
    // After the directory: a crash in between leaves a pair whose pod is gone, which the
    // helper reclaims at start; the other order could free a pair a live pod still uses.
    sel?.release();
  }
}

/** While the pod runs, the caller may send 'signal' frames; EOF from the caller stops the pod. */
async function forwardSignals(conn: Connection, pod: PodHandle): Promise<void> {
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
