// The tree digest, format version 1, exactly as the helper computes it when it seals a tree
// (the format is specified at the top of addon/src/seal.cc). Computed here, in the extractor's
// user namespace, so a rendered tree's digest is known before it is sealed and `ward image
// verify` can re-hash it. Names are handled as raw bytes; nothing is followed through a symlink.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { hashFile } from './hash-file';

/**
 * What the extractor itself made at a path (a regular file or a symlink), as it left it: the
 * digest walk then needs neither an lstat nor a read for it. Directories are always lstat'ed
 * (their modes are applied last, and there are few of them).
 */
export type KnownEntry =
  | { type: 'f'; mode: number; uid: number; gid: number; size: number; sha256: string }
  | { type: 'l'; mode: number; uid: number; gid: number; link: string };

const NUL = Buffer.from([0]);
/** U+D800 and above (surrogates sort apart from UTF-8 there), and U+FFFD (what invalid UTF-8 reads as). */
const UNSAFE_NAME = /[\uD800-\uFFFF]/;
const SLASH = Buffer.from('/');

/**
 * Digest of the tree at root. Ids are taken relative to base (0 inside the user namespace).
 * known maps relative paths ("./a/b") to what was written there while extracting; an entry the
 * walk finds of another type than known, or under a name that is not valid UTF-8, is lstat'ed
 * and read again. Without known, everything is.
 */
export function treeDigest(root: string, base = { uid: 0, gid: 0 }, known?: Map<string, KnownEntry>): string {
  const h = crypto.createHash('sha256');
  h.update('ward-tree-v1\n');
  const line = (type: string, rel: Buffer | string, mode: number, uid: number, gid: number) => {
    h.update(type);
    h.update(NUL);
    h.update(rel);
    h.update(NUL);
    h.update(`${mode}\0${uid - base.uid}\0${gid - base.gid}\0`);
  };
  // abs and rel as Buffers, or as strings when every name on the way is valid UTF-8 (the same bytes).
  const fromDisk = (abs: Buffer | string, rel: Buffer | string): boolean => {
    const st = fs.lstatSync(abs);
    const type = st.isDirectory() ? 'd' : st.isFile() ? 'f' : st.isSymbolicLink() ? 'l' : st.isFIFO() ? 'p' : null;
    if (type === null) throw new Error(`${rel.toString()} is neither a directory, a file, a symlink nor a fifo`);
    line(type, rel, st.mode & 0o7777, st.uid, st.gid);
    if (type === 'f') h.update(`${st.size}\0${hashFile(abs, 'sha256')}\0`);
    else if (type === 'l') {
      h.update(fs.readlinkSync(abs, { encoding: 'buffer' }));
      h.update(NUL);
    }
    h.update('\n');
    return type === 'd';
  };
  /** One entry whose name the walk has; true when it was known (hashed from what the extractor recorded). */
  const fromKnown = (crelStr: string | null, isFile: boolean, isLink: boolean): boolean => {
    const k = known && crelStr !== null && (isFile || isLink) ? known.get(crelStr) : undefined;
    // One update per known entry: the same bytes as the line written field by field.
    if (k && k.type === 'f' && isFile) {
      h.update(`f\0${crelStr}\0${k.mode}\0${k.uid - base.uid}\0${k.gid - base.gid}\0${k.size}\0${k.sha256}\0\n`);
      return true;
    }
    if (k && k.type === 'l' && isLink) {
      h.update(`l\0${crelStr}\0${k.mode}\0${k.uid - base.uid}\0${k.gid - base.gid}\0${k.link}\0\n`);
      return true;
    }
    return false;
  };
  // relStr is rel as a string while every name on the way is valid UTF-8 (the extractor names
  // what it makes with strings), null below a name that is not: nothing there is known.
  const walkDir = (abs: Buffer, rel: Buffer, relStr: string | null) => {
    if (relStr !== null && walkDirByString(abs.toString('utf8'), relStr)) return;
    const entries = fs.readdirSync(abs, { encoding: 'buffer', withFileTypes: true }) as unknown as fs.Dirent<Buffer>[];
    entries.sort((a, b) => Buffer.compare(a.name, b.name));
    for (const d of entries) {
      const name = relStr === null ? null : d.name.toString('utf8');
      // Invalid UTF-8 decodes with U+FFFD; a name really holding U+FFFD is just looked at again.
      const crelStr = name === null || name.includes('\uFFFD') ? null : `${relStr}/${name}`;
      if (fromKnown(crelStr, d.isFile(), d.isSymbolicLink())) continue;
      const cabs = Buffer.concat([abs, SLASH, d.name]);
      const crel = Buffer.concat([rel, SLASH, d.name]);
      if (fromDisk(cabs, crel)) walkDir(cabs, crel, crelStr);
    }
  };
  /**
   * The common case, without a Buffer per name: a directory whose names all read back as
   * strings below U+D800, where sorting the strings is sorting their UTF-8 bytes. false: a
   * name is not like that, and the directory is walked byte by byte instead.
   */
  const walkDirByString = (abs: string, rel: string): boolean => {
    const entries = fs.readdirSync(abs, { withFileTypes: true });
    for (const d of entries) if (UNSAFE_NAME.test(d.name)) return false;
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of entries) {
      const crel = `${rel}/${d.name}`;
      if (fromKnown(crel, d.isFile(), d.isSymbolicLink())) continue;
      const cabs = `${abs}/${d.name}`;
      if (fromDisk(cabs, crel)) walkDir(Buffer.from(cabs), Buffer.from(crel), crel);
    }
    return true;
  };
  const rootAbs = Buffer.from(root);
  const rootRel = Buffer.from('.');
  if (fromDisk(rootAbs, rootRel)) walkDir(rootAbs, rootRel, '.');
  return 'sha256:' + h.digest('hex');
}
