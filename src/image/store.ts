// The user's store (--dir, default ~/.local/share/ward): images by digest, each with the sealed
// tree the helper made of it. Writes are temp file + rename, so a kill -9 leaves either the old
// or the new record, never half of one.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WardError } from './errors';

export interface ImageRecord {
  id: string;
  name: string;
  manifest: unknown;
  tree: string;
  source: string;
  importedAt: string;
}

export function defaultStoreDir(): string {
  const base = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(base, 'ward');
}

export class Store {
  readonly images: string;
  readonly tmp: string;

  constructor(readonly root: string) {
    this.images = path.join(root, 'images');
    this.tmp = path.join(root, 'tmp');
  }

  init(): void {
    for (const d of [this.root, this.images, this.tmp]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  }

  private recordPath(id: string): string {
    if (!/^(sha512-[0-9a-f]{128}|sha256:[0-9a-f]{64})$/.test(id)) throw new Error(`bad image id ${id}`);
    return path.join(this.images, `${id.replace(':', '-')}.json`);
  }

  get(id: string): ImageRecord | null {
    try {
      return JSON.parse(fs.readFileSync(this.recordPath(id), 'utf8')) as ImageRecord;
    } catch {
      return null;
    }
  }

  put(rec: ImageRecord): void {
    const file = this.recordPath(rec.id);
    const tmp = `${file}.${crypto.randomBytes(6).toString('hex')}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(rec, null, 1), { mode: 0o600 });
    fs.renameSync(tmp, file);
  }

  /** The key under which a file's id is remembered: its identity and every change time. */
  statKey(file: string): string | null {
    try {
      const st = fs.statSync(file, { bigint: true });
      if (!st.isFile()) return null;
      return crypto.createHash('sha256').update(`${path.resolve(file)}\0${st.dev}\0${st.ino}\0${st.size}\0${st.mtimeNs}\0${st.ctimeNs}`).digest('hex');
    } catch {
      return null;
    }
  }

  /**
   * The sha512 id of a file hashed before, if it has not changed since (ctime cannot be set back
   * by its owner). Saves re-hashing an image on every run; the helper seals what it gets anyway.
   */
  idForKey(key: string | null): string | null {
    if (!key) return null;
    try {
      const id = fs.readFileSync(path.join(this.root, 'ids', key), 'utf8');
      return /^sha512-[0-9a-f]{128}$/.test(id) ? id : null;
    } catch {
      return null;
    }
  }

  /** key must be taken before the file was read, so a change while reading is never remembered. */
  rememberId(key: string | null, id: string): void {
    if (!key) return;
    const dir = path.join(this.root, 'ids');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(dir, `${key}.${crypto.randomBytes(6).toString('hex')}.tmp`);
    fs.writeFileSync(tmp, id, { mode: 0o600 });
    fs.renameSync(tmp, path.join(dir, key));
  }

  /** A fresh staging dir for one extraction (removed by the caller). */
  stagingDir(): string {
    return fs.mkdtempSync(path.join(this.tmp, 'x-'));
  }
}

/** sha512 of a file, as appc image ids are. */
export function fileId(file: string): string {
  const h = crypto.createHash('sha512');
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new WardError('EIMAGE', `cannot open image ${file}: ${(e as NodeJS.ErrnoException).code}; check the path and its permissions`);
  }
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return `sha512-${h.digest('hex')}`;
}
