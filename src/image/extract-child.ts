// The extractor: runs as root of the caller's own user namespace (container ids 0..65535 mapped
// to the caller's subordinate range by newuidmap), never with host privilege. Reads an ACI on
// stdin, writes manifest + rootfs/ under the staging dir passed as fd 3, reports on stdout:
// {"id":"sha512-…","manifest":"<base64>"} or {"error":"…"}. Then waits for "remove" on fd 4
// to delete the tree (only this namespace can: the files belong to the subordinate range).
import crypto from 'node:crypto';
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Transform, Writable } from 'node:stream';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { DEFAULT_LIMITS } from './limits';
import { rootfsComponents, entryComponents, UnsafeEntryError } from './tar-paths';

const TOP = '/proc/self/fd/3';
const ROOT = `${TOP}/rootfs`;
const limits = DEFAULT_LIMITS;

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Makes sure every parent of parts exists as a real directory (never a symlink) and returns the path. */
function safeParent(parts: string[], entry: string): string {
  let p = ROOT;
  for (const c of parts.slice(0, -1)) {
    p += '/' + c;
    const st = lstatOrNull(p);
    if (st === null) fs.mkdirSync(p, { mode: 0o755 });
    else if (st.isSymbolicLink()) throw new UnsafeEntryError(`entry '${entry}' goes through the symlink '${p.slice(ROOT.length)}'`);
    else if (!st.isDirectory()) throw new UnsafeEntryError(`entry '${entry}' goes through '${p.slice(ROOT.length)}', which is not a directory`);
  }
  return p;
}

