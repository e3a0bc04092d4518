// An index of a tar archive (oci-archive, docker save) made by reading its headers in place:
// bodies are skipped with positioned reads, so an archive is never copied or extracted, and each
// member can later be streamed from its offset. The archive is hostile: member names that could
// climb out ('..', absolute, NUL) refuse the whole archive, a name given twice is refused (which
// copy would a reader get?), sizes must fit in the file, and only ustar, GNU and PAX headers (what
// Go's archive/tar, GNU tar and tar-stream write) are read; PAX global headers may not rename.
import fs from 'node:fs';
import { ImageSourceError } from '../source';
import { headerSums } from '../tar-checksum';

export type MemberType = 'file' | 'directory' | 'symlink' | 'link' | 'other';

export interface TarMember {
  name: string;
  type: MemberType;
  /** Offset of the body in the archive file. */
  offset: number;
  size: number;
  linkname: string;
}

export type TarIndex = Map<string, TarMember>;

/** Layouts and docker saves hold a handful of files per layer; more members than this is hostile. */
export const MAX_TAR_MEMBERS = 65536;
const BLOCK = 512;
const MAX_NAME = 4096;
const MAX_META = 1 << 20; // PAX records and GNU long names

const bad = (what: string, msg: string) => new ImageSourceError('EIMAGE', `${what}: ${msg}; the archive is corrupt or hostile`);

/** A member name as a canonical relative path ('' for the archive's root), or a refusal. */
export function normaliseMemberName(name: string, what: string): string {
  if (name.includes('\u0000')) throw bad(what, `a member name contains NUL`);
  if (name.length > MAX_NAME) throw bad(what, `a member name is longer than ${MAX_NAME}`);
  if (name.startsWith('/')) throw bad(what, `member '${name}' is an absolute path`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw bad(what, `member '${name}' contains '..'`);
  return parts.join('/');
}

function octal(buf: Buffer, off: number, len: number, what: string): number {
  const field = buf.subarray(off, off + len);
  if (field[0]! & 0x80) {
    // Base-256 (GNU/star) for values that do not fit the octal field; negative is refused.
    if (field[0] === 0xff) throw bad(what, 'a header has a negative number');
    let v = field[0]! & 0x7f;
    for (let i = 1; i < len; i++) {
      v = v * 256 + field[i]!;
      if (v > Number.MAX_SAFE_INTEGER) throw bad(what, 'a header number is too large');
    }
    return v;
  }
  const s = field.toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');
  if (!/^[0-7]*$/.test(s)) throw bad(what, `a header has a malformed number '${s.slice(0, 16)}'`);
  return s === '' ? 0 : parseInt(s, 8);
}

const cstr = (buf: Buffer, off: number, len: number) => {
  const f = buf.subarray(off, off + len);
  const nul = f.indexOf(0);
  return f.subarray(0, nul < 0 ? len : nul).toString('utf8');
};

function checksumOk(h: Buffer, what: string): boolean {
  const stored = octal(h, 148, 8, what);
  const { unsigned, signed } = headerSums(h);
  return stored === unsigned || stored === signed;
}

/** PAX extended header records: "LEN key=value\n", LEN counting the whole record. */
function parsePax(data: Buffer, what: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < data.length) {
    if (data[i] === 0) break;
    const sp = data.indexOf(0x20, i);
    if (sp < 0) throw bad(what, 'a PAX record has no length');
    const lenStr = data.subarray(i, sp).toString('latin1');
    const len = /^[1-9][0-9]{0,7}$/.test(lenStr) ? Number(lenStr) : NaN;
    if (!(len > 0) || i + len > data.length || data[i + len - 1] !== 0x0a) throw bad(what, 'a PAX record is malformed');
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq <= 0) throw bad(what, 'a PAX record has no key');
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return out;
}

function typeOf(flag: string): MemberType {
  if (flag === '0' || flag === '\0' || flag === '7') return 'file';
  if (flag === '1') return 'link';
  if (flag === '2') return 'symlink';
  if (flag === '5') return 'directory';
  return 'other';
}

function readAt(fd: number, pos: number, len: number, what: string): Buffer {
  const buf = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const n = fs.readSync(fd, buf, got, len - got, pos + got);
    if (n === 0) throw bad(what, 'it is truncated');
    got += n;
  }
  return buf;
}

