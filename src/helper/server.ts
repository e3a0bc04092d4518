// ward-helper's server: accepts callers on the Unix socket, authenticates them from the kernel,
// parses every frame strictly, dispatches the closed set of verbs, audits every request.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { addon } from '../native/addon';
import { Request, VERBS, type ErrorCode } from '../schema/protocol';
import type { HelperPolicy } from '../schema/policy';
import { parseStrictJson, StrictJsonError } from '../schema/strict-json';
import { argsDigest, AuditLog } from './audit';
import { closeFds, Connection } from './connection';
import { HelperError } from './errors';
import { identify, type Peer } from './peer';
import { requireVerb } from './policy';
import { StateDir } from './state';
import { hello } from './verbs/hello';
import { prepare, run, runPrepared, type RunContext } from './verbs/run';
import { catManifest, exportMount, gc, list, rm, status, stop } from './verbs/pods';
import { enter } from './verbs/enter';
import type { PodHandle } from './launch';
import { signalProcess } from './pod-store';
import { measurePodAction } from './tpm/pod-event';
import { seal } from './verbs/seal';
import { tpmLog, tpmQuote } from './verbs/tpm-quote';
import type { Measurer } from './tpm/measurer';
import { sealedTreeLabel, type SelinuxSetup } from './verbs/run-selinux';
import type { SeccompProfile } from '../schema/seccomp';
import type { NetSetup } from './verbs/run-net';
import type { CgroupSetup } from './verbs/run-cgroups';
import type { MdsConfig } from './verbs/run-mds';

export interface HelperOptions {
  socketPath: string;
  socketGroupGid: number;
  state: StateDir;
  policy: HelperPolicy;
  /** The default seccomp profile, compiled at start-up. */
  seccomp: { digest: string; bpfPath: string; profile: SeccompProfile };
  stage1Fd: number;
  stage1Digest: string;
  /** Measures pods and the audit head into the TPM (one without a TPM when none is configured). */
  measurer: Measurer;
  /** sha256 over the helper's own code, measured with every pod. */
  helperDigest: string;
  /** SELinux: the policy's section, the host's container types, the MCS allocator. */
  selinux: SelinuxSetup;
  /** CNI: net.d, plugin dir, IPAM dir, the default network. */
  net: NetSetup;
  /** The host's cgroup layout, where pods' cgroups go, the pods' pids limit. */
  cgroups: CgroupSetup;
  /** The metadata service pods are registered with (--mds-register); absent: its defaults. */
  mds?: MdsConfig;
}

/** Connections one user may hold open at once; more are refused with EDENIED (each costs an fd, never a thread). */
export const MAX_CONNECTIONS_PER_USER = 64;

export class Helper {
  private server: net.Server | undefined;
  readonly audit: AuditLog;
  /** Pods this helper launched and that still run, by uuid. */
  readonly running = new Map<string, { uid: number }>();
  /** Pods found running at start (launched by an earlier helper): uuid -> owner uid and dir. */
  private readonly adopted = new Map<string, { uid: number; dir: string }>();
  /** Open connections per caller uid, for MAX_CONNECTIONS_PER_USER. */
  private readonly connections = new Map<number, number>();

  constructor(readonly opts: HelperOptions) {
    this.audit = new AuditLog(opts.state.auditLog);
    const store = opts.state.podStore;
    for (const p of store.all()) {
      if (p.where !== 'run' || !store.isLocked(p.dir)) continue;
      const rec = store.readRecord(p.dir);
      if (rec) this.adopted.set(p.uuid, { uid: rec.owner.uid, dir: p.dir });
    }
  }

