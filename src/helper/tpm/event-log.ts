// The event log file (STATE/tpm/events.log, JSON-SEQ) and its pending marker
// (STATE/tpm/events.pending). A writer takes the flock, writes the marker (what it is about to
// extend), extends, appends the record, removes the marker. A marker found later means a writer
// died in between; the helper then tells from the TPM's value whether the extend happened.
import fs from 'node:fs';
import path from 'node:path';
import { addon } from '../../native/addon';
import { PendingMarker } from '../../schema/tpm-log';

const LOCK_POLL_MS = 2;
const LOCK_TIMEOUT_MS = 10_000;
const { O_RDWR, O_APPEND, O_CREAT, O_NOFOLLOW, O_WRONLY, O_TRUNC } = fs.constants;

export class EventLog {
  readonly file: string;
  readonly markerFile: string;
  private fd = -1;

  constructor(readonly dir: string) {
    this.file = path.join(dir, 'events.log');
    this.markerFile = path.join(dir, 'events.pending');
  }

  open(): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(this.dir, 0o700);
    this.fd = fs.openSync(this.file, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW, 0o600);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  /**
   * Takes the exclusive flock without blocking the event loop: another process holding it (a
   * second helper on the same state dir) is polled for, up to a bound.
   */
  async lock(): Promise<void> {
    const deadline = Date.now() + LOCK_TIMEOUT_MS;
    while (!addon().flock(this.fd, 'exclusive', false)) {
      if (Date.now() > deadline) throw new Error(`the event log ${this.file} stayed locked for ${LOCK_TIMEOUT_MS} ms`);
      await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
    }
  }

  unlock(): void {
    addon().flock(this.fd, 'unlock', false);
  }

  size(): number {
    return fs.fstatSync(this.fd).size;
  }

  read(): string {
    const size = this.size();
    const buf = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      const n = fs.readSync(this.fd, buf, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    return buf.subarray(0, done).toString('utf8');
  }

  /** Appends whole; durable: fdatasync before returning. */
  append(text: string, durable: boolean): void {
    const bytes = Buffer.from(text);
    const n = fs.writeSync(this.fd, bytes);
    if (n !== bytes.length) throw new Error(`short write to ${this.file} (${n} of ${bytes.length} bytes)`);
    if (durable) fs.fdatasyncSync(this.fd);
  }

  /** Cuts a record a dead writer left half-written (the marker still describes its event). */
  truncate(size: number): void {
    fs.ftruncateSync(this.fd, size);
  }

  writeMarker(m: PendingMarker, durable: boolean): void {
    const fd = fs.openSync(this.markerFile, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o600);
    try {
      const bytes = Buffer.from(JSON.stringify(m));
      if (fs.writeSync(fd, bytes) !== bytes.length) throw new Error(`short write to ${this.markerFile}`);
      if (durable) fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** The marker, or null; a marker that cannot be read is reported as such (never silently dropped). */
  readMarker(): PendingMarker | 'unreadable' | null {
    let text: string;
    try {
      text = fs.readFileSync(this.markerFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    try {
      return PendingMarker.parse(JSON.parse(text));
    } catch {
      return 'unreadable';
    }
  }

  clearMarker(): void {
    fs.rmSync(this.markerFile, { force: true });
  }

  /** Moves the log aside (the TPM target was reset) and starts an empty one; returns where it went. */
  archive(): string {
    const dest = path.join(this.dir, `events-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
    fs.renameSync(this.file, dest);
    this.close();
    this.open();
    // The caller holds the lock for the whole section: it must hold the new file's too.
    if (!addon().flock(this.fd, 'exclusive', false)) throw new Error(`the new event log ${this.file} is locked by another process`);
    return dest;
  }
}
