// Applying one tar entry of a hostile layer to the tree, inside the extractor's user namespace.
// No path is ever followed through a symlink: every parent is checked to be a real directory,
// names with ".." or absolute names are refused, whiteouts remove only inside the tree.
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import type tar from 'tar-stream';
import type { ExtractLimits } from './limits';
import type { EntryBody, TarHeader } from './tar-reader';
import type { KnownEntry } from './tree-digest';
import crypto from 'node:crypto';
import { addon, type FileWriter } from '../native/addon';
import { entryComponents, rootfsComponents, UnsafeEntryError } from './tar-paths';

const EEXIST = 17;

export { UnsafeEntryError };

export interface EntryContext {
  /** The tree's root, e.g. /proc/self/fd/3/rootfs. */
  root: string;
  limits: ExtractLimits;
  entries: number;
  bytes: number;
  manifest: Buffer | null;
  /** Directory modes applied after all layers, deepest first. */
  dirModes: [string, number, number][];
  /** What was written at each "./relative/path" (files, symlinks), for the tree digest. */
  contents: Map<string, KnownEntry>;
  /**
   * Keep the image's owners (inside the extractor's namespace). Off when extracting for the
   * user outside any namespace (ward image extract): files are then the user's, and setuid and
   * setgid bits are dropped.
   */
  owners: boolean;
  /**
   * Parents already found to be real directories ("/a/b"), so each is checked once, not once
   * per entry below it. Emptied whenever anything in the tree is removed: only a removal can
   * turn a checked directory into something else.
   */
  dirs?: Set<string>;
  /**
   * Makes whole new files on a thread of its own while the next entries are parsed. With it,
   * `made` holds every path ("/a/b") anything was ever made at (a file is queued only where
   * nothing ever was), and `queued` the paths queued since the writer was last fenced (waited
   * for): it is fenced before anything that could meet one of them (the same path, a path
   * under it, a removal, a hard link to it).
   */
  writer?: FileWriter;
  made?: Set<string>;
  queued?: Set<string>;
}

/** Waits until every queued file is on disk. */
export function fence(ctx: EntryContext): void {
  if (!ctx.writer || ctx.queued!.size === 0) return;
  ctx.writer.fence();
  ctx.queued!.clear();
}

/** Waits for the file writer if rel is still queued. */
function settle(ctx: EntryContext, rel: string): void {
  if (ctx.queued?.has(rel)) fence(ctx);
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** What one layer has made so far: an opaque whiteout hides lower layers, not the layer itself. */
export class LayerState {
  readonly created = new Set<string>();

  finish(): void {
    this.created.clear();
  }
}

function lstatOrNull(p: string): fs.Stats | null {
  // Most targets do not exist yet: no exception (and its stack) for each of them.
  return fs.lstatSync(p, { throwIfNoEntry: false }) ?? null;
}

/** Ensures every parent of parts is a real directory (never a symlink), creating missing ones. */
function safeParent(ctx: EntryContext, state: LayerState, parts: string[], entry: string): string {
  let p = ctx.root;
  let rel = '';
  for (const c of parts.slice(0, -1)) {
    p += '/' + c;
    rel += '/' + c;
    if (ctx.dirs?.has(rel)) continue;
    settle(ctx, rel);
    const st = lstatOrNull(p);
    if (st === null) {
      fs.mkdirSync(p, { mode: 0o755 });
      state.created.add(rel);
      ctx.made?.add(rel);
    } else if (st.isSymbolicLink()) throw new UnsafeEntryError(`entry '${entry}' goes through the symlink '${rel}'`);
    else if (!st.isDirectory()) throw new UnsafeEntryError(`entry '${entry}' goes through '${rel}', which is not a directory`);
    ctx.dirs?.add(rel);
  }
  return p;
}

function clearTarget(ctx: EntryContext, p: string, keepDir: boolean): void {
  const st = lstatOrNull(p);
  if (st === null) return;
  if (st.isDirectory() && keepDir) return;
  if (st.isDirectory()) fence(ctx); // files still queued under it would race its removal
  ctx.dirs?.clear();
  fs.rmSync(p, { recursive: true, force: true });
}

function checkIds(h: TarHeader, entry: string): { uid: number; gid: number } {
  const { uid, gid } = h;
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid < 0 || gid < 0 || uid > 65535 || gid > 65535) {
    throw new UnsafeEntryError(`entry '${entry}' is owned by ${uid}:${gid}, outside the ids a pod maps (0-65535)`);
  }
  return { uid, gid };
}