  /**
   * Pods an earlier helper ran in the foreground end with their caller's connection, which died
   * with that helper: nobody can follow them any more, so they are stopped now (SIGKILL, as
   * `ward stop --force`), measured and audited as the helper's own act. Detached pods run on.
   */
  async stopOrphans(): Promise<string[]> {
    const store = this.opts.state.podStore;
    const stopped: string[] = [];
    const self: Peer = Object.freeze({ uid: 0, gid: 0, pid: process.pid, pidfd: -1, user: 'ward-helper', groups: [] });
    for (const [uuid, p] of this.adopted) {
      const rec = store.readRecord(p.dir);
      if (!rec || rec.detached || !store.isLocked(p.dir)) continue;
      try {
        await measurePodAction(this, uuid, 'kill', rec.owner.uid);
      } catch (e) {
        // Not measured: still stopped (a pod nobody follows must not run on), and said so.
        process.stderr.write(`ward-helper: pod ${uuid}: ${(e as Error).message}\n`);
      }
      const targets = [rec.init, rec.stage1].filter((t) => t !== null);
      const hit = targets.some((t) => signalProcess(t, os.constants.signals.SIGKILL));
      this.audit.append(self, 'stop', argsDigest(Buffer.from(JSON.stringify({ verb: 'stop', uuid, force: true }))), 'allow', `${hit ? 'stopped' : 'found gone'} foreground pod ${uuid} of uid ${rec.owner.uid}: its caller's connection ended with the previous helper`);
      stopped.push(uuid);
    }
    return stopped;
  }

  /** Keeps count of a launched pod until it exits (limits.podsPerUser). */
  track(uuid: string, uid: number, pod: PodHandle): void {
    this.running.set(uuid, { uid });
    void pod.exited.then(() => this.running.delete(uuid));
  }

  /** Pods of uid running now: ours, and those an earlier helper left running. */
  runningPods(uid: number): number {
    let n = [...this.running.values()].filter((p) => p.uid === uid).length;
    for (const [uuid, p] of this.adopted) {
      if (!this.opts.state.podStore.isLocked(p.dir)) this.adopted.delete(uuid);
      else if (p.uid === uid) n++;
    }
    return n;
  }

