// enter: a command inside a running pod (rkt enter), with the caller's stdio. ward-stage1 joins
// the pod's namespaces through a pidfd of its init (never a bare pid: the pidfd is taken, then
// the init's start time checked against the record) and confines the command exactly as the
// app: its ids and supplementary groups, its capabilities, no_new_privs, the pod's SELinux
// label, its seccomp filter. Measured before, when the TPM is on (TPM issue).
import fs from 'node:fs';
import { addon } from '../../native/addon';
import type { EnterRequest } from '../../schema/protocol';
import { closeFds, checkStdioFd } from '../connection';
import { appCaps, grantedAtStart } from '../app-caps';
import { appSeccomp } from '../app-seccomp';
import { HelperError } from '../errors';
import { launchEnter, LaunchError, type PodHandle } from '../launch';
import { openEnteredJoin } from './run-cgroups';
import { readStatus, startTimeOf } from '../pod-store';
import { seccompInput } from '../seccomp-input';
import { measurePodAction } from '../tpm/pod-event';
import { locate } from './pods';
import { forwardSignals, type RunContext } from './run';

const DEFAULT_COMMAND = ['/bin/sh'];

/** The stage1 error for an app whose namespace pod init no longer keeps (it ended meanwhile). */
const NOT_RUNNING = /^app \S+ of the pod is not running$/;

export async function enter(ctx: RunContext, req: EnterRequest, stdio: [number, number, number]): Promise<void> {
  const { helper, conn } = ctx;
  const store = helper.opts.state.podStore;
  let pod: PodHandle | null = null;
  let stdioOpen = true;
  let pidfd = -1;
  try {
    checkStdioFd(stdio[0], 'stdin');
    checkStdioFd(stdio[1], 'stdout');
    checkStdioFd(stdio[2], 'stderr');
    const { found, rec } = locate(store, conn.peer, req.uuid, 'enter');
    const app = req.app === undefined ? rec.apps[0]! : rec.apps.find((a) => a.name === req.app);
    if (!app) throw new HelperError('ENOPOD', `pod ${rec.uuid} has no app ${req.app}; its apps: ${rec.apps.map((a) => a.name).join(', ')}`);
    const notRunning = () => new HelperError('EPODSTATE', `pod ${rec.uuid} is not running (it is ${store.state(found)}); only running pods can be entered`);
    if (store.state(found) !== 'running' || !rec.init) throw notRunning();
    // An app that has ended (its line is in the status file pod init writes) cannot be entered;
    // stage1 checks again in the pod, where pod init keeps only running apps' namespaces.
    if (readStatus(found.dir).apps.has(rec.apps.indexOf(app))) {
      throw new HelperError('EPODSTATE', `app ${app.name} of pod ${rec.uuid} has exited; enter another app of the pod (--app=NAME, see ward status ${rec.uuid})`);
    }
    try {
      pidfd = addon().pidfdOpen(rec.init.pid);
    } catch {
      throw notRunning();
    }
    if (startTimeOf(rec.init.pid) !== rec.init.startTime) throw notRunning();
    const measured = await measurePodAction(helper, rec.uuid, 'enter', conn.peer.uid);
    const granted = grantedAtStart(app.spec);
    const caps = appCaps(app.spec, granted);
    const profile = appSeccomp(helper.opts.state.root, helper.opts.seccomp, app.spec.seccomp, granted);
    const bpf = seccompInput(found.dir, [profile.bpfPath]);
    let cgroupFds: number[] = [];
    try {
      cgroupFds = openEnteredJoin(helper.opts.cgroups, rec.uuid, app.name);
      pod = launchEnter(helper.opts.stage1Fd, {
        uuid: rec.uuid,
        app: app.name,
        appIndex: rec.apps.indexOf(app),
        cwd: app.spec.workingDirectory,
        uid: app.spec.user,
        gid: app.spec.group,
        args: req.exec ?? DEFAULT_COMMAND,
        env: app.spec.environment.map((e) => `${e.name}=${e.value}`),
        caps,
        ...(app.spec.supplementaryGids?.length ? { groups: app.spec.supplementaryGids } : {}),
        seccompFd: bpf.fd,
        seccompBytes: bpf.bytes[0]!,
        ...(rec.selinux?.process ? { selinuxLabel: rec.selinux.process } : {}),
        pidfd,
        cgroupFds,
      }, stdio);
    } finally {
      for (const fd of cgroupFds) fs.closeSync(fd);
      if (bpf.fd !== null) fs.closeSync(bpf.fd);
      fs.closeSync(pidfd);
      pidfd = -1;
      closeFds(stdio);
      stdioOpen = false;
    }
    const exited = pod.exited;
    try {
      await pod.started;
    } catch (e) {
      await exited;
      const msg = (e as LaunchError).message;
      if (NOT_RUNNING.test(msg)) throw new HelperError('EPODSTATE', `app ${app.name} of pod ${rec.uuid} has exited; enter another app of the pod (--app=NAME, see ward status ${rec.uuid})`);
      throw new HelperError('ELAUNCH', `could not enter pod ${rec.uuid}: ${msg}`);
    }
    helper.audit.append(conn.peer, 'enter', ctx.argsDigest, 'allow', `entered ${rec.uuid} app ${app.name} measured ${measured}`);
    conn.send({ ok: true, event: 'started', uuid: rec.uuid, selinux: rec.selinux, measured });
    void forwardSignals(conn, pod);
    const fate = await exited;
    conn.send({ ok: true, event: 'exited', uuid: rec.uuid, code: fate.code, signal: fate.signal });
    conn.close();
  } catch (e) {
    if (stdioOpen) closeFds(stdio.filter((fd) => fd >= 0));
    if (pidfd >= 0) fs.closeSync(pidfd);
    if (e instanceof HelperError) throw e;
    process.stderr.write(`ward-helper: enter: ${(e as Error).stack}\n`);
    throw new HelperError('EINTERNAL', `enter failed: ${(e as Error).message}`);
  } finally {
    // The caller went away (or the command ended): the entered command goes with its stage1.
    if (pod) pod.kill();
  }
}
