// The tree digest, format version 1, exactly as the helper computes it when it seals a tree
// (the format is specified at the top of addon/src/seal.cc). Computed here, in the extractor's
// user namespace, so a rendered tree's digest is known before it is sealed and `ward image
// verify` can re-hash it. Names are handled as raw bytes; nothing is followed through a symlink.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { hashFile } from './hash-file';

export interface KnownContent {
  size: number;
  sha256: string;
}

/**
 * Digest of the tree at root. Ids are taken relative to base (0 inside the user namespace).
 * known maps relative paths ("./a/b") to content hashes computed while the files were written;
 * a file whose size differs from what is known is read again.
 */
export function treeDigest(root: string, base = { uid: 0, gid: 0 }, known?: Map<string, KnownContent>): string {
  const h = crypto.createHash('sha256');
  h.update('ward-tree-v1\n');
  const NUL = Buffer.from([0]);
  const walk = (abs: Buffer, rel: Buffer) => {
    const st = fs.lstatSync(abs);
    const type = st.isDirectory() ? 'd' : st.isFile() ? 'f' : st.isSymbolicLink() ? 'l' : st.isFIFO() ? 'p' : null;
    if (type === null) throw new Error(`${rel.toString()} is neither a directory, a file, a symlink nor a fifo`);
    h.update(type);
    h.update(NUL);
    h.update(rel);
    h.update(NUL);
    h.update(`${st.mode & 0o7777}\0${st.uid - base.uid}\0${st.gid - base.gid}\0`);
    if (type === 'f') {
      const k = known?.get(rel.toString('utf8'));
      const sha = k && k.size === st.size ? k.sha256 : hashFile(abs, 'sha256');
      h.update(`${st.size}\0${sha}\0`);
    } else if (type === 'l') {
      h.update(fs.readlinkSync(abs, { encoding: 'buffer' }));
      h.update(NUL);
    }
    h.update('\n');
    if (type === 'd') {
      const names = fs.readdirSync(abs, { encoding: 'buffer' }).sort(Buffer.compare);
      for (const n of names) walk(Buffer.concat([abs, Buffer.from('/'), n]), Buffer.concat([rel, Buffer.from('/'), n]));
    }
  };
  walk(Buffer.from(root), Buffer.from('.'));
  return 'sha256:' + h.digest('hex');
}
