// Rendering layers into a tree without privilege: the extractor (extract-child.ts) runs as root
// of a user namespace the caller makes with newuidmap/newgidmap (through unshare), so per-file
// owners land in the caller's subordinate range. Only that namespace can remove the tree again.
import type { ChildProcess, StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { WardError } from './errors';
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

export async function renderLayers(stagingDir: string, layers: RenderLayer[], limits: Partial<ExtractLimits> = {}): Promise<Rendered> {
  const ids = mySubRanges();
  const fds: (number | 'pipe')[] = [];
  try {
    for (const l of layers) fds.push(l.stream ? 'pipe' : fs.openSync(l.file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW));
  } catch (e) {
    fds.forEach((fd) => fd !== 'pipe' && fs.closeSync(fd));
    throw new WardError('EIMAGE', `cannot open a layer to render: ${(e as Error).message}`);
  }
  const dirFd = openStaging(stagingDir);
  const job: RenderJob = {
    layers: layers.map((l, i) => ({ fd: 5 + i, kind: l.kind, digest: l.digest, size: l.size, name: l.name, ...(l.stream && l.checked ? { checked: true } : {}) })),
    limits: { ...extractLimits(), ...limits },
  };
  const child = spawnInNamespace(ids, ['render', JSON.stringify(job)], ['ignore', 'pipe', 'pipe', dirFd, 'pipe', ...fds]);
  fds.forEach((fd) => fd !== 'pipe' && fs.closeSync(fd));
  fs.closeSync(dirFd);
  // Layers that are still downloading stream into the extractor as they arrive.
  layers.forEach((l, i) => {
    if (!l.stream) return;
    const sock = child.stdio[5 + i] as Writable;
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
