// The verbs that look at or act on existing pods: list, status, stop, rm, gc, cat-manifest.
// Each names pods by uuid and checks ownership (pod-access.ts) before anything else is said
// about the pod; list shows only what the caller may touch.
import fs from 'node:fs';
import path from 'node:path';
import { addon } from '../../native/addon';
import os from 'node:os';
import type { PodInfo, PodRecord } from '../../schema/pod';
import type { GcRequest } from '../../schema/protocol';
import type { Connection } from '../connection';
import { HelperError } from '../errors';
import type { Peer } from '../peer';
import { signalProcess, type FoundPod, type PodStore, type StateDirName } from '../pod-store';
import type { Helper } from '../server';
import { crashPoint } from '../fault';
import { measurePodAction } from '../tpm/pod-event';
import { mayTouch, requireOwner } from './pod-access';
import { oomKilled } from './run-cgroups';
import { podAddresses } from './run-net';
import { tearDownOrphans, tearDownPod } from './run-teardown';
import { DEFAULT_MDS_CONFIG, unregisterPodMds } from './run-mds';
import { appDirs } from './run';

/** What list and status add from the pod's cgroups and network. */
function withResources(helper: Helper, info: PodInfo, dir: string): PodInfo {
  const apps = info.apps.map((a) => (oomKilled(helper.opts.cgroups, info.uuid, dir, a.name) ? { ...a, oomKilled: true } : a));
  const networks = info.state === 'running' ? podAddresses(helper.opts.net, info.uuid) : undefined;
  return { ...info, apps, ...(networks ? { networks } : {}) };
}

const WAIT_POLL_MS = 100;

interface Located {
  found: FoundPod;
  rec: PodRecord;
}

/** The pod, if the caller may touch it; refuses with ENOPOD or EDENIED. */
export function locate(store: PodStore, peer: Peer, uuid: string, what: string): Located {
  const found = store.find(uuid);
  const rec = found && store.readRecord(found.dir);
  if (!found || !rec || found.where === 'embryo' || found.where === 'garbage') throw new HelperError('ENOPOD', `no pod ${uuid}; see ward list`);
  requireOwner(peer, rec, what);
  return { found, rec };
}

export function list(helper: Helper, peer: Peer): PodInfo[] {
  const store = helper.opts.state.podStore;
  const out: PodInfo[] = [];
  for (const p of store.all()) {
    if (p.where === 'embryo' || p.where === 'garbage') continue;
    const rec = store.readRecord(p.dir);
    if (!rec || !mayTouch(peer, rec)) continue;
    out.push(withResources(helper, store.info({ where: p.where, dir: p.dir }, rec), p.dir));
  }
  return out.sort((a, b) => a.created.localeCompare(b.created));
}

export async function status(helper: Helper, conn: Connection, uuid: string, wait: boolean): Promise<PodInfo> {
  const store = helper.opts.state.podStore;
  const { found, rec } = locate(store, conn.peer, uuid, 'see');
  if (wait) {
    // Until the pod's lock is free; a caller that goes away ends the wait (its receive sees EOF).
    let gone = false;
    void conn.receive(2 ** 31 - 1).then(() => (gone = true), () => (gone = true));
    while (!gone && (found.where === 'prepared' || store.state(store.find(uuid) ?? found) === 'running')) {
      await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
      const now = store.find(uuid);
      if (!now) break;
      found.where = now.where;
      found.dir = now.dir;
    }
  }
  const now = store.find(uuid);
  if (!now) throw new HelperError('ENOPOD', `pod ${uuid} was removed`);
  return withResources(helper, store.info(now, store.readRecord(now.dir) ?? rec), now.dir);
}

export async function stop(helper: Helper, peer: Peer, uuid: string, force: boolean): Promise<void> {
  const store = helper.opts.state.podStore;
  const { found, rec } = locate(store, peer, uuid, 'stop');
  if (store.state(found) !== 'running') throw new HelperError('EPODSTATE', `pod ${uuid} is not running (it is ${store.state(found)})`);
  // SIGTERM goes to stage1, which passes it to pod init and on to every app; SIGKILL to pod init,
  // which takes the whole pid namespace down (stage1 then records the fate).
  const targets = (force ? [rec.init, rec.stage1] : [rec.stage1, rec.init]).filter((t) => t !== null);
  if (targets.length === 0) throw new HelperError('EPODSTATE', `pod ${uuid} is still starting; try again`);
  // Measured before it is done, as launches are (TPM issue); required and failed: not stopped.
  await measurePodAction(helper, uuid, force ? 'kill' : 'stop', peer.uid);
  const signo = force ? os.constants.signals.SIGKILL : os.constants.signals.SIGTERM;
  // The first that still lives takes it (pod init, if stage1 is somehow gone before it).
  if (!targets.some((t) => signalProcess(t, signo)) && store.isLocked(found.dir)) {
    throw new HelperError('EPODSTATE', `pod ${uuid} holds its lock but none of its recorded processes lives; see ward status ${uuid}`);
  }
  // A pod this helper launched is torn down when it exits (run.ts); one an earlier helper
  // launched is watched here until its lock is free. gc repeats it in any case.
  if (!helper.running.has(uuid)) void afterExit(helper, uuid);
}

async function afterExit(helper: Helper, uuid: string): Promise<void> {
  const store = helper.opts.state.podStore;
  for (let i = 0; i < 600; i++) {
    const now = store.find(uuid);
    if (!now) return;
    if (now.where !== 'run' || !store.isLocked(now.dir)) break;
    await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
  }
  await tearDownPod(helper, uuid).catch(() => undefined);
}