function componentsOf(name: string, kind: 'aci' | 'oci'): string[] | null {
  return kind === 'aci' ? rootfsComponents(name) : entryComponents(name);
}

/** Collects the ACI's manifest (bounded by limits.maxManifestBytes, checked on the header). */
function readManifest(h: TarHeader, ctx: EntryContext): EntryBody {
  if (h.size > ctx.limits.maxManifestBytes) throw new UnsafeEntryError(`manifest larger than ${ctx.limits.maxManifestBytes} bytes (raise limits.maxManifestBytes in ~/.config/ward/config.json)`);
  const parts: Buffer[] = [];
  return {
    data: (c) => parts.push(Buffer.from(c)),
    end: () => void (ctx.manifest = Buffer.concat(parts)),
    abort: () => undefined,
  };
}

function whiteout(ctx: EntryContext, state: LayerState, parts: string[], entry: string): void {
  fence(ctx); // it removes: nothing it removes may still be queued
  const dir = safeParent(ctx, state, parts, entry);
  const base = parts[parts.length - 1]!;
  const relDir = '/' + parts.slice(0, -1).join('/');
  ctx.dirs?.clear();
  if (base === OPAQUE) {
    // Hide what lower layers put in this directory; keep what this layer already added.
    for (const name of fs.readdirSync(dir)) {
      const rel = (relDir === '/' ? '' : relDir) + '/' + name;
      if (!state.created.has(rel)) fs.rmSync(`${dir}/${name}`, { recursive: true, force: true });
    }
    return;
  }
  if (base.startsWith(WHITEOUT + WHITEOUT)) return; // other aufs metadata (.wh..wh.plnk): nothing to apply
  const victim = base.slice(WHITEOUT.length);
  if (victim === '' || victim === '.' || victim === '..') throw new UnsafeEntryError(`whiteout '${entry}' names no file inside the tree`);
  fs.rmSync(`${dir}/${victim}`, { recursive: true, force: true });
}

