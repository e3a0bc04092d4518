// Applying one tar entry of a hostile layer to the tree, inside the extractor's user namespace.
// No path is ever followed through a symlink: every parent is checked to be a real directory,
// names with ".." or absolute names are refused, whiteouts remove only inside the tree.
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import type tar from 'tar-stream';
import type { ExtractLimits } from './limits';
import type { KnownContent } from './tree-digest';
import crypto from 'node:crypto';
import { entryComponents, rootfsComponents, UnsafeEntryError } from './tar-paths';

export { UnsafeEntryError };

export interface EntryContext {
  /** The tree's root, e.g. /proc/self/fd/3/rootfs. */
  root: string;
  limits: ExtractLimits;
  entries: number;
  bytes: number;
  manifest: Buffer | null;
  /** Directory modes applied after all layers, deepest first. */
  dirModes: [string, number, Date][];
  /** Content hashes of the files written, by "./relative/path", for the tree digest. */
  contents: Map<string, KnownContent>;
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
    const st = lstatOrNull(p);
    if (st === null) {
      fs.mkdirSync(p, { mode: 0o755 });
      state.created.add(rel);
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
  ctx.dirs?.clear();
  fs.rmSync(p, { recursive: true, force: true });
}

function checkIds(h: tar.Header, entry: string): { uid: number; gid: number } {
  const uid = h.uid ?? 0;
  const gid = h.gid ?? 0;
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid < 0 || gid < 0 || uid > 65535 || gid > 65535) {
    throw new UnsafeEntryError(`entry '${entry}' is owned by ${uid}:${gid}, outside the ids a pod maps (0-65535)`);
  }
  return { uid, gid };
}

function drain(stream: Readable): Promise<void> {
  return new Promise((res, rej) => {
    stream.on('end', res);
    stream.on('error', rej);
    stream.resume();
  });
}

function componentsOf(name: string, kind: 'aci' | 'oci'): string[] | null {
  return kind === 'aci' ? rootfsComponents(name) : entryComponents(name);
}

async function readManifest(h: tar.Header, stream: Readable, ctx: EntryContext): Promise<void> {
  if ((h.size ?? 0) > ctx.limits.maxManifestBytes) throw new UnsafeEntryError(`manifest larger than ${ctx.limits.maxManifestBytes} bytes (raise limits.maxManifestBytes in ~/.config/ward/config.json)`);
  const parts: Buffer[] = [];
  stream.on('data', (c) => parts.push(c as Buffer));
  await drain(stream);
  ctx.manifest = Buffer.concat(parts);
}

function whiteout(ctx: EntryContext, state: LayerState, parts: string[], entry: string): void {
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

async function writeFile(ctx: EntryContext, target: string, h: tar.Header, stream: Readable, mode: number, ids: { uid: number; gid: number } | null): Promise<KnownContent> {
  // Created with its permission bits (a new file's fd is writable whatever they say), so that
  // fchmod and fchown are needed only when the umask, special bits or owners differ.
  const fd = createFile(ctx, target, mode & 0o777);
  const hash = crypto.createHash('sha256');
  try {
    let written = 0;
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      stream.on('data', (chunk: Buffer) => {
        if (failed) return;
        try {
          fs.writeSync(fd, chunk);
          hash.update(chunk);
          written += chunk.length;
        } catch (e) {
          failed = true;
          reject(e as Error);
        }
      });
      stream.on('end', () => resolve());
      stream.on('error', (e) => {
        failed = true;
        reject(e);
      });
    });
    if (written !== (h.size ?? 0)) throw new UnsafeEntryError(`entry '${h.name}' is shorter than its header says`);
    const st = fs.fstatSync(fd);
    if (ids && (st.uid !== ids.uid || st.gid !== ids.gid)) fs.fchownSync(fd, ids.uid, ids.gid);
    const want = ids ? mode : mode & 0o1777;
    if ((st.mode & 0o7777) !== want) fs.fchmodSync(fd, want);
    const mtime = h.mtime ?? new Date(0);
    fs.futimesSync(fd, mtime, mtime);
    return { size: written, sha256: hash.digest('hex') };
  } finally {
    fs.closeSync(fd);
  }
}