/** Removes a pod that is not running: its network and cgroups undone, renamed to garbage/, its files removed, then its MCS pair freed. */
async function sweep(helper: Helper, uuid: string, from: StateDirName, rec: PodRecord): Promise<boolean> {
  const store = helper.opts.state.podStore;
  // First, while the pod's dir is still where gc finds it: a failure keeps the pod for the next gc.
  try {
    await tearDownPod(helper, uuid);
  } catch (e) {
    throw new HelperError('EINTERNAL', `pod ${uuid} could not be torn down: ${(e as Error).message}`);
  }
  if (!store.move(uuid, from, 'garbage')) return false;
  crashPoint('sweep');
  fs.rmSync(store.path('garbage', uuid), { recursive: true, force: true });
  const level = rec.selinux?.level ?? helper.opts.selinux.mcs.heldBy(uuid);
  if (level) helper.opts.selinux.mcs.release(level, uuid);
  if (rec.mdsImages) void unregisterPodMds(helper.opts.mds ?? DEFAULT_MDS_CONFIG, uuid);
  return true;
}

/** gc's sweep: a pod whose network or cgroups cannot be undone now is kept for the next gc, the others go on. */
async function sweepOrKeep(helper: Helper, uuid: string, from: StateDirName, rec: PodRecord): Promise<boolean> {
  try {
    return await sweep(helper, uuid, from, rec);
  } catch (e) {
    process.stderr.write(`ward-helper: gc: ${(e as Error).message}\n`);
    return false;
  }
}

export async function rm(helper: Helper, peer: Peer, uuid: string): Promise<void> {
  const store = helper.opts.state.podStore;
  const { found, rec } = locate(store, peer, uuid, 'remove');
  const state = store.state(found);
  if (state === 'running') throw new HelperError('EPODSTATE', `pod ${uuid} is running; stop it first (ward stop ${uuid})`);
  if (!(await sweep(helper, uuid, found.where, rec))) throw new HelperError('EPODSTATE', `pod ${uuid} changed state while being removed; see ward status ${uuid}`);
}

export function catManifest(helper: Helper, peer: Peer, uuid: string): PodRecord['manifest'] {
  return locate(helper.opts.state.podStore, peer, uuid, 'see').rec.manifest;
}

/**
 * gc: exited pods are marked (renamed to exited-garbage/, the mark time is the dir's mtime);
 * marked pods older than the grace period, and prepared pods older than expirePrepared, are
 * removed. Only the caller's pods unless admin.
 */
export async function gc(helper: Helper, peer: Peer, req: GcRequest): Promise<{ marked: string[]; removed: string[] }> {
  const store = helper.opts.state.podStore;
  const now = Date.now();
  const marked: string[] = [];
  const removed: string[] = [];
  for (const p of store.all()) {
    if (p.where !== 'run' && p.where !== 'prepared') continue;
    const rec = store.readRecord(p.dir);
    if (!rec || !mayTouch(peer, rec)) continue;
    if (p.where === 'run' && store.state({ where: p.where, dir: p.dir }) === 'exited' && store.move(p.uuid, 'run', 'exited-garbage')) {
      const t = new Date();
      fs.utimesSync(store.path('exited-garbage', p.uuid), t, t);
      marked.push(p.uuid);
      // Its network and cgroups go now, not after the grace period (the dir stays for status).
      await tearDownPod(helper, p.uuid).catch(() => undefined);
    }
    if (p.where === 'prepared' && !req.markOnly && now - Date.parse(rec.created) >= req.expirePrepared * 1000 && (await sweepOrKeep(helper, p.uuid, 'prepared', rec))) removed.push(p.uuid);
  }
  if (!req.markOnly) {
    for (const p of store.all()) {
      if (p.where !== 'exited-garbage') continue;
      const rec = store.readRecord(p.dir);
      if (!rec || !mayTouch(peer, rec)) continue;
      let mtime: number;
      try {
        mtime = fs.statSync(p.dir).mtimeMs;
      } catch {
        continue;
      }
      if (Date.now() - mtime >= req.gracePeriod * 1000 && (await sweepOrKeep(helper, p.uuid, 'exited-garbage', rec))) removed.push(p.uuid);
    }
    await tearDownOrphans(helper);
  }
  return { marked, removed };
}

/**
 * export: the exited pod's root filesystem (its first app's upper dir over its sealed tree) as an fd of a
 * read-only, nosuid, nodev, noexec overlay mount that is in no mount table. The caller reads it
 * in its own user namespace; the helper parses nothing of it.
 */
export function exportMount(helper: Helper, peer: Peer, uuid: string): number {
  const store = helper.opts.state.podStore;
  const { found, rec } = locate(store, peer, uuid, 'export');
  const state = store.state(found);
  if (state !== 'exited' && state !== 'exited-garbage') throw new HelperError('EPODSTATE', `pod ${uuid} is ${state}; only exited pods can be exported (stop it first)`);
  // A pod of several apps exports its first app's root (rkt's export takes the first app too).
  const app = rec.apps[0]!;
  const tree = helper.opts.state.tree(rec.owner.uid, app.tree);
  if (!fs.existsSync(tree)) throw new HelperError('ENOTREE', `the sealed tree of pod ${uuid} is gone from the helper's store; its root filesystem cannot be exported`);
  try {
    return addon().detachedOverlay(`${appDirs(found.dir, app.name).upper}:${tree}`);
  } catch (e) {
    throw new HelperError('EINTERNAL', `mounting pod ${uuid}'s root filesystem for export: ${(e as Error).message}`);
  }
}
