// Opening an archive the user named (oci-archive, docker-archive). Members are read in place by
// offset, which needs a seekable file; a pipe or a device is first spooled into the user's store
// tmp (bounded), and the spool is unlinked as soon as it is open so nothing is left behind even
// by a kill -9 after that point.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ImageSourceError } from '../source';

export interface ArchiveFile {
  fd: number;
  size: number;
  /** Bytes [start, end) of the archive, by positioned reads; several may run at once. */
  stream(start: number, end: number, what: string): Readable;
  /** Closes the fd once no read is in flight (a reused fd number must never be read by mistake). */
  close(): void;
}

export interface ArchiveOptions {
  /** Where a non-seekable archive may be spooled (the user's store tmp); without it, such input is refused. */
  spoolDir?: string;
  /** Largest archive spooled (default 64 GiB). */
  maxSpoolBytes?: number;
}

export function openArchive(file: string, what: string, o: ArchiveOptions = {}): ArchiveFile {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImageSourceError(code === 'ENOENT' ? 'ENOTFOUND' : 'EIMAGE', `cannot open ${what}: ${code}; check the path and its permissions`);
  }
  const st = fs.fstatSync(fd);
  if (st.isDirectory()) {
    fs.closeSync(fd);
    throw new ImageSourceError('EIMAGE', `${what} is a directory, not an archive (for an OCI layout directory use oci:${file})`);
  }
  if (st.isFile()) return closable(fd, st.size);
  try {
    if (!o.spoolDir) throw new ImageSourceError('EIMAGE', `${what} is not a regular file and there is no store tmp to spool it to`);
    return spool(fd, o.spoolDir, o.maxSpoolBytes ?? 64 * 1024 ** 3, what);
  } finally {
    fs.closeSync(fd);
  }
}

function closable(fd: number, size: number): ArchiveFile {
  let closing = false;
  let closed = false;
  let inFlight = 0;
  const settle = () => {
    if (closing && !closed && inFlight === 0) {
      closed = true;
      fs.closeSync(fd);
    }
  };
  return {
    fd,
    size,
    stream(start, end, what) {
      let pos = start;
      return new Readable({
        highWaterMark: 1 << 20,
        read() {
          const n = Math.min(1 << 20, end - pos);
          if (n <= 0) return void this.push(null);
          if (closing) return void this.destroy(new ImageSourceError('EIMAGE', `${what}: the archive was closed while it was being read`));
          const buf = Buffer.allocUnsafe(n);
          inFlight++;
          fs.read(fd, buf, 0, n, pos, (err, got) => {
            inFlight--;
            settle();
            if (err) return void this.destroy(err);
            if (got === 0) return void this.destroy(new ImageSourceError('EIMAGE', `${what} is truncated`));
            pos += got;
            this.push(buf.subarray(0, got));
          });
        },
      });
    },
    close() {
      closing = true;
      settle();
    },
  };
}

function spool(src: number, dir: string, max: number, what: string): ArchiveFile {
  const file = path.join(dir, `spool-${crypto.randomBytes(8).toString('hex')}`);
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  fs.unlinkSync(file);
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let size = 0;
    for (;;) {
      const n = fs.readSync(src, buf, 0, buf.length, null);
      if (n === 0) break;
      size += n;
      if (size > max) throw new ImageSourceError('ELIMIT', `${what} is larger than ${max} bytes, the most ward spools from a pipe; save it to a file first`);
      fs.writeSync(fd, buf, 0, n);
    }
    return closable(fd, size);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}
