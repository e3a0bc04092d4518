// Extracting an ACI without privilege: the extractor (extract-child.ts) runs as root of a user
// namespace the caller makes with newuidmap/newgidmap, so per-file owners land in the caller's
// subordinate range. It keeps running until the helper has sealed the tree, then removes it.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { ImageManifest } from '../schema/aci';
import { WardError } from './errors';

export interface Extraction {
  id: string;
  manifest: ImageManifest;
  /** O_DIRECTORY fd of the extracted rootfs, to hand to the helper. */
  rootfsFd: number;
  /** Removes the extracted tree and ends the extractor. */
  dispose(): Promise<void>;
}

function subRange(file: string, user: string, uid: number): number {
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const [owner, start, count] = line.split(':');
    if ((owner === user || owner === String(uid)) && Number(count) >= 65536) return Number(start);
  }
  throw new WardError('ENOSUBID', `you (${user}) have no subordinate range of 65536 ids in ${file}; ask an administrator: usermod --add-subuids N-M --add-subgids N-M ${user}`);
}

/** Runs extract-child.js as root of a new user namespace mapped onto the caller's subordinate range. */
function spawnInNamespace(subuid: number, subgid: number, args: string[], stdio: StdioOptions): ChildProcess {
  return spawn(
    'unshare',
    ['--user', `--map-users=${subuid},0,65536`, `--map-groups=${subgid},0,65536`, '--setuid', '0', '--setgid', '0', '--',
      process.execPath, path.join(__dirname, 'extract-child.js'), ...args],
    { stdio },
  );
}

/** Removes STAGING/rootfs, whose files belong to the caller's subordinate range. */
export async function removeTree(stagingDir: string, subuid?: number, subgid?: number): Promise<void> {
  if (!fs.existsSync(path.join(stagingDir, 'rootfs'))) return;
  const user = os.userInfo();
  const su = subuid ?? subRange('/etc/subuid', user.username, user.uid);
  const sg = subgid ?? subRange('/etc/subgid', user.username, user.uid);
  fs.chmodSync(stagingDir, 0o777);
  const dirFd = fs.openSync(stagingDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    const child = spawnInNamespace(su, sg, ['--remove'], ['ignore', 'ignore', 'pipe', dirFd]);
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4096)));
    const code = await new Promise<number | null>((res) => child.on('close', res));
    if (code !== 0) throw new WardError('EINTERNAL', `cannot remove the extracted tree in ${stagingDir}: ${err.split('\n').find((l) => /Error/.test(l)) ?? `exit ${code}`}`);
  } finally {
    fs.closeSync(dirFd);
  }
}

export async function extractAci(aciPath: string, stagingDir: string): Promise<Extraction> {
  const user = os.userInfo();
  const subuid = subRange('/etc/subuid', user.username, user.uid);
  const subgid = subRange('/etc/subgid', user.username, user.uid);
  let aciFd: number;
  try {
    aciFd = fs.openSync(aciPath, fs.constants.O_RDONLY);
  } catch (e) {
    throw new WardError('EIMAGE', `cannot open image ${aciPath}: ${(e as NodeJS.ErrnoException).code}; check the path and its permissions`);
  }
  // The namespace's root maps to a subordinate id, not to us: it may enter the staging dir only
  // through the fd we pass, and only because the dir is open to all while it lives (its parent,
  // the store's tmp/, is 0700, so no one else can reach it by path).
  fs.chmodSync(stagingDir, 0o777);
  const dirFd = fs.openSync(stagingDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  const child = spawnInNamespace(subuid, subgid, [], [aciFd, 'pipe', 'pipe', dirFd, 'pipe']);
  fs.closeSync(aciFd);
  fs.closeSync(dirFd);
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
  const dispose = async () => {
    ctl.on('error', () => undefined);
    ctl.end('remove\n');
    const code = await closed;
    // An extractor that died cannot have removed its tree: a fresh one in the same range does.
    if (code !== 0) await removeTree(stagingDir, subuid, subgid);
  };
  let res: { id?: string; manifest?: string; error?: string };
  try {
    res = JSON.parse(line) as typeof res;
  } catch {
    await dispose();
    throw new WardError('EIMAGE', `extracting ${aciPath} failed: ${stderr.trim().split('\n').pop() || 'the extractor ended without a result'}`);
  }
  if (res.error || !res.id || !res.manifest) {
    await dispose();
    throw new WardError('EIMAGE', `image ${aciPath} refused: ${res.error ?? 'no result'}; the image is malformed or hostile and nothing of it was kept`);
  }
  const manifestBytes = Buffer.from(res.manifest, 'base64');
  let manifest: ImageManifest;
  try {
    const parsed = ImageManifest.safeParse(JSON.parse(manifestBytes.toString('utf8')));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`${issue?.path.join('.') || '(top)'}: ${issue?.message}`);
    }
    manifest = parsed.data;
  } catch (e) {
    await dispose();
    throw new WardError('EIMAGE', `image ${aciPath} has an invalid manifest: ${(e as Error).message}; fix the image's manifest`);
  }
  let rootfsFd: number;
  try {
    rootfsFd = fs.openSync(path.join(stagingDir, 'rootfs'), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  } catch (e) {
    await dispose();
    throw new WardError('EIMAGE', `image ${aciPath} has no rootfs/: ${(e as Error).message}`);
  }
  return { id: res.id, manifest, rootfsFd, dispose };
}
