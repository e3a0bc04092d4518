// `ward image verify`: re-hash every blob against its digest and every rendered tree against
// the digest recorded when it was rendered (in the extractor's namespace, which can read it all).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { splitDigest } from './blobs';
import { hashFile } from './hash-file';
import { mySubRanges } from './render';
import type { Store } from './store';
import { layersOf } from './tree';
import { treeKey } from './store';

export interface VerifyResult {
  id: string;
  name: string;
  ok: boolean;
  problems: string[];
}

async function treeDigestOf(dir: string): Promise<string> {
  const ids = mySubRanges();
  const dirFd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  fs.chmodSync(dir, 0o777);
  try {
    const child = spawn('unshare', ['--user', `--map-users=${ids.uid},0,65536`, `--map-groups=${ids.gid},0,65536`, '--setuid', '0', '--setgid', '0', '--',
      process.execPath, path.join(__dirname, '..', 'image', 'extract-child.js'), '--digest'], { stdio: ['ignore', 'pipe', 'pipe', dirFd] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4096)));
    const code = await new Promise<number | null>((res) => child.on('close', res));
    if (code !== 0) throw new Error(err.split('\n').find((l) => /Error/.test(l)) ?? `exit ${code}`);
    return (JSON.parse(out) as { tree: string }).tree;
  } finally {
    fs.chmodSync(dir, 0o700);
    fs.closeSync(dirFd);
  }
}

export async function verifyImages(store: Store): Promise<VerifyResult[]> {
  const out: VerifyResult[] = [];
  for (const rec of store.all()) {
    const problems: string[] = [];
    for (const l of rec.layers) {
      const [alg, hex] = splitDigest(l.digest);
      if (!store.blobs.has(l.digest)) problems.push(`blob ${l.digest} is missing`);
      else if (hashFile(store.blobs.path(l.digest), alg) !== hex) problems.push(`blob ${l.digest} does not match its digest`);
    }
    const key = treeKey(layersOf(store, rec));
    const meta = store.treeMeta(key);
    if (meta) {
      try {
        const now = await treeDigestOf(store.treeDir(key));
        if (now !== meta.treeDigest) problems.push(`rendered tree changed: ${now}, rendered as ${meta.treeDigest}`);
      } catch (e) {
        problems.push(`rendered tree cannot be read: ${(e as Error).message}`);
      }
    }
    out.push({ id: rec.id, name: rec.name, ok: problems.length === 0, problems });
  }
  return out;
}
