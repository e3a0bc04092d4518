// oci:DIR[:REF], an OCI image layout on disk. The layout is hostile: a blob path is built only
// from a validated digest, and nothing inside the layout is reached through a symlink. Each
// parent (blobs/, blobs/<alg>/) must be a real directory, the file itself is opened O_NOFOLLOW
// (and O_NONBLOCK, so a FIFO planted as a blob cannot hang us) and must be a regular file, and
// the path the kernel reports for the open fd must be the one we built: a parent swapped for a
// symlink between those checks would show there.
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Digest } from '../../schema/oci';
import { ImageSourceError, type ResolvedImage } from '../source';
import { resolveLayout, type LayoutReader } from './resolve-layout';
import type { WantedPlatform } from './select';

const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

export class LayoutDir implements LayoutReader {
  private readonly root: string;

  constructor(dir: string, readonly what: string) {
    // The directory the user named may itself be reached through symlinks: that is their choice.
    let st: fs.Stats;
    try {
      this.root = fs.realpathSync(dir);
      st = fs.statSync(this.root);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new ImageSourceError(code === 'ENOENT' ? 'ENOTFOUND' : 'EIMAGE', `cannot open ${what}: ${code}; check the path and its permissions`);
    }
    if (!st.isDirectory()) throw new ImageSourceError('EIMAGE', `${what} is not a directory (for an archive use oci-archive:${dir})`);
  }

  /** Opens root/parts... as described above; returns the fd of a regular file. */
  private open(parts: string[], label: string): number {
    let p = this.root;
    for (const dir of parts.slice(0, -1)) {
      p = path.join(p, dir);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(p);
      } catch {
        throw new ImageSourceError('ENOTFOUND', `${this.what} has no ${label} (no ${dir}/ directory); the layout is incomplete`);
      }
      if (!st.isDirectory()) throw new ImageSourceError('EIMAGE', `${this.what}: ${path.relative(this.root, p)} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}; a layout's directories must be real directories inside it (the layout is corrupt or hostile)`);
    }
    const file = path.join(p, parts[parts.length - 1]!);
    let fd: number;
    try {
      fd = fs.openSync(file, OPEN_FLAGS);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new ImageSourceError('ENOTFOUND', `${this.what} has no ${label}; the layout is incomplete`);
      if (code === 'ELOOP') throw new ImageSourceError('EIMAGE', `${this.what}: ${label} is a symlink; a layout's files must be regular files inside it (the layout is corrupt or hostile)`);
      throw new ImageSourceError('EIMAGE', `${this.what}: cannot open ${label}: ${code}`);
    }
    try {
      if (!fs.fstatSync(fd).isFile()) throw new ImageSourceError('EIMAGE', `${this.what}: ${label} is not a regular file; the layout is corrupt or hostile`);
      const real = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (real !== file) throw new ImageSourceError('EIMAGE', `${this.what}: ${label} resolved to ${real}, outside the layout; the layout is hostile`);
      return fd;
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  private blobParts(digest: string): string[] {
    // The digest becomes a path: only the exact shape sha256:<64 hex> / sha512:<128 hex> is used.
    if (!Digest.safeParse(digest).success) throw new ImageSourceError('EIMAGE', `${this.what}: '${digest.slice(0, 80)}' is not a valid digest`);
    const [alg, hex] = digest.split(':') as [string, string];
    return ['blobs', alg, hex];
  }

  private readFd(fd: number, max: number, label: string): Buffer {
    try {
      const size = fs.fstatSync(fd).size;
      if (size > max) throw new ImageSourceError('ELIMIT', `${this.what}: ${label} is ${size} bytes, more than the ${max} ward reads; the layout is hostile`);
      const buf = Buffer.alloc(size);
      let got = 0;
      while (got < size) {
        const n = fs.readSync(fd, buf, got, size - got, got);
        if (n === 0) break;
        got += n;
      }
      return buf.subarray(0, got);
    } finally {
      fs.closeSync(fd);
    }
  }

  readFile(name: 'oci-layout' | 'index.json', max: number): Buffer {
    return this.readFd(this.open([name], name), max, name);
  }

  blobSize(digest: string): number {
    const fd = this.open(this.blobParts(digest), `blob ${digest}`);
    try {
      return fs.fstatSync(fd).size;
    } finally {
      fs.closeSync(fd);
    }
  }

  readBlob(digest: string, max: number): Buffer {
    return this.readFd(this.open(this.blobParts(digest), `blob ${digest}`), max, `blob ${digest}`);
  }

  openBlob(digest: string, start: number, end: number): Readable {
    const fd = this.open(this.blobParts(digest), `blob ${digest}`);
    if (end <= start) {
      fs.closeSync(fd);
      return Readable.from([]);
    }
    return fs.createReadStream('', { fd, start, end: end - 1, autoClose: true, highWaterMark: 1 << 20 });
  }

  async close(): Promise<void> {
    // Every fd is closed as soon as its read is done: nothing is held between reads.
  }
}

export async function openOciLayout(dir: string, ref: string | undefined, o: { platform?: WantedPlatform } = {}): Promise<ResolvedImage> {
  const location = path.resolve(dir);
  const reader = new LayoutDir(dir, `oci:${location}`);
  return resolveLayout(reader, ref, { transport: 'oci', location, ...(o.platform ? { platform: o.platform } : {}) });
}