/** Reads every header of the tar in `fd` (a regular file of `fileSize` bytes). */
export function indexTar(fd: number, fileSize: number, what: string, maxMembers = MAX_TAR_MEMBERS): TarIndex {
  const members: TarIndex = new Map();
  let pos = 0;
  let pax = new Map<string, string>();
  let longName: string | null = null;
  let longLink: string | null = null;
  let count = 0;
  while (pos + BLOCK <= fileSize) {
    const h = readAt(fd, pos, BLOCK, what);
    if (h.every((b) => b === 0)) return members; // end-of-archive marker
    if (++count > maxMembers) throw new ImageSourceError('ELIMIT', `${what}: more than ${maxMembers} tar members; the archive is hostile`);
    if (!checksumOk(h, what)) throw bad(what, `the header at offset ${pos} has a bad checksum`);
    const magic = h.subarray(257, 265).toString('latin1');
    const posix = magic === 'ustar\u000000';
    if (!posix && magic !== 'ustar  \u0000') throw bad(what, `the header at offset ${pos} is not ustar, GNU or PAX`);
    const flag = String.fromCharCode(h[156]!);
    const meta = flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K';
    let size = octal(h, 124, 12, what);
    if (pax.has('size') && !meta) {
      const s = pax.get('size')!;
      if (!/^[0-9]{1,16}$/.test(s) || Number(s) > Number.MAX_SAFE_INTEGER) throw bad(what, `a PAX size '${s.slice(0, 20)}' is malformed`);
      size = Number(s);
    }
    // Links, devices, directories and FIFOs carry no body whatever their size field says, as in
    // Go's archive/tar (skopeo, docker): both must see the same members in the same archive.
    if ('123456'.includes(flag)) size = 0;
    const offset = pos + BLOCK;
    if (size > fileSize - offset) throw bad(what, `member at offset ${pos} claims ${size} bytes, past the end of the archive`);
    pos = offset + Math.ceil(size / BLOCK) * BLOCK;
    if (meta) {
      if (size > MAX_META) throw new ImageSourceError('ELIMIT', `${what}: a tar extended header is larger than ${MAX_META} bytes; the archive is hostile`);
      const data = readAt(fd, offset, size, what);
      if (flag === 'x') pax = parsePax(data, what);
      else if (flag === 'g') {
        // A global header that renames or resizes would change every later member: refused.
        for (const k of parsePax(data, what).keys()) if (k === 'path' || k === 'linkpath' || k === 'size') throw bad(what, `a PAX global header sets '${k}'`);
      } else if (flag === 'L') longName = cstr(data, 0, data.length);
      else longLink = cstr(data, 0, data.length);
      continue;
    }
    const rawName = pax.get('path') ?? longName ?? (posix && h[345] !== 0 ? `${cstr(h, 345, 155)}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
    const linkname = pax.get('linkpath') ?? longLink ?? cstr(h, 157, 100);
    // PAX sparse files keep a map in their body, not the file's bytes: not a readable member.
    const sparse = [...pax.keys()].some((k) => k.startsWith('GNU.sparse.'));
    pax = new Map();
    longName = longLink = null;
    const name = normaliseMemberName(rawName, what);
    if (name === '') continue;
    const type = sparse ? 'other' : typeOf(flag);
    const prev = members.get(name);
    if (prev && !(prev.type === 'directory' && type === 'directory')) throw bad(what, `member '${name}' appears twice`);
    members.set(name, { name, type, offset, size: type === 'file' ? size : 0, linkname });
  }
  if (pos < fileSize && fileSize - pos < BLOCK) throw bad(what, 'it ends inside a header');
  if (pos > fileSize) throw bad(what, 'it is truncated');
  return members;
}

/**
 * The regular file a name leads to inside the archive, following the archive's own symlinks and
 * hard links by name only (docker save links repeated layers as ../<id>/layer.tar): a target
 * that climbs above the archive's root, loops, or is not a regular file is refused.
 */
export function lookupMember(index: TarIndex, name: string, what: string): TarMember {
  let cur = normaliseMemberName(name, what);
  for (let hops = 0; hops <= 8; hops++) {
    const m = index.get(cur);
    if (!m) throw new ImageSourceError('ENOTFOUND', `${what} has no member '${cur}'; the archive is incomplete`);
    if (m.type === 'file') return m;
    if (m.type !== 'symlink' && m.type !== 'link') throw bad(what, `member '${cur}' is not a regular file`);
    if (m.linkname.startsWith('/')) throw bad(what, `member '${cur}' links to the absolute path '${m.linkname}'`);
    // A symlink is relative to its own directory, a hard link to the archive's root.
    const base = m.type === 'symlink' ? cur.split('/').slice(0, -1) : [];
    const out = [...base];
    for (const p of m.linkname.split('/')) {
      if (p === '' || p === '.') continue;
      if (p === '..') {
        if (out.length === 0) throw bad(what, `member '${cur}' links outside the archive ('${m.linkname}')`);
        out.pop();
      } else out.push(p);
    }
    cur = out.join('/');
  }
  throw bad(what, `member '${name}' is a chain of more than 8 links`);
}