  /** Listens on a fresh socket (root:group 0660), or on an fd systemd passed (socket activation). */
  async listen(activationFd: number | null): Promise<void> {
    this.server = net.createServer({ pauseOnConnect: true }, (s) => void this.serve(s));
    if (activationFd !== null) {
      await new Promise<void>((res) => this.server!.listen({ fd: activationFd }, res));
      return;
    }
    const { socketPath, socketGroupGid } = this.opts;
    try {
      if (fs.lstatSync(socketPath).isSocket()) fs.unlinkSync(socketPath);
    } catch {
      /* no stale socket */
    }
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((res, rej) => {
        this.server!.once('error', rej);
        this.server!.listen(socketPath, res);
      });
    } finally {
      process.umask(oldMask);
    }
    fs.chownSync(socketPath, 0, socketGroupGid);
    fs.chmodSync(socketPath, 0o660);
  }

  close(): Promise<void> {
    return new Promise((res) => (this.server ? this.server.close(() => res()) : res()));
  }

  private async serve(socket: net.Socket): Promise<void> {
    socket.on('error', () => undefined);
    let conn: Connection;
    let peer: Peer | undefined;
    try {
      const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
      peer = identify(addon().peerCred(fd));
      conn = new Connection(socket, peer);
    } catch {
      if (peer && peer.pidfd >= 0) closeFds([peer.pidfd]);
      socket.destroy();
      return;
    }
    const uid = conn.peer.uid;
    const open = this.connections.get(uid) ?? 0;
    if (open >= MAX_CONNECTIONS_PER_USER) {
      this.audit.append(conn.peer, '(connect)', 'ECONNLIMIT', 'deny', 'EDENIED');
      conn.sendError('EDENIED', `you already have ${open} connections to the helper open, the most one user may; close some first`);
      if (conn.peer.pidfd >= 0) closeFds([conn.peer.pidfd]);
      conn.close();
      return;
    }
    this.connections.set(uid, open + 1);
    try {
      while (!conn.isClosed) {
        let frame;
        try {
          frame = await conn.receive();
        } catch (e) {
          const code = (e as { code?: string }).code ?? 'EIO';
          this.audit.append(conn.peer, '(frame)', code, 'deny', 'EFRAME');
          conn.sendError('EFRAME', frameErrorMessage(code));
          break;
        }
        if (frame === null) break;
        await this.handle(conn, frame.data, frame.fds);
      }
    } finally {
      if (conn.peer.pidfd >= 0) closeFds([conn.peer.pidfd]);
      conn.close();
      const left = (this.connections.get(uid) ?? 1) - 1;
      if (left > 0) this.connections.set(uid, left);
      else this.connections.delete(uid);
    }
  }

  private async handle(conn: Connection, data: Buffer, fds: number[]): Promise<void> {
    const digest = argsDigest(data);
    let verb = '(invalid)';
    let fdsHandedOver = false;
    try {
      let parsed: unknown;
      try {
        parsed = parseStrictJson(data);
      } catch (e) {
        throw new HelperError('EFRAME', e instanceof StrictJsonError ? e.message : 'frame is not valid JSON');
      }
      const req = Request.safeParse(parsed);
      if (!req.success) {
        const verbField = (parsed as { verb?: unknown } | null)?.verb;
        const issue = req.error.issues[0];
        if (typeof verbField === 'string' && !(VERBS as readonly string[]).includes(verbField)) {
          throw new HelperError('EVERB', `unknown verb '${verbField.slice(0, 32)}'; the helper knows ${VERBS.filter((v) => v !== 'signal').join(', ')}`);
        }
        throw new HelperError('EFRAME', `bad request: ${issue?.path.join('.') || '(top)'}: ${issue?.message}`);
      }
      verb = req.data.verb;
      const grants = requireVerb(this.opts.policy, conn.peer, req.data.verb);
      switch (req.data.verb) {
        case 'hello':
          expectFds(fds, 0, 'hello');
          conn.send(hello(conn.peer, grants));
          this.audit.append(conn.peer, verb, digest, 'allow', 'ok');
          return;
        case 'seal': {
          expectFds(fds, 1, 'seal');
          const res = await seal(this.opts.state, this.opts.policy, conn.peer, req.data, fds[0]!, sealedTreeLabel(this.opts.selinux));
          conn.send(res);
          this.audit.append(conn.peer, verb, digest, 'allow', `ok ${res.tree}`);
          return;
        }
        case 'run': {
          expectFds(fds, 3, 'run');
          fdsHandedOver = true;
          const ctx: RunContext = { helper: this, conn, grants, argsDigest: digest };
          await run(ctx, req.data, fds as [number, number, number]);
          return;
        }
        case 'tpm-quote': {
          expectFds(fds, 0, 'tpm-quote');
          this.audit.append(conn.peer, verb, digest, 'allow', await tpmQuote(this, conn, req.data));
          return;
        }
        case 'tpm-log': {
          expectFds(fds, 0, 'tpm-log');
          this.audit.append(conn.peer, verb, digest, 'allow', await tpmLog(this, conn));
          return;
        }
        case 'prepare': {
          expectFds(fds, 0, 'prepare');
          const { verb: _v, ...rest } = req.data;
          const uuid = prepare({ helper: this, conn, grants, argsDigest: digest }, rest);
          conn.send({ ok: true, uuid });
          this.audit.append(conn.peer, verb, digest, 'allow', `prepared ${uuid} tree ${rest.apps.map((a) => a.tree).join(' ')}`);
          return;
        }
        case 'run-prepared': {
          expectFds(fds, 3, 'run-prepared');
          fdsHandedOver = true;
          const ctx: RunContext = { helper: this, conn, grants, argsDigest: digest, verb: 'run-prepared' };
          await runPrepared(ctx, req.data.uuid, req.data.detach, fds as [number, number, number]);
          return;
        }
        case 'enter': {
          expectFds(fds, 3, 'enter');
          fdsHandedOver = true;
          await enter({ helper: this, conn, grants, argsDigest: digest, verb: 'enter' }, req.data, fds as [number, number, number]);
          return;
        }
        case 'export': {
          expectFds(fds, 0, 'export');
          conn.sendWithFds({ ok: true, uuid: req.data.uuid }, [exportMount(this, conn.peer, req.data.uuid)]);
          this.audit.append(conn.peer, verb, digest, 'allow', `exported ${req.data.uuid}`);
          return;
        }
        case 'list': {
          expectFds(fds, 0, 'list');
          const pods = list(this, conn.peer);
          conn.send({ ok: true, pods });
          this.audit.append(conn.peer, verb, digest, 'allow', `ok ${pods.length}`);
          return;
        }
        case 'status': {
          expectFds(fds, 0, 'status');
          const pod = await status(this, conn, req.data.uuid, req.data.wait);
          conn.send({ ok: true, pod });
          this.audit.append(conn.peer, verb, digest, 'allow', `ok ${pod.uuid} ${pod.state}`);
          if (req.data.wait) conn.close(); // its EOF watch holds the connection's one receive
          return;
        }
        case 'stop': {
          expectFds(fds, 0, 'stop');
          await stop(this, conn.peer, req.data.uuid, req.data.force);
          conn.send({ ok: true, uuid: req.data.uuid });
          this.audit.append(conn.peer, verb, digest, 'allow', `stopped ${req.data.uuid}${req.data.force ? ' SIGKILL' : ' SIGTERM'}`);
          return;
        }
        case 'rm': {
          expectFds(fds, 0, 'rm');
          await rm(this, conn.peer, req.data.uuid);
          conn.send({ ok: true, uuid: req.data.uuid });
          this.audit.append(conn.peer, verb, digest, 'allow', `removed ${req.data.uuid}`);
          return;
        }
        case 'gc': {
          expectFds(fds, 0, 'gc');
          const res = await gc(this, conn.peer, req.data);
          conn.send({ ok: true, ...res });
          this.audit.append(conn.peer, verb, digest, 'allow', `marked ${res.marked.length} removed ${res.removed.length}`);
          return;
        }
        case 'cat-manifest': {
          expectFds(fds, 0, 'cat-manifest');
          conn.send({ ok: true, manifest: catManifest(this, conn.peer, req.data.uuid) });
          this.audit.append(conn.peer, verb, digest, 'allow', `ok ${req.data.uuid}`);
          return;
        }
        case 'signal':
          throw new HelperError('EVERB', "'signal' is only valid on a connection with a running pod");
      }
    } catch (e) {
      const err = e instanceof HelperError ? e : new HelperError('EINTERNAL', `helper failure: ${(e as Error).message}`);
      if (!(e instanceof HelperError)) console.error(`ward-helper: ${verb}: ${(e as Error).stack}`);
      conn.sendError(err.code, err.message);
      this.audit.append(conn.peer, verb, digest, err.code === 'EDENIED' ? 'deny' : 'allow', err.code);
    } finally {
      if (!fdsHandedOver) closeFds(fds);
    }
  }

  /** Audits a decision made inside a verb (run audits when the pod started or failed). */
  auditRun(peer: Peer, digest: string, result: string, ok: boolean, denied = false): void {
    this.audit.append(peer, 'run', digest, denied ? 'deny' : 'allow', ok ? result : result);
  }
}

function expectFds(fds: number[], n: number, verb: string): void {
  if (fds.length !== n) throw new HelperError('EFRAME', `'${verb}' takes ${n} fd(s), got ${fds.length}`);
}

function frameErrorMessage(code: string): string {
  const reasons: Record<string, string> = {
    EFRAMETOOBIG: 'frame longer than the helper accepts',
    ETRUNCATED: 'frame ended before its stated length',
    ETOOMANYFDS: 'frame carried more fds than any verb takes',
    ETIMEDOUT: 'frame not completed in time',
  };
  return `${reasons[code] ?? `frame could not be read (${code})`}; the connection is closed`;
}

export type { ErrorCode };