function clearTarget(p: string, keepDir: boolean): void {
  const st = lstatOrNull(p);
  if (st === null) return;
  if (st.isDirectory() && keepDir) return;
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

function decompressor(first: Buffer): Transform | null {
  if (first[0] === 0x1f && first[1] === 0x8b) return zlib.createGunzip();
  if (first.length >= 262 && first.subarray(257, 262).toString('latin1') === 'ustar') return null;
  if (first[0] === 0x28 && first[1] === 0xb5 && first[2] === 0x2f && first[3] === 0xfd) throw new UnsafeEntryError('zstd-compressed ACIs are not supported yet; recompress with gzip');
  if (first[0] === 0xfd && first.subarray(1, 6).toString('latin1') === '7zXZ\u0000') throw new UnsafeEntryError('xz-compressed ACIs are not supported yet; recompress with gzip');
  if (first.subarray(0, 3).toString('latin1') === 'BZh') throw new UnsafeEntryError('bzip2-compressed ACIs are not supported yet; recompress with gzip');
  throw new UnsafeEntryError('the file is not an ACI (neither a tar nor a gzip-compressed tar)');
}

/** The first bytes of stdin, for the magic; the stream that follows starts after them. */
function peek(): Buffer {
  const buf = Buffer.alloc(512);
  let n = 0;
  while (n < buf.length) {
    const r = fs.readSync(0, buf, n, buf.length - n, null);
    if (r === 0) break;
    n += r;
  }
  return buf.subarray(0, n);
}

async function extract(): Promise<{ id: string; manifest: Buffer }> {
  const hash = crypto.createHash('sha512');
  const head = peek();
  const input = fs.createReadStream('', { fd: 0, highWaterMark: 1 << 20 });
  const gunzip = decompressor(head);
  const tee = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  const parser = tar.extract();
  let manifest: Buffer | null = null;
  let entries = 0;
  let bytes = 0;
  fs.mkdirSync(ROOT, { mode: 0o755 });
  const dirModes: [string, number, Date][] = [];

  parser.on('entry', (h, stream, next) => {
    // Once the parser is torn down by a refusal, the entry stream errors too: that is expected.
    stream.on('error', () => undefined);
    const fail = (e: unknown) => {
      stream.resume();
      next(e as Error);
    };
    try {
      entries++;
      if (entries > limits.maxEntries) throw new UnsafeEntryError(`more than ${limits.maxEntries} entries`);
      if (h.name.length > limits.maxPathLength) throw new UnsafeEntryError(`entry name longer than ${limits.maxPathLength} bytes`);
      const all = entryComponents(h.name);
      if (all.length === 1 && all[0] === 'manifest' && h.type === 'file') {
        if ((h.size ?? 0) > limits.maxManifestBytes) throw new UnsafeEntryError(`manifest larger than ${limits.maxManifestBytes} bytes`);
        const parts: Buffer[] = [];
        stream.on('data', (c) => parts.push(c as Buffer));
        stream.on('end', () => {
          manifest = Buffer.concat(parts);
          next();
        });
        return;
      }
      const parts = rootfsComponents(h.name);
      if (parts === null) throw new UnsafeEntryError(`entry '${h.name}' is outside rootfs/ (an ACI holds only manifest and rootfs/)`);
      if (parts.length > limits.maxDepth) throw new UnsafeEntryError(`entry '${h.name}' is nested deeper than ${limits.maxDepth}`);
      const { uid, gid } = checkIds(h, h.name);
      const mode = (h.mode ?? 0o644) & 0o7777;
      const mtime = h.mtime ?? new Date(0);
      if (parts.length === 0) {
        if (h.type !== 'directory') throw new UnsafeEntryError(`entry '${h.name}' must be a directory`);
        fs.lchownSync(ROOT, uid, gid);
        dirModes.push([ROOT, mode, mtime]);
        stream.resume();
        stream.on('end', () => next());
        return;
      }
      const dir = safeParent(parts, h.name);
      const target = `${dir}/${parts[parts.length - 1]}`;
      switch (h.type) {
        case 'directory': {
          clearTarget(target, true);
          if (lstatOrNull(target) === null) fs.mkdirSync(target, { mode: 0o700 });
          fs.lchownSync(target, uid, gid);
          dirModes.push([target, mode, mtime]);
          break;
        }
        case 'file': {
          bytes += h.size ?? 0;
          if (bytes > limits.maxBytes) throw new UnsafeEntryError(`more than ${limits.maxBytes} bytes of files`);
          clearTarget(target, false);
          const fd = fs.openSync(target, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
          let written = 0;
          const out = new Writable({
            write(chunk: Buffer, _e, cb) {
              try {
                fs.writeSync(fd, chunk);
                written += chunk.length;
                cb();
              } catch (e) {
                cb(e as Error);
              }
            },
          });
          stream.pipe(out);
          out.on('error', (e) => next(e));
          out.on('finish', () => {
            try {
              if (written !== (h.size ?? 0)) throw new UnsafeEntryError(`entry '${h.name}' is shorter than its header says`);
              fs.fchownSync(fd, uid, gid);
              fs.fchmodSync(fd, mode);
              fs.futimesSync(fd, mtime, mtime);
              fs.closeSync(fd);
              next();
            } catch (e) {
              next(e as Error);
            }
          });
          return;
        }
        case 'symlink': {
          const link = h.linkname ?? '';
          if (link === '' || link.length > limits.maxPathLength || link.includes('\u0000')) throw new UnsafeEntryError(`symlink '${h.name}' has a bad target`);
          clearTarget(target, false);
          fs.symlinkSync(link, target);
          fs.lchownSync(target, uid, gid);
          break;
        }
        case 'link': {
          const lparts = rootfsComponents(h.linkname ?? '');
          if (lparts === null || lparts.length === 0) throw new UnsafeEntryError(`hardlink '${h.name}' points outside rootfs/`);
          const src = `${safeParent(lparts, h.name)}/${lparts[lparts.length - 1]}`;
          const st = lstatOrNull(src);
          if (st === null || !st.isFile()) throw new UnsafeEntryError(`hardlink '${h.name}' must point to a regular file extracted before it`);
          clearTarget(target, false);
          fs.linkSync(src, target);
          break;
        }
        case 'fifo': {
          throw new UnsafeEntryError(`entry '${h.name}' is a fifo; ward does not extract fifos from images yet`);
        }
        case 'pax-global-header' as string:
          break; // its defaults never apply: every entry is judged by its own header
        case 'character-device':
        case 'block-device':
          throw new UnsafeEntryError(`entry '${h.name}' is a device node; images may not carry device nodes`);
        default:
          throw new UnsafeEntryError(`entry '${h.name}' has an unsupported type '${h.type}'`);
      }
      stream.resume();
      stream.on('end', () => next());
    } catch (e) {
      fail(e);
    }
  });

  const source = async function* () {
    yield head;
    for await (const c of input) yield c as Buffer;
  };
  const stages: (NodeJS.ReadableStream | NodeJS.WritableStream | NodeJS.ReadWriteStream)[] = [];
  if (gunzip) stages.push(gunzip);
  await pipeline(source, tee, ...(stages as [Transform]), parser);
  // Directory modes last: a 0555 directory must still be fillable while extracting.
  for (const [p, mode, mtime] of dirModes.reverse()) {
    fs.chmodSync(p, mode);
    fs.utimesSync(p, mtime, mtime);
  }
  if (manifest === null) throw new UnsafeEntryError('the ACI has no manifest');
  return { id: `sha512-${hash.digest('hex')}`, manifest };
}

async function waitForRemove(): Promise<void> {
  const ctl = fs.createReadStream('', { fd: 4 });
  for await (const chunk of ctl) {
    if (String(chunk).includes('remove')) break;
  }
  fs.rmSync(ROOT, { recursive: true, force: true });
}

let reported = false;
function report(msg: object): void {
  if (reported) return;
  reported = true;
  process.stdout.write(JSON.stringify(msg) + '\n');
}

async function main(): Promise<void> {
  if (process.argv[2] === '--remove') {
    // Recovery: an extractor that died left a tree only this namespace can remove.
    fs.rmSync(ROOT, { recursive: true, force: true });
    return;
  }
  // Whatever goes wrong, the parent gets one answer and the tree is removed on request.
  process.on('uncaughtException', (e) => {
    report({ error: e instanceof UnsafeEntryError ? e.message : `extraction failed: ${e.message}` });
  });
  try {
    const res = await extract();
    report({ id: res.id, manifest: res.manifest.toString('base64') });
  } catch (e) {
    report({ error: e instanceof UnsafeEntryError ? e.message : `extraction failed: ${(e as Error).message}` });
  }
  await waitForRemove();
}

void main();
