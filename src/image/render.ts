// Rendering layers into a tree without privilege: the extractor (extract-child.ts) runs as root
// of a user namespace the caller makes with newuidmap/newgidmap (through unshare), so per-file
// owners land in the caller's subordinate range. Only that namespace can remove the tree again.
import type { ChildProcess, StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { WardError } from '../schema/errors';
import type { RenderAnswer, RenderJob } from './extract-child';
import { extractLimits } from './config';
import type { ExtractLimits } from './limits';

export interface RenderLayer {
  /** Where the layer's bytes are: a file (a blob), or a stream fed while it downloads. */
  file: string;
  stream?: Readable;
  /**
   * For a stream whose digest the caller checks itself (it hashes the same bytes into the blob
   * store): settles when that check is done. The extractor then does not hash the layer, and its
   * answer is not taken (the tree is removed) unless this resolves.
   */
  checked?: Promise<void>;
  kind: 'aci' | 'oci';
  /** sha512-… for ACIs, sha256:… for OCI layers; checked while extracting. */
  digest: string;
  size: number | null;
  name: string;
}

export interface Rendered {
  answer: RenderAnswer;
  /** Ends the extractor and keeps the tree. */
  keep(): Promise<void>;
  /** Ends the extractor and removes the tree. */
  discard(): Promise<void>;
}

export interface SubRanges {
  uid: number;
  gid: number;
}

function subRange(file: string, user: string, uid: number): number {
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const [owner, start, count] = line.split(':');
    if ((owner === user || owner === String(uid)) && Number(count) >= 65536) return Number(start);
  }
  throw new WardError('ENOSUBID', `you (${user}) have no subordinate range of 65536 ids in ${file}; ask an administrator: usermod --add-subuids N-M --add-subgids N-M ${user}`);
}

export function mySubRanges(): SubRanges {
  const user = os.userInfo();
  return { uid: subRange('/etc/subuid', user.username, user.uid), gid: subRange('/etc/subgid', user.username, user.uid) };
}

/** Runs extract-child.js as root of a new user namespace mapped onto the caller's subordinate range. */
function spawnInNamespace(ids: SubRanges, args: string[], stdio: StdioOptions): ChildProcess {
  // child_process (and net, streams) load only when an extractor is spawned: ward run of a sealed image never does.
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  return spawn(
    'unshare',
    ['--user', `--map-users=${ids.uid},0,65536`, `--map-groups=${ids.gid},0,65536`, '--setuid', '0', '--setgid', '0', '--',
      process.execPath, path.join(__dirname, '..', 'image', 'extract-child.js'), ...args],
    { stdio },
  );
}

/** The namespace's root is not us: it reaches the staging dir only through an fd, and only
 * because the dir is open to all while it lives (its parent, the store's tmp/, is 0700). */
function openStaging(stagingDir: string): number {
  fs.chmodSync(stagingDir, 0o777);
  return fs.openSync(stagingDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
}

/** Removes DIR/rootfs, whose files belong to the caller's subordinate range. */
export async function removeTree(dir: string, ids: SubRanges = mySubRanges()): Promise<void> {
  if (!fs.existsSync(path.join(dir, 'rootfs'))) return;
  const dirFd = openStaging(dir);
  try {
    const child = spawnInNamespace(ids, ['--remove'], ['ignore', 'ignore', 'pipe', dirFd]);
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4096)));
    const code = await new Promise<number | null>((res) => child.on('close', res));
    if (code !== 0) throw new WardError('EINTERNAL', `cannot remove the tree in ${dir}: ${err.split('\n').find((l) => /Error/.test(l)) ?? `exit ${code}`}`);
  } finally {
    fs.closeSync(dirFd);
  }
}

/**
 * An extractor started before its layers are known (`serve`): node's start-up, tens of
 * milliseconds, overlaps the caller's own work on the manifest. Hand it to renderLayers, or
 * cancel it; either way exactly once.
 */
const SEND_TIMEOUT_MS = 10_000;

export interface StartedExtractor {
  stagingDir: string;
  /** Ends it unused (it exits at EOF on its job socket, having made nothing) and removes the staging dir. */
  cancel(): void;
  /** For renderLayers only. */
  readonly take: () => { child: ChildProcess; chan: number; ids: SubRanges };
}

export function startExtractor(stagingDir: string): StartedExtractor {
  const ids = mySubRanges();
  const { addon } = require('../native/addon') as typeof import('../native/addon');
  const [chan, theirs] = addon().socketPair();
  let dirFd = -1;
  let child: ChildProcess;
  try {
    dirFd = openStaging(stagingDir);
    child = spawnInNamespace(ids, ['serve'], ['ignore', 'pipe', 'pipe', dirFd, 'pipe', theirs]);
  } catch (e) {
    addon().close(chan);
    throw e;
  } finally {
    addon().close(theirs);
    if (dirFd >= 0) fs.closeSync(dirFd);
  }
  let taken = false;
  return {
    stagingDir,
    cancel() {
      if (taken) return;
      taken = true;
      addon().close(chan);
      // It exits by itself at the EOF; nothing here waits for that (a refusal is said at once).
      for (const s of child.stdio) (s as Readable | Writable | null)?.destroy();
      child.unref();
      fs.rmSync(stagingDir, { recursive: true, force: true });
    },
    take: () => {
      if (taken) throw new Error('a started extractor is used once');
      taken = true;
      return { child, chan, ids };
    },
  };
}