/** Creates target, never through a symlink; whatever is already there (a lower layer's) is replaced. */
function createFile(ctx: EntryContext, target: string, mode: number): number {
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
  try {
    return fs.openSync(target, flags, mode);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  clearTarget(ctx, target, false);
  return fs.openSync(target, flags, mode);
}

/**
 * The body of a regular file: written as it arrives, hashed for the tree digest, then owned, moded
 * and dated. A body that arrives whole (most do) is written by one native call.
 */
function writeFile(ctx: EntryContext, target: string, rel: string, h: TarHeader, mode: number, ids: { uid: number; gid: number } | null): EntryBody {
  const want = ids ? mode : mode & 0o1777;
  let fd = -1;
  let hash: crypto.Hash | null = null;
  let written = 0;
  const close = () => {
    if (fd < 0) return;
    const f = fd;
    fd = -1;
    fs.closeSync(f);
  };
  const record = (uid: number, gid: number, sha256: string) => ctx.contents.set(rel, { type: 'f', mode: want, uid, gid, size: h.size, sha256 });
  const whole = (body: Buffer) => {
    const relSlash = rel.slice(1);
    if (ctx.writer && !ctx.made!.has(relSlash)) {
      // Nothing was ever made here: the writer makes it while the next entries are parsed.
      ctx.made!.add(relSlash);
      ctx.queued!.add(relSlash);
      ctx.writer.write(target, body, mode, ids ? ids.uid : -1, ids ? ids.gid : -1, h.mtime);
      if (ids) record(ids.uid, ids.gid, crypto.hash('sha256', body));
      return;
    }
    settle(ctx, relSlash);
    ctx.made?.add(relSlash);
    const native = addon();
    const made = (): number => native.writeNewFile(target, body, mode, ids ? ids.uid : -1, ids ? ids.gid : -1, h.mtime);
    if (made() === EEXIST) {
      clearTarget(ctx, target, false);
      if (made() !== 0) throw new UnsafeEntryError(`entry '${h.name}' cannot be written: something appeared in its place`);
    }
    if (ids) record(ids.uid, ids.gid, crypto.hash('sha256', body));
  };
  const finish = () => {
    if (written !== h.size) throw new UnsafeEntryError(`entry '${h.name}' is shorter than its header says`);
    const st = fs.fstatSync(fd);
    let { uid, gid } = st;
    if (ids && (uid !== ids.uid || gid !== ids.gid)) {
      fs.fchownSync(fd, ids.uid, ids.gid);
      ({ uid, gid } = ids);
    }
    if ((st.mode & 0o7777) !== want) fs.fchmodSync(fd, want);
    fs.futimesSync(fd, h.mtime, h.mtime);
    record(uid, gid, hash!.digest('hex'));
  };
  return {
    whole,
    data(chunk) {
      if (fd < 0) {
        settle(ctx, rel.slice(1));
        ctx.made?.add(rel.slice(1));
        // Created with its permission bits (a new file's fd is writable whatever they say), so
        // that fchmod and fchown are needed only when special bits or owners differ.
        fd = createFile(ctx, target, mode & 0o777);
        hash = crypto.createHash('sha256');
      }
      try {
        for (let off = 0; off < chunk.length; ) off += fs.writeSync(fd, chunk, off, chunk.length - off);
      } catch (e) {
        close();
        throw e;
      }
      hash!.update(chunk);
      written += chunk.length;
    },
    end() {
      if (fd < 0) return whole(Buffer.alloc(0)); // an empty file
      try {
        finish();
      } finally {
        close();
      }
    },
    abort: close,
  };
}

/**
 * Applies one entry's header to the tree: checks it, makes what it names (parents, directory,
 * symlink, hard link) or refuses it, and returns where its body goes (a new file, the ACI's
 * manifest) or null when the body is of no use. Synchronous: a tar reader calls it in a loop.
 */
export function beginEntry(h: TarHeader, kind: 'aci' | 'oci', state: LayerState, ctx: EntryContext): EntryBody | null {
  const { limits } = ctx;
  ctx.entries++;
  if (ctx.entries > limits.maxEntries) throw new UnsafeEntryError(`more than ${limits.maxEntries} entries (raise limits.maxEntries in ~/.config/ward/config.json)`);
  if (h.name.length > limits.maxPathLength) throw new UnsafeEntryError(`entry name longer than ${limits.maxPathLength} bytes (raise limits.maxPathLength in ~/.config/ward/config.json)`);
  if (h.type === 'pax-global-header') return null; // its defaults never apply: each entry is judged by its own header
  if (kind === 'aci') {
    const all = entryComponents(h.name);
    if (all.length === 1 && all[0] === 'manifest' && h.type === 'file') return readManifest(h, ctx);
  }
  const parts = componentsOf(h.name, kind);
  if (parts === null) throw new UnsafeEntryError(`entry '${h.name}' is outside rootfs/ (an ACI holds only manifest and rootfs/)`);
  if (parts.length > limits.maxDepth) throw new UnsafeEntryError(`entry '${h.name}' is nested deeper than ${limits.maxDepth} (raise limits.maxDepth in ~/.config/ward/config.json)`);
  const ids = checkIds(h, h.name);
  const owners = ctx.owners ? ids : null;
  const chown = (p: string) => owners && fs.lchownSync(p, owners.uid, owners.gid);
  const mode = h.mode & 0o7777;
  const mtime = h.mtime;
  if (parts.length === 0) {
    if (h.type !== 'directory') throw new UnsafeEntryError(`entry '${h.name}' is the root and must be a directory`);
    chown(ctx.root);
    ctx.dirModes.push([ctx.root, owners ? mode : mode & 0o1777, mtime]);
    return null;
  }
  const base = parts[parts.length - 1]!;
  if (kind === 'oci' && base.startsWith(WHITEOUT)) {
    whiteout(ctx, state, parts, h.name);
    return null;
  }
  const dir = safeParent(ctx, state, parts, h.name);
  const target = `${dir}/${base}`;
  const rel = '/' + parts.join('/');
  state.created.add(rel);
  if (h.type !== 'file' && h.type !== 'contiguous-file') {
    settle(ctx, rel); // a file still queued there is replaced or kept below
    ctx.made?.add(rel);
  }
  switch (h.type) {
    case 'directory':
      clearTarget(ctx, target, true);
      if (lstatOrNull(target) === null) fs.mkdirSync(target, { mode: 0o700 });
      chown(target);
      ctx.dirModes.push([target, owners ? mode : mode & 0o1777, mtime]);
      return null;
    case 'file':
    case 'contiguous-file':
      ctx.bytes += h.size;
      if (ctx.bytes > limits.maxBytes) throw new UnsafeEntryError(`more than ${limits.maxBytes} bytes of files (raise limits.maxBytes in ~/.config/ward/config.json)`);
      return writeFile(ctx, target, '.' + rel, h, mode, owners);
    case 'symlink': {
      const link = h.linkname ?? '';
      if (link === '' || link.length > limits.maxPathLength || link.includes('\u0000')) throw new UnsafeEntryError(`symlink '${h.name}' has a bad target`);
      clearTarget(ctx, target, false);
      fs.symlinkSync(link, target);
      chown(target);
      if (owners) ctx.contents.set('.' + rel, { type: 'l', mode: 0o777, uid: owners.uid, gid: owners.gid, link });
      else ctx.contents.delete('.' + rel);
      return null;
    }
    case 'link': {
      const lparts = componentsOf(h.linkname ?? '', kind);
      if (lparts === null || lparts.length === 0) throw new UnsafeEntryError(`hardlink '${h.name}' points outside the tree`);
      const src = `${safeParent(ctx, state, lparts, h.name)}/${lparts[lparts.length - 1]}`;
      settle(ctx, '/' + lparts.join('/')); // its source may still be queued
      const st = lstatOrNull(src);
      if (st === null || !st.isFile()) throw new UnsafeEntryError(`hardlink '${h.name}' must point to a regular file extracted before it`);
      if (src === target) return null;
      clearTarget(ctx, target, false);
      fs.linkSync(src, target);
      const content = ctx.contents.get('./' + lparts.join('/'));
      if (content) ctx.contents.set('.' + rel, content);
      else ctx.contents.delete('.' + rel);
      return null;
    }
    case 'fifo':
      throw new UnsafeEntryError(`entry '${h.name}' is a fifo; ward does not extract fifos from images yet`);
    case 'character-device':
    case 'block-device':
      throw new UnsafeEntryError(`entry '${h.name}' is a device node; images may not carry device nodes`);
    default:
      throw new UnsafeEntryError(`entry '${h.name}' has an unsupported type '${h.type}'`);
  }
}

/** beginEntry for an entry of tar-stream's parser, its body read from the entry's stream. */
export async function applyEntry(th: tar.Header, stream: Readable, kind: 'aci' | 'oci', state: LayerState, ctx: EntryContext): Promise<void> {
  const type = (th.type as string | null) ?? 'unknown';
  const body = (th.size ?? 0) > 0 && !['link', 'symlink', 'character-device', 'block-device', 'directory', 'fifo'].includes(type);
  const h: TarHeader = {
    name: th.name, type, linkname: th.linkname ?? null, mode: th.mode ?? 0o644, uid: th.uid ?? 0, gid: th.gid ?? 0,
    size: body ? th.size ?? 0 : 0, mtime: Math.floor((th.mtime?.getTime() ?? 0) / 1000) || 0, pax: (th.pax as Record<string, string> | undefined) ?? null,
  };
  const sink = beginEntry(h, kind, state, ctx);
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      sink?.abort();
      reject(e as Error);
    };
    stream.on('data', (chunk: Buffer) => {
      if (failed) return;
      try {
        sink?.data(chunk);
      } catch (e) {
        fail(e);
      }
    });
    stream.on('end', () => {
      if (failed) return;
      try {
        sink?.end();
        resolve();
      } catch (e) {
        fail(e);
      }
    });
    stream.on('error', fail);
    stream.resume();
  });
}

/**
 * Applies the directory modes and times recorded while extracting, deepest first, once every
 * layer is in (a 0555 directory must stay fillable until then); for a directory named by several
 * layers, the last one's. Through an fd opened without
 * following a symlink: a later layer may have replaced a directory by a symlink or a file, and
 * its mode must then not land on whatever that names.
 */
export function applyDirModes(ctx: EntryContext): void {
  const flags = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;
  // A directory a later layer names again is recorded again: that record (met first here) wins.
  const done = new Set<string>();
  for (const [p, mode, mtime] of ctx.dirModes.reverse()) {
    if (done.has(p)) continue;
    done.add(p);
    let fd: number;
    try {
      fd = fs.openSync(p, flags);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') continue; // removed or replaced by a later layer
      throw e;
    }
    try {
      fs.fchmodSync(fd, mode);
      fs.futimesSync(fd, mtime, mtime);
    } finally {
      fs.closeSync(fd);
    }
  }
}