export async function applyEntry(h: tar.Header, stream: Readable, kind: 'aci' | 'oci', state: LayerState, ctx: EntryContext): Promise<void> {
  const { limits } = ctx;
  ctx.entries++;
  if (ctx.entries > limits.maxEntries) throw new UnsafeEntryError(`more than ${limits.maxEntries} entries (raise limits.maxEntries in ~/.config/ward/config.json)`);
  if (h.name.length > limits.maxPathLength) throw new UnsafeEntryError(`entry name longer than ${limits.maxPathLength} bytes (raise limits.maxPathLength in ~/.config/ward/config.json)`);
  if ((h.type as string) === 'pax-global-header') return drain(stream); // its defaults never apply: each entry is judged by its own header
  if (kind === 'aci') {
    const all = entryComponents(h.name);
    if (all.length === 1 && all[0] === 'manifest' && h.type === 'file') return readManifest(h, stream, ctx);
  }
  const parts = componentsOf(h.name, kind);
  if (parts === null) throw new UnsafeEntryError(`entry '${h.name}' is outside rootfs/ (an ACI holds only manifest and rootfs/)`);
  if (parts.length > limits.maxDepth) throw new UnsafeEntryError(`entry '${h.name}' is nested deeper than ${limits.maxDepth} (raise limits.maxDepth in ~/.config/ward/config.json)`);
  const ids = checkIds(h, h.name);
  const owners = ctx.owners ? ids : null;
  const chown = (p: string) => owners && fs.lchownSync(p, owners.uid, owners.gid);
  const mode = (h.mode ?? 0o644) & 0o7777;
  const mtime = h.mtime ?? new Date(0);
  if (parts.length === 0) {
    if (h.type !== 'directory') throw new UnsafeEntryError(`entry '${h.name}' is the root and must be a directory`);
    chown(ctx.root);
    ctx.dirModes.push([ctx.root, owners ? mode : mode & 0o1777, mtime]);
    return drain(stream);
  }
  const base = parts[parts.length - 1]!;
  if (kind === 'oci' && base.startsWith(WHITEOUT)) {
    whiteout(ctx, state, parts, h.name);
    return drain(stream);
  }
  const dir = safeParent(ctx, state, parts, h.name);
  const target = `${dir}/${base}`;
  state.created.add('/' + parts.join('/'));
  switch (h.type) {
    case 'directory':
      clearTarget(ctx, target, true);
      if (lstatOrNull(target) === null) fs.mkdirSync(target, { mode: 0o700 });
      chown(target);
      ctx.dirModes.push([target, owners ? mode : mode & 0o1777, mtime]);
      return drain(stream);
    case 'file':
    case 'contiguous-file':
      ctx.bytes += h.size ?? 0;
      if (ctx.bytes > limits.maxBytes) throw new UnsafeEntryError(`more than ${limits.maxBytes} bytes of files (raise limits.maxBytes in ~/.config/ward/config.json)`);
      ctx.contents.set('./' + parts.join('/'), await writeFile(ctx, target, h, stream, mode, owners));
      return;
    case 'symlink': {
      const link = h.linkname ?? '';
      if (link === '' || link.length > limits.maxPathLength || link.includes('\u0000')) throw new UnsafeEntryError(`symlink '${h.name}' has a bad target`);
      clearTarget(ctx, target, false);
      fs.symlinkSync(link, target);
      chown(target);
      return drain(stream);
    }
    case 'link': {
      const lparts = componentsOf(h.linkname ?? '', kind);
      if (lparts === null || lparts.length === 0) throw new UnsafeEntryError(`hardlink '${h.name}' points outside the tree`);
      const src = `${safeParent(ctx, state, lparts, h.name)}/${lparts[lparts.length - 1]}`;
      const st = lstatOrNull(src);
      if (st === null || !st.isFile()) throw new UnsafeEntryError(`hardlink '${h.name}' must point to a regular file extracted before it`);
      if (src === target) return drain(stream);
      clearTarget(ctx, target, false);
      fs.linkSync(src, target);
      const content = ctx.contents.get('./' + lparts.join('/'));
      if (content) ctx.contents.set('./' + parts.join('/'), content);
      return drain(stream);
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