/**
 * serve: the job (JSON, without fds), then one frame per layer with its fd: the blob file, or for
 * a streamed layer one end of a new socket pair whose other end is returned to write into.
 * Every fd of ours is closed here, the job socket too (the extractor then knows it has all).
 */
function sendJob(chan: number, job: RenderJob, fds: (number | 'pipe')[]): (Writable | null)[] {
  const a = (require('../native/addon') as typeof import('../native/addon')).addon();
  const { Socket } = require('node:net') as typeof import('node:net');
  const sinks: (Writable | null)[] = [];
  try {
    a.sendFrame(chan, Buffer.from(JSON.stringify(job)), [], SEND_TIMEOUT_MS);
    for (const fd of fds) {
      if (fd !== 'pipe') {
        a.sendFrame(chan, Buffer.from('L'), [fd], SEND_TIMEOUT_MS);
        sinks.push(null);
        continue;
      }
      const [ours, theirs] = a.socketPair();
      try {
        a.sendFrame(chan, Buffer.from('L'), [theirs], SEND_TIMEOUT_MS);
      } catch (e) {
        a.close(ours);
        throw e;
      } finally {
        a.close(theirs);
      }
      sinks.push(new Socket({ fd: ours, readable: false, writable: true }));
    }
  } catch (e) {
    sinks.forEach((w) => w?.destroy());
    throw e;
  } finally {
    fds.forEach((fd) => fd !== 'pipe' && fs.closeSync(fd));
    a.close(chan);
  }
  return sinks;
}

export async function renderLayers(stagingDir: string, layers: RenderLayer[], limits: Partial<ExtractLimits> = {}, started?: StartedExtractor): Promise<Rendered> {
  const fds: (number | 'pipe')[] = [];
  try {
    for (const l of layers) fds.push(l.stream ? 'pipe' : fs.openSync(l.file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW));
  } catch (e) {
    fds.forEach((fd) => fd !== 'pipe' && fs.closeSync(fd));
    started?.cancel();
    throw new WardError('EIMAGE', `cannot open a layer to render: ${(e as Error).message}`);
  }
  const job: RenderJob = {
    layers: layers.map((l, i) => ({ fd: 5 + i, kind: l.kind, digest: l.digest, size: l.size, name: l.name, ...(l.stream && l.checked ? { checked: true } : {}) })),
    limits: { ...extractLimits(), ...limits },
  };
  let child: ChildProcess;
  let ids: SubRanges;
  /** Where each streamed layer is written: the extractor's fd 5+i, or our end of a socket pair. */
  let sinks: (Writable | null)[];
  if (started) {
    const taken = started.take();
    ({ child, ids } = taken);
    try {
      sinks = sendJob(taken.chan, job, fds);
    } catch (e) {
      child.kill('SIGKILL');
      throw new WardError('EIMAGE', `cannot hand the layers to the extractor: ${(e as Error).message}`);
    }
  } else {
    ids = mySubRanges();
    const dirFd = openStaging(stagingDir);
    child = spawnInNamespace(ids, ['render', JSON.stringify(job)], ['ignore', 'pipe', 'pipe', dirFd, 'pipe', ...fds]);
    fds.forEach((fd) => fd !== 'pipe' && fs.closeSync(fd));
    fs.closeSync(dirFd);
    sinks = layers.map((l, i) => (l.stream ? (child.stdio[5 + i] as Writable) : null));
  }
  // Layers that are still downloading stream into the extractor as they arrive.
  layers.forEach((l, i) => {
    const sock = sinks[i];
    if (!l.stream || !sock) return;
    sock.on('error', () => undefined); // the extractor refused and closed: its answer says why
    l.stream.on('error', () => sock.destroy());
    l.stream.pipe(sock);
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-8192)));
  const closed = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  const line = await new Promise<string>((resolve) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.on('close', () => resolve(out));
  });
  const ctl = child.stdio[4] as Writable;
  ctl.on('error', () => undefined);
  const end = async (verdict: 'keep' | 'remove') => {
    ctl.end(`${verdict}\n`);
    const code = await closed;
    // An extractor that died or hung cannot have removed its tree: a fresh one in the same range does.
    if (verdict === 'remove' && (code !== 0 || fs.existsSync(path.join(stagingDir, 'rootfs')))) await removeTree(stagingDir, ids);
  };
  let res: RenderAnswer | { error: string };
  try {
    res = JSON.parse(line) as RenderAnswer | { error: string };
  } catch {
    await end('remove');
    throw new WardError('EIMAGE', `extraction failed: ${stderr.split('\n').find((l) => /Error/.test(l)) || 'the extractor ended without a result'}`);
  }
  if ('error' in res) {
    await end('remove');
    throw new WardError('EIMAGE', res.error);
  }
  // A layer the extractor did not hash is used only once the caller has found its digest right.
  try {
    await Promise.all(layers.map((l) => (l.stream ? l.checked : undefined)));
  } catch (e) {
    await end('remove');
    throw e;
  }
  return { answer: res, keep: () => end('keep'), discard: () => end('remove') };
}
