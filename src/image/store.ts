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
